"""How each datasource type gets a throwaway twin for a test run.

A twin is a :class:`Twin` subclass: from the original datasource (built from
the application's settings, never connected) it says which settings change
(:meth:`Twin.changes`), creates the empty database, keyspace, file or folder
(:meth:`Twin.create`), drops it (:meth:`Twin.drop`) and drops what crashed
runs left on the same server (:meth:`Twin.sweep`). Twins use only each
datasource's public API: its typed ``options``, ``get_engine()``,
``get_client()`` and settings.

``TWINS`` below maps every built-in type to its twin. A type from another
package brings its own through the ``unifydb.twins`` entry-point group (name:
the type, value: ``"module:TwinClass"``), and a project's ``conftest.py`` may
call :func:`register_twin`; both win over the table.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from unifydb.errors import ConfigurationError

from .naming import TEMPLATE_WORKER, RunId, stale_names

if TYPE_CHECKING:
    from unifydb.base import Datasource

ENTRY_POINT_GROUP = "unifydb.twins"

#: type name -> "module:Twin class", one line per built-in type
TWINS: dict[str, str] = {
    "postgres": "unifydb.testing.sql_twins:PostgresTwin",
    "supabase": "unifydb.testing.sql_twins:PostgresTwin",
    "mysql": "unifydb.testing.sql_twins:MySQLTwin",
    "mariadb": "unifydb.testing.sql_twins:MySQLTwin",
    "sqlserver": "unifydb.testing.sql_twins:SQLServerTwin",
    "oracle": "unifydb.testing.sql_twins:OracleTwin",
    "sqlite": "unifydb.testing.sql_twins:SQLiteTwin",
    "mongodb": "unifydb.testing.store_twins:MongoDBTwin",
    "cassandra": "unifydb.testing.store_twins:CassandraTwin",
    "chroma": "unifydb.testing.store_twins:ChromaTwin",
    "milvus": "unifydb.testing.store_twins:MilvusTwin",
    "pgvector": "unifydb.testing.sql_twins:PostgresTwin",
    "duckdb": "unifydb.testing.sql_twins:DuckDBTwin",
    "athena": "unifydb.testing.sql_twins:AthenaTwin",
    "qdrant": "unifydb.testing.store_twins:QdrantTwin",
    "redis": "unifydb.testing.service_twins:RedisTwin",
    "elasticsearch": "unifydb.testing.service_twins:ElasticsearchTwin",
    "pinecone": "unifydb.testing.service_twins:PineconeTwin",
}

_registered: dict[str, type[Twin]] = {}


@dataclass
class TwinContext:
    """What a twin needs to know about the original datasource and this run."""

    datasource: Datasource[Any]
    #: the datasource's raw settings entry (placeholders unresolved)
    entry: Mapping[str, Any]
    run: RunId
    worker: str
    #: this worker's folder for files and folders (under pytest's basetemp)
    folder: Path
    #: builds a datasource of the same name from a settings entry (not initialized)
    build: Callable[[dict[str, Any]], Datasource[Any]]
    #: an account allowed to create and drop databases, else the configured one is used
    admin_url: str | None = None
    stale_after_hours: float = 24.0
    #: what happened, for the report: seconds per step
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.datasource.name

    def twin_name(self, original: str, *, limit: int = 63) -> str:
        return self.run.name(self.worker, original, limit=limit)

    def template_name(self, original: str, *, limit: int = 63) -> str:
        return self.run.name(TEMPLATE_WORKER, original, limit=limit)

    def stale(self, names: list[str]) -> list[str]:
        return stale_names(names, stale_after_hours=self.stale_after_hours)

    def variant(self, **changes: Any) -> Datasource[Any]:
        """The original datasource with ``changes`` to its settings (not initialized;
        the caller closes it)."""
        return self.build(changed_entry(self.datasource, self.entry, changes))

    def admin(self, **changes: Any) -> Datasource[Any]:
        """A datasource that may create and drop databases: ``admin_url``'s account
        when one is configured, else the application's own, with ``changes``."""
        if self.admin_url is None:
            return self.variant(**changes)
        entry = {"type": self.datasource.type_name, "url": self.admin_url, **changes}
        return self.build(entry)

    def timed(self, step: str) -> _Timer:
        return _Timer(self.timings, step)


class _Timer:
    def __init__(self, timings: dict[str, float], step: str) -> None:
        self.timings, self.step = timings, step

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        elapsed = time.perf_counter() - self.started
        self.timings[self.step] = self.timings.get(self.step, 0.0) + elapsed


class Twin:
    """The throwaway twin of one datasource; subclasses say how for their type."""

    #: whether a migrated template can be cloned (PostgreSQL's CREATE DATABASE ... TEMPLATE)
    supports_template: ClassVar[bool] = False

    def __init__(self, context: TwinContext) -> None:
        self.context = context

    def changes(self) -> dict[str, Any]:
        """The settings that point the datasource at its twin."""
        raise NotImplementedError

    def server(self) -> str:
        """Which server the twin lives on ('' for none): leftovers are swept once
        per server and worker."""
        return ""

    def check(self) -> None:
        """Raise a unifydb connection error when the server cannot be reached."""

    def create(self) -> None:
        """Create the empty twin (nothing to do where first use creates it)."""

    def create_from_template(self, migrate: Callable[[dict[str, Any]], None]) -> None:
        """Create the twin as a copy of this run's migrated template, making the
        template first (``migrate(changes)`` migrates a datasource with those changes)."""
        raise NotImplementedError

    def drop(self) -> None:
        """Drop the twin; dropping one already gone is not an error."""

    def drop_template(self) -> None:
        """Drop this run's template, if this twin made one."""

    def sweep(self) -> list[str]:
        """Drop stale twins of crashed runs on the same server; their names."""
        return []

    def where(self) -> str:
        """Where the twin is, safe to print (no secrets)."""
        return ""

    def close(self) -> None:
        """Release the connections the twin opened to create, drop or sweep."""


def changed_entry(
    datasource: Datasource[Any], entry: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """``entry`` with ``changes``: the other names of a changed key (aliases, its
    ``_file`` twin) are removed, so they cannot win over or clash with it."""
    aliases = getattr(type(datasource).options_model, "aliases", {})
    result = dict(entry)
    for key in changes:
        for other in [alias for alias, canonical in aliases.items() if canonical == key]:
            result.pop(other, None)
        result.pop(f"{key}_file", None)
        result.pop(f"{key}_command", None)
    result.update(changes)
    return result


def register_twin(type_name: str, twin: type[Twin]) -> None:
    """Use ``twin`` for datasources of ``type_name`` (e.g. from a ``conftest.py``)."""
    _registered[type_name.lower()] = twin


def twin_class(type_name: str, *, datasource: str | None = None) -> type[Twin]:
    """The twin for a type: registered in-process, else from the ``unifydb.twins``
    entry points, else the built-in table."""
    key = type_name.lower()
    if key in _registered:
        return _registered[key]
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name.lower() == key:
            loaded: type[Twin] = entry_point.load()
            return loaded
    target = TWINS.get(key)
    if target is None:
        raise ConfigurationError(
            f"unifydb's pytest plugin has no throwaway twin for type {type_name!r}",
            datasource=datasource,
            fix="register one: unifydb.testing.twins.register_twin(type, TwinClass) in "
            f"conftest.py, or an entry point in the {ENTRY_POINT_GROUP!r} group; or leave "
            "this datasource out of the test (@pytest.mark.unifydb(datasources=[...]))",
        )
    module, _, attribute = target.partition(":")
    found: type[Twin] = getattr(importlib.import_module(module), attribute)
    return found
