"""Which implementation serves which type.

Types resolve the way SQLAlchemy resolves dialects: a name maps to an import
path ("module:Class") that is imported on first use only. In-process
registrations (``@unifydb.register``) come first, then the built-ins of
:mod:`unifydb.catalog`, then the ``unifydb.datasources`` entry-point group of
installed packages. Listing names imports no implementation.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from typing import TYPE_CHECKING, Any

from unifydb.catalog import BUILTIN, TypeInfo, canonical
from unifydb.errors import UnknownTypeError

if TYPE_CHECKING:
    from unifydb.base import Datasource

ENTRY_POINT_GROUP = "unifydb.datasources"

_registered: dict[str, Any] = {}
_loaded: dict[str, type[Datasource[Any]]] = {}
_entry_points: dict[str, Any] | None = None
_types_lock = threading.Lock()


def register(type_name: str, implementation: Any = None) -> Any:
    """Register an implementation for ``type_name`` in this process.

    Use as a decorator (``@unifydb.register("duckdb")``) or a call with a class
    or a ``"module:Class"`` string. Registrations override built-ins.
    """
    key = type_name.lower()

    def apply(target: Any) -> Any:
        with _types_lock:
            _registered[key] = target
            _loaded.pop(key, None)
        if isinstance(target, type) and not getattr(target, "type_name", ""):
            target.type_name = key  # type: ignore[attr-defined]
        return target

    if implementation is not None:
        return apply(implementation)
    return apply


def unregister(type_name: str) -> None:
    with _types_lock:
        _registered.pop(type_name.lower(), None)
        _loaded.pop(type_name.lower(), None)


def _plugin_entry_points() -> dict[str, Any]:
    global _entry_points
    if _entry_points is None:
        from importlib.metadata import entry_points

        found: dict[str, Any] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(point.name.lower(), point)
        _entry_points = found
    return _entry_points


def canonical_type(type_name: str) -> str:
    return canonical(type_name)


def available_types() -> list[str]:
    """Every type name that can be used, without importing any implementation."""
    names = set(_registered) | set(BUILTIN) | set(_plugin_entry_points())
    return sorted(names)


def is_known_type(type_name: str) -> bool:
    key = canonical_type(type_name)
    return key in _registered or key in BUILTIN or key in _plugin_entry_points()


def load_type(type_name: str, *, datasource: str | None = None) -> type[Datasource[Any]]:
    """The implementation class for ``type_name``, imported now if it was not yet."""
    key = canonical_type(type_name)
    cls = _loaded.get(key)
    if cls is not None:
        return cls
    target: Any
    if key in _registered:
        target = _registered[key]
    elif key in BUILTIN:
        target = BUILTIN[key].implementation
    elif key in _plugin_entry_points():
        target = _plugin_entry_points()[key]
    else:
        close = difflib.get_close_matches(key, available_types(), n=1)
        raise UnknownTypeError(
            f"unknown datasource type {type_name!r}",
            datasource=datasource,
            key="type",
            fix=(f"did you mean {close[0]!r}? " if close else "")
            + f"known types: {', '.join(available_types())}; "
            "a plugin package registers more through the 'unifydb.datasources' entry points",
        )
    cls = _import_target(target, key, datasource)
    with _types_lock:
        _loaded[key] = cls
    return cls


def _import_target(target: Any, key: str, datasource: str | None) -> type[Datasource[Any]]:
    from unifydb.base import Datasource

    if isinstance(target, type):
        loaded: Any = target
    elif isinstance(target, str):
        module_name, _, attribute = target.partition(":")
        loaded = getattr(importlib.import_module(module_name), attribute)
    else:  # an importlib.metadata.EntryPoint
        try:
            loaded = target.load()
        except Exception as error:
            raise UnknownTypeError(
                f"the plugin for type {key!r} ({target.value}) failed to import: {error}",
                datasource=datasource,
                key="type",
                fix="reinstall the package that provides it",
            ) from error
    if not (isinstance(loaded, type) and issubclass(loaded, Datasource)):
        raise UnknownTypeError(
            f"{target!r} registered for type {key!r} is not a unifydb Datasource subclass",
            datasource=datasource,
            key="type",
            fix="subclass unifydb.base.Datasource (or SQLDatasource)",
        )
    return loaded


def type_info(type_name: str) -> TypeInfo | None:
    """What the catalog says about a built-in type (None: registered in-process or a
    plugin, whose class must be imported to tell)."""
    key = canonical_type(type_name)
    if key in _registered:
        return None
    return BUILTIN.get(key)
