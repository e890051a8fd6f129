"""The registry: one datasource object per name, and the default registry.

A :class:`Registry` reads one settings tree and hands out one datasource object
per name, created once even when many threads ask at the same moment.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from unifydb.errors import UnifyDBError

from .draining import Drainer
from .entries import REGISTRY_KEYS, is_template
from .runtime import RuntimeChanges
from .tenants import is_a_template
from .types import load_type

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

    from unifydb.base import Datasource
    from unifydb.status import HealthStatus

_live_registries: weakref.WeakSet[Registry] = weakref.WeakSet()
#: the registry behind unifydb's module-level functions (see default_registry)
_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The registry behind the module-level functions, created on first use from
    the default settings files."""
    registry = _default
    if registry is None:
        with _default_lock:
            if _default is None:
                set_default_registry(Registry())
            registry = _default
            assert registry is not None
    return registry


def set_default_registry(registry: Registry | None) -> Registry | None:
    """Replace the default registry (None: build a new one from settings on next use).

    Returns the previous one, which is not closed.
    """
    global _default
    previous, _default = _default, registry
    return previous


class Registry(RuntimeChanges):
    """One settings tree -> one datasource object per name.

    ``settings`` may be a Dynaconf object, a mapping with a ``datasources`` key,
    a settings file path (or list of paths), or None for the default files
    (``settings.toml``/``.secrets.toml`` in the current directory, or those
    named by ``UNIFYDB_SETTINGS``).
    """

    def __init__(
        self, settings: Any = None, *, env_file: str | os.PathLike[str] | None = None
    ) -> None:
        self._source = settings
        self._env_file = env_file
        self._environ: Mapping[str, str] | None = None
        self._entries: dict[str, Any] | None = None
        self._runtime: dict[str, dict[str, Any] | None] = {}
        self._environ_seen: dict[str, str] = {}
        self._datasources: dict[str, Datasource[Any]] = {}
        self._engines: dict[str, Engine] = {}
        self._name_locks: dict[str, threading.Lock] = {}
        self._versions: dict[str, int] = {}
        self._tenants: dict[str, Any] = {}
        self._drainer = Drainer()
        self._lock = threading.RLock()
        _live_registries.add(self)

    def __repr__(self) -> str:
        names = ", ".join(self.names()) if self._entries is not None else "not loaded"
        return f"<unifydb.Registry [{names}]>"

    # ------------------------------------------------------------------ datasources

    def get_datasource(self, name: str) -> Datasource[Any]:
        """The datasource object: validated, driver checked, not yet connected."""
        datasource = self._datasources.get(name)
        if datasource is not None:
            return datasource
        key = name.lower()
        with self._name_lock(key):
            datasource = self._datasources.get(key)
            if datasource is None:
                version = self._versions.get(key, 0)
                datasource = self.build(key)
                datasource.initialize()
                with self._lock:
                    current = self._versions.get(key, 0) == version
                    if current:
                        self._datasources[key] = datasource
                if not current:  # removed or replaced while it was being built
                    datasource.close()
                    return self.get_datasource(name)
            self._datasources[name] = datasource
        return datasource

    def build(self, name: str) -> Datasource[Any]:
        """A new datasource object from settings: validated, not initialized, not cached."""
        key = name.lower()
        entry = self.entry(key)
        if is_template(entry):
            raise is_a_template(key)
        return self.build_entry(key, entry)

    def validate(self, name: str) -> None:
        """Validate a datasource's settings as :meth:`build` would (a template's
        with a sample tenant); connects nothing."""
        key = name.lower()
        entry = self.entry(key)
        if is_template(entry):
            self.check_template(key, entry)
        else:
            self.build(key)

    def build_entry(
        self, name: str, entry: Any, *, default_type: str | None = None
    ) -> Datasource[Any]:
        """A new datasource named ``name`` from one entry of settings (whose type,
        when it names none, is ``default_type``, else the name)."""
        type_name = self.type_of_entry(name, entry, default_type)
        cls = load_type(type_name, datasource=name)
        settings = {
            option: value
            for option, value in entry.items()
            if option != "type" and option not in REGISTRY_KEYS
        }
        return cls.from_settings(name, settings, self.environ)

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
        from unifydb.orm import session

        return session(name, registry=self, **options)

    def sessionmaker(self, name: str | None = None, **options: Any) -> Any:
        from unifydb.orm import sessionmaker

        return sessionmaker(name, registry=self, **options)

    def async_session(self, name: str | None = None, **options: Any) -> Any:
        from unifydb.orm import async_session

        return async_session(name, registry=self, **options)

    def async_sessionmaker(self, name: str | None = None, **options: Any) -> Any:
        from unifydb.orm import async_sessionmaker_for

        return async_sessionmaker_for(name, registry=self, **options)

    def vectors(self, name: str) -> Any:
        """The unified vector API over a vector datasource (see :mod:`unifydb.vectorstore`)."""
        return self.get_datasource(name).vectors()

    def async_vectors(self, name: str) -> Any:
        """The asyncio twin of :meth:`vectors`."""
        return self.get_datasource(name).async_vectors()

    def get_client(self, name: str) -> Any:
        """The native client: an Engine for SQL, MongoClient, Cassandra Session, ..."""
        return self.get_datasource(name).get_client()

    def datasources(self) -> dict[str, Datasource[Any]]:
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
        from unifydb._deadline import checked_timeout
        from unifydb.status import CheckRun

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
        :class:`~unifydb.status.CheckRun`) at once, so checks overlap the
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
        from unifydb.status import status_from_error

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
            # SQL datasources: the relational ones, and pgvector (a vector type)
            if asynchronous and getattr(datasource, "drivername", None):
                datasource.get_async_engine()

    def redact(self, text: str) -> str:
        """``text`` without the secrets of any configured datasource (for messages
        about failures whose datasource is not known, e.g. in the command line)."""
        datasources = list({id(ds): ds for ds in self._datasources.values()}.values())
        datasources += [ds for tenants in self._tenants.values() for ds in tenants.open()]
        datasources += self._drainer.pending()
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
            tenants, self._tenants = list(self._tenants.values()), {}
        for tenant_set in tenants:
            built += tenant_set.open()
        self._drainer.close_now()
        errors: list[BaseException] = []
        for datasource in built:
            try:
                datasource.close()
            except Exception as error:  # close the rest, then report
                errors.append(error)
        if errors:
            raise errors[0]

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


def _check_limit(
    datasource: Datasource[Any], timeout: float | None, started: float | None
) -> float:
    budget = datasource.timeout if timeout is None else timeout
    if started is None:
        return budget
    # a check whose driver took the whole budget to import still gets a moment
    return round(max(budget - (time.monotonic() - started), min(budget / 4, 0.5)), 2)
