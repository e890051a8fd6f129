"""Which implementation serves which datasource, and one instance per datasource.

Types resolve the way SQLAlchemy resolves dialects: a name maps to an import
path ("module:Class") that is imported on first use only. In-process
registrations (``@unifydb.register``) come first, then the built-ins, then the
``unifydb.datasources`` entry-point group of installed packages. Listing names
imports no implementation.

A :class:`Registry` reads one settings tree and hands out one datasource object
per name, created once even when many threads ask at the same moment.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigurationError,
    NotConfiguredError,
    UnifyDBError,
    UnknownDatasourceError,
    UnknownTypeError,
)
from .settings import PlaceholderError, missing_variables, unresolved_variables

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .base import Datasource
    from .health import HealthStatus

ENTRY_POINT_GROUP = "unifydb.datasources"


@dataclass(frozen=True)
class BuiltinType:
    target: str
    extra: str | None
    modules: tuple[str, ...]


_R = "unifydb.datasources.relational"
#: built-in types; extra and modules let `unifydb list` check drivers without importing anything
BUILTIN_TYPES: dict[str, BuiltinType] = {
    "postgres": BuiltinType(f"{_R}.postgres:PostgresDatasource", "postgres", ("psycopg",)),
    "supabase": BuiltinType(f"{_R}.supabase:SupabaseDatasource", "supabase", ("psycopg",)),
    "sqlite": BuiltinType(f"{_R}.sqlite:SQLiteDatasource", "sqlite", ("sqlite3",)),
    "mysql": BuiltinType(f"{_R}.mysql:MySQLDatasource", "mysql", ("MySQLdb",)),
    "mariadb": BuiltinType(f"{_R}.mariadb:MariaDBDatasource", "mariadb", ("mariadb",)),
    "oracle": BuiltinType(f"{_R}.oracle:OracleDatasource", "oracle", ("oracledb",)),
    "sqlserver": BuiltinType(f"{_R}.sqlserver:SQLServerDatasource", "sqlserver", ("pyodbc",)),
    "mongodb": BuiltinType(
        "unifydb.datasources.nosql.mongodb:MongoDBDatasource", "mongodb", ("pymongo",)
    ),
    "cassandra": BuiltinType(
        "unifydb.datasources.nosql.cassandra:CassandraDatasource", "cassandra", ("cassandra",)
    ),
    "chroma": BuiltinType(
        "unifydb.datasources.vector.chroma:ChromaDatasource", "chroma", ("chromadb",)
    ),
    "milvus": BuiltinType(
        "unifydb.datasources.vector.milvus:MilvusDatasource", "milvus", ("pymilvus",)
    ),
}

#: other spellings users reach for
TYPE_ALIASES = {
    "postgresql": "postgres",
    "pg": "postgres",
    "sqlite3": "sqlite",
    "mssql": "sqlserver",
    "mongo": "mongodb",
    "chromadb": "chroma",
}

_registered: dict[str, Any] = {}
_loaded: dict[str, type[Datasource]] = {}
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


def module_available(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def canonical_type(type_name: str) -> str:
    key = type_name.strip().lower()
    return TYPE_ALIASES.get(key, key)


def available_types() -> list[str]:
    """Every type name that can be used, without importing any implementation."""
    names = set(_registered) | set(BUILTIN_TYPES) | set(_plugin_entry_points())
    return sorted(names)


def is_known_type(type_name: str) -> bool:
    key = canonical_type(type_name)
    return key in _registered or key in BUILTIN_TYPES or key in _plugin_entry_points()


def load_type(type_name: str, *, datasource: str | None = None) -> type[Datasource]:
    """The implementation class for ``type_name``, imported now if it was not yet."""
    key = canonical_type(type_name)
    cls = _loaded.get(key)
    if cls is not None:
        return cls
    target: Any
    if key in _registered:
        target = _registered[key]
    elif key in BUILTIN_TYPES:
        target = BUILTIN_TYPES[key].target
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


def _import_target(target: Any, key: str, datasource: str | None) -> type[Datasource]:
    from .base import Datasource

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


def type_requirements(type_name: str) -> tuple[str | None, tuple[str, ...]] | None:
    """(extra, driver modules) of a built-in type; None when only an import can tell."""
    key = canonical_type(type_name)
    if key in _registered or key not in BUILTIN_TYPES:
        return None
    info = BUILTIN_TYPES[key]
    return info.extra, info.modules


@dataclass(frozen=True)
class EntryInfo:
    """What can be known about a configured datasource without connecting."""

    name: str
    type: str
    known_type: bool
    extra: str | None
    driver_installed: bool | None
    missing_variables: tuple[str, ...]
    problem: str | None = None

    @property
    def configured(self) -> bool:
        return not self.missing_variables and self.problem is None


# ----------------------------------------------------------------------------- registry

_live_registries: weakref.WeakSet[Registry] = weakref.WeakSet()


class Registry:
    """One settings tree -> one datasource object per name.

    ``settings`` may be a Dynaconf object, a mapping with a ``datasources`` key,
    a settings file path (or list of paths), or None for the default files
    (``settings.toml``/``.secrets.toml`` in the current directory, or those
    named by ``UNIFYDB_SETTINGS``).
    """

    def __init__(self, settings: Any = None) -> None:
        self._source = settings
        self._entries: dict[str, Any] | None = None
        self._datasources: dict[str, Datasource] = {}
        self._engines: dict[str, Engine] = {}
        self._name_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        _live_registries.add(self)

    def __repr__(self) -> str:
        names = ", ".join(self.names()) if self._entries is not None else "not loaded"
        return f"<unifydb.Registry [{names}]>"

    # ------------------------------------------------------------------ settings

    @property
    def entries(self) -> dict[str, Any]:
        """The raw settings of every datasource (placeholders unresolved)."""
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    from .settings import from_source

                    self._entries = from_source(self._source)
                entries = self._entries
        return entries

    def names(self) -> list[str]:
        """Configured datasource names, in settings order. Imports no implementation."""
        return list(self.entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.entries

    def __iter__(self) -> Any:
        return iter(self.names())

    def entry(self, name: str) -> dict[str, Any]:
        key = name.lower()
        try:
            entry = self.entries[key]
        except KeyError:
            close = difflib.get_close_matches(key, self.names(), n=1)
            raise UnknownDatasourceError(
                f"no datasource named {name!r} is configured",
                datasource=name,
                fix=(f"did you mean {close[0]!r}? " if close else "")
                + f"configured: {', '.join(self.names()) or 'none'}; "
                f"add [datasources.{key}] to settings.toml",
            ) from None
        if not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"settings must be a table of options, not {type(entry).__name__}",
                datasource=key,
                fix=f"write [datasources.{key}] with keys such as type, host, port",
            )
        return dict(entry)

    def type_of(self, name: str) -> str:
        """The type a datasource uses: its ``type`` key, or its own name."""
        entry = self.entry(name)
        declared = entry.get("type")
        if declared is None or (isinstance(declared, str) and not declared.strip()):
            return canonical_type(name)
        if not isinstance(declared, str):
            raise ConfigurationError(
                f"'type' must be a string, not {type(declared).__name__}",
                datasource=name.lower(),
                key="type",
                fix=f"set type to one of {', '.join(available_types())}",
            )
        missing = missing_variables(declared)
        if missing:
            raise NotConfiguredError(
                f"not configured: environment variable {missing[0]} is not set",
                missing=missing,
                datasource=name.lower(),
                key="type",
                fix=f"export {missing[0]}=...",
            )
        from .settings import resolve_placeholders

        try:
            resolved, _ = resolve_placeholders(declared)
        except PlaceholderError as error:
            raise ConfigurationError(
                str(error),
                datasource=name.lower(),
                key="type",
                fix="see 'Placeholders' in the README",
            ) from None
        # an empty value means "not given" here as everywhere: the name is the type
        return canonical_type(resolved if resolved.strip() else name)

    def inspect(self, name: str) -> EntryInfo:
        """Type, driver and placeholder state of one datasource, without building it."""
        key = name.lower()
        try:
            entry = self.entry(key)
            type_name = self.type_of(key)
        except NotConfiguredError as error:
            return EntryInfo(key, "?", False, None, None, tuple(error.missing))
        except UnifyDBError as error:
            return EntryInfo(key, "?", False, None, None, (), problem=str(error))
        known = is_known_type(type_name)
        requirements = type_requirements(type_name) if known else None
        extra: str | None = None
        installed: bool | None = None
        if requirements is not None:
            extra, modules = requirements
            installed = all(module_available(module) for module in modules)
        elif known:
            try:
                cls = load_type(type_name, datasource=key)
                extra = cls.extra
                installed = all(module_available(module) for module in cls.driver_modules)
            except UnifyDBError as error:
                return EntryInfo(key, type_name, True, None, None, (), problem=str(error))
        try:
            missing = tuple(unresolved_variables(entry))
        except PlaceholderError as error:
            return EntryInfo(key, type_name, known, extra, installed, (), problem=str(error))
        problem = None if known else f"unknown type {type_name!r}"
        return EntryInfo(key, type_name, known, extra, installed, missing, problem)

    # ------------------------------------------------------------------ datasources

    def get_datasource(self, name: str) -> Datasource:
        """The datasource object: validated, driver checked, not yet connected."""
        datasource = self._datasources.get(name)
        if datasource is not None:
            return datasource
        key = name.lower()
        with self._lock:
            lock = self._name_locks.setdefault(key, threading.Lock())
        with lock:
            datasource = self._datasources.get(key)
            if datasource is None:
                datasource = self.build(key)
                datasource.initialize()
                self._datasources[key] = datasource
            self._datasources[name] = datasource
        return datasource

    def build(self, name: str) -> Datasource:
        """A new datasource object from settings: validated, not initialized, not cached."""
        key = name.lower()
        entry = self.entry(key)
        type_name = self.type_of(key)
        cls = load_type(type_name, datasource=key)
        settings = {option: value for option, value in entry.items() if option != "type"}
        return cls.from_settings(key, settings)

    def get_engine(self, name: str) -> Engine:
        """The SQLAlchemy engine of a SQL datasource, created once (lazy: no connection yet)."""
        try:
            return self._engines[name]
        except KeyError:
            engine = self.get_datasource(name).get_engine()
            self._engines[name] = engine
            return engine

    def get_async_engine(self, name: str) -> AsyncEngine:
        """An asyncio engine for a SQL datasource, created once."""
        return self.get_datasource(name).get_async_engine()

    def get_replica_engine(self, name: str) -> Engine:
        """An engine for reads: the next of the datasource's replicas, else the primary."""
        return self.get_datasource(name).replica().get_engine()

    def get_replica_async_engine(self, name: str) -> AsyncEngine:
        return self.get_datasource(name).replica().get_async_engine()

    def session(self, name: str | None = None, **options: Any) -> Any:
        """``with registry.session("orders") as s:`` -- see :func:`unifydb.session`."""
        from .orm import session

        return session(name, registry=self, **options)

    def sessionmaker(self, name: str | None = None, **options: Any) -> Any:
        from .orm import sessionmaker

        return sessionmaker(name, registry=self, **options)

    def async_session(self, name: str | None = None, **options: Any) -> Any:
        from .orm import async_session

        return async_session(name, registry=self, **options)

    def async_sessionmaker(self, name: str | None = None, **options: Any) -> Any:
        from .orm import async_sessionmaker_for

        return async_sessionmaker_for(name, registry=self, **options)

    def vectors(self, name: str) -> Any:
        """The unified vector API over a Chroma or Milvus datasource."""
        return self.get_datasource(name).vectors()

    def get_client(self, name: str) -> Any:
        """The native client: an Engine for SQL, MongoClient, Cassandra Session, ..."""
        return self.get_datasource(name).get_client()

    def datasources(self) -> dict[str, Datasource]:
        """Every datasource built so far."""
        return {key: ds for key, ds in self._datasources.items() if key == key.lower()}

    # ------------------------------------------------------------------ health

    def health_check(
        self,
        names: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
        started: float | None = None,
    ) -> dict[str, HealthStatus]:
        """Check datasources in parallel, each bounded by its timeout.

        Datasources that are not configured or whose driver is missing are
        reported as such, not as failures. ``timeout`` (seconds, finite and
        positive; capped at an hour) overrides each datasource's own.
        ``started`` (a ``time.monotonic()`` value) makes each timeout count
        from then rather than from when the check starts connecting, driver
        loading included; a check whose driver took most of it still gets a
        moment to connect.
        """
        from ._deadline import checked_timeout
        from .health import CheckRun

        timeout = checked_timeout(timeout)
        selected = list(dict.fromkeys(name.lower() for name in names)) if names else self.names()
        run = CheckRun()
        latest = self.start_checks(selected, run, timeout, started)
        results = run.wait(latest + 1.0)
        return {name: results[name] for name in selected}

    def start_checks(
        self, names: Iterable[str], run: Any, timeout: float | None, started: float | None
    ) -> float:
        """Build each datasource and start its check in ``run`` (a
        :class:`~unifydb.health.CheckRun`) at once, so checks overlap the
        building of the next ones; returns when the last check must be over
        (``time.monotonic()``).

        Building validates settings and imports drivers, never touching the
        network. It runs one datasource after the other: first imports of the
        same package from several threads at once can see it half-initialized.
        """
        latest = time.monotonic()
        for name in names:
            try:
                datasource = self.get_datasource(name)
            except Exception as error:
                run.add(self._build_failure(name, error))
                continue
            limit = _check_limit(datasource, timeout, started)
            run.start(name, datasource.type_name, functools.partial(datasource.health_check, limit))
            latest = max(latest, time.monotonic() + limit)
        return latest

    def _build_failure(self, name: str, error: Exception) -> HealthStatus:
        from .health import status_from_error

        if not isinstance(error, UnifyDBError):
            # a broken plugin or driver import must not take the others down
            error = UnifyDBError(
                f"could not be built: {type(error).__name__}: {error}", datasource=name
            )
        try:
            type_name = self.type_of(name)
        except UnifyDBError:
            type_name = "?"
        return status_from_error(name, type_name, error)

    # ------------------------------------------------------------------ lifecycle

    def close(self, name: str) -> None:
        """Close one datasource; the next use builds it again."""
        key = name.lower()
        with self._lock:
            datasource = self._datasources.get(key)
            for alias in [alias for alias, ds in self._datasources.items() if ds is datasource]:
                del self._datasources[alias]
            for alias in [alias for alias in self._engines if alias.lower() == key]:
                del self._engines[alias]
        if datasource is not None:
            datasource.close()

    def warm_up(self, names: Iterable[str] | None = None, *, asynchronous: bool = False) -> None:
        """Build datasources now (settings validated, drivers imported) and, with
        ``asynchronous``, the async engines of the SQL ones, so that no request
        (and no event loop) pays for an import later. Connects nothing.

        In asyncio code: ``await asyncio.to_thread(registry.warm_up, asynchronous=True)``.
        """
        for name in names or self.names():
            datasource = self.get_datasource(name)
            if asynchronous and datasource.category == "relational":
                datasource.get_async_engine()

    def redact(self, text: str) -> str:
        """``text`` without the secrets of any configured datasource (for messages
        about failures whose datasource is not known, e.g. in the command line)."""
        datasources = list({id(ds): ds for ds in self._datasources.values()}.values())
        try:
            names = [name for name in self.names() if name not in self._datasources]
        except Exception:  # settings that cannot be read hold no secret to hide here
            names = []
        for name in names:
            try:
                datasources.append(self.build(name))
            except Exception:  # unbuildable: its settings never reached a driver
                continue
        for datasource in datasources:
            text = datasource.redact(text)
        return text

    def close_all(self) -> None:
        """Release every pool and client. The registry can still be used afterwards."""
        with self._lock:
            built = list({id(ds): ds for ds in self._datasources.values()}.values())
            self._datasources.clear()
            self._engines.clear()
        errors: list[BaseException] = []
        for datasource in built:
            try:
                datasource.close()
            except Exception as error:  # close the rest, then report
                errors.append(error)
        if errors:
            raise errors[0]

    def reload(self) -> None:
        """Close everything and read the settings again."""
        self.close_all()
        with self._lock:
            self._entries = None

    def _after_fork(self) -> None:
        for datasource in {id(ds): ds for ds in self._datasources.values()}.values():
            datasource.after_fork()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close_all()


def _after_fork_in_child() -> None:
    for registry in list(_live_registries):
        registry._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_limit(datasource: Datasource, timeout: float | None, started: float | None) -> float:
    budget = datasource.timeout if timeout is None else timeout
    if started is None:
        return budget
    # a check whose driver took the whole budget to import still gets a moment
    return round(max(budget - (time.monotonic() - started), min(budget / 4, 0.5)), 2)
