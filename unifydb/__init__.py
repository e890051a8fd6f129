"""unifydb: one settings tree, every connection.

``import unifydb`` is cheap: it loads no SQLAlchemy, dynaconf, pydantic or
driver. The functions below use a default :class:`Registry` built on first use
from ``settings.toml`` (or the files named by ``UNIFYDB_SETTINGS``).
"""

from __future__ import annotations

from .errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceRemovedError,
    DatasourceTimeoutError,
    DriverNotInstalledError,
    NotConfiguredError,
    SettingsFileError,
    UnifyDBError,
    UnknownDatasourceError,
    UnknownTypeError,
    UnsupportedOperationError,
)

# typing is left out on purpose: `import unifydb` must cost next to nothing
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .base import Datasource
    from .registry import Registry
    from .status import HealthStatus

__version__ = "0.1.0"

#: unifydb.registry.core, once something needed it (the hot path reads its
#: default registry without another import statement)
_registry_module: Any = None


def _registry() -> Any:
    global _registry_module
    if _registry_module is None:
        from .registry import core

        _registry_module = core
    return _registry_module


def default_registry() -> Registry:
    """The registry behind the module-level functions, created on first use."""
    return _registry().default_registry()  # type: ignore[no-any-return]


def set_default_registry(registry: Registry | None) -> Registry | None:
    """Replace the default registry (None: build a new one from settings on next use).

    Returns the previous one, which is not closed.
    """
    return _registry().set_default_registry(registry)  # type: ignore[no-any-return]


def get_engine(name: str) -> Engine:
    """The SQLAlchemy engine of a SQL datasource, created once and cached."""
    module = _registry_module
    if module is not None:
        registry = module._default
        if registry is not None:
            engine = registry._engines.get(name)
            if engine is not None:
                return engine  # type: ignore[no-any-return]
    return default_registry().get_engine(name)


def get_async_engine(name: str) -> AsyncEngine:
    """An asyncio engine for a SQL datasource, created once and cached."""
    return default_registry().get_async_engine(name)


def get_client(name: str) -> Any:
    """The native client: MongoClient, Cassandra Session, Chroma client, MilvusClient.

    For a SQL datasource, its Engine.
    """
    return default_registry().get_client(name)


def get_datasource(name: str) -> Datasource[Any]:
    """The datasource object (``.name .type .config .health_check() .close()``)."""
    return default_registry().get_datasource(name)


def tenant(template: str, tenant_id: str) -> Datasource[Any]:
    """The datasource of one tenant of a template (``template = true``), created on first use."""
    return default_registry().tenant(template, tenant_id)


def instrument(**options: Any) -> Any:
    """Send unifydb's metrics and spans to OpenTelemetry (``pip install 'unifydb[otel]'``);
    see :func:`unifydb.observe.instrument`."""
    from .observe import instrument as _instrument

    return _instrument(**options)


def health_check(*names: str, timeout: float | None = None) -> dict[str, HealthStatus]:
    """Check every configured datasource (or those named) in parallel, each bounded."""
    return default_registry().health_check(names or None, timeout=timeout)


def session(name: str | None = None, *, readonly: bool = False, **options: Any) -> Any:
    """``with unifydb.session("orders") as s:`` -- an ORM Session that commits on
    success and rolls back on error; models with ``__datasource__`` route to theirs."""
    from .orm import session as _session

    return _session(name, readonly=readonly, registry=default_registry(), **options)


def sessionmaker(name: str | None = None, *, readonly: bool = False, **options: Any) -> Any:
    """A ``sqlalchemy.orm.sessionmaker`` with the same routing, for frameworks."""
    from .orm import sessionmaker as _sessionmaker

    return _sessionmaker(name, readonly=readonly, registry=default_registry(), **options)


def async_session(name: str | None = None, *, readonly: bool = False, **options: Any) -> Any:
    """``async with unifydb.async_session("orders") as s:`` -- the asyncio twin."""
    from .orm import async_session as _async_session

    return _async_session(name, readonly=readonly, registry=default_registry(), **options)


def async_sessionmaker(name: str | None = None, *, readonly: bool = False, **options: Any) -> Any:
    from .orm import async_sessionmaker_for

    return async_sessionmaker_for(name, readonly=readonly, registry=default_registry(), **options)


def vectors(name: str) -> Any:
    """The unified vector API (create/upsert/query/get/delete/count) over Chroma,
    Milvus, Qdrant, pgvector or Pinecone."""
    return default_registry().vectors(name)


def async_vectors(name: str) -> Any:
    """``await unifydb.async_vectors("qdrant").query(...)`` -- the asyncio twin of
    :func:`vectors`."""
    return default_registry().async_vectors(name)


def warm_up(*names: str, asynchronous: bool = False) -> None:
    """Validate settings and import drivers of the datasources (default: all) now,
    with ``asynchronous`` also for their async engines. Connects nothing."""
    default_registry().warm_up(names or None, asynchronous=asynchronous)


def close_all() -> None:
    """Release every pool and client of the default registry."""
    registry = _registry_module._default if _registry_module is not None else None
    if registry is not None:
        registry.close_all()


def register(type_name: str, implementation: Any = None) -> Any:
    """Register a datasource implementation for ``type_name`` (a decorator, too)."""
    from .registry import register as _register

    return _register(type_name, implementation)


_LAZY = {
    "Registry": ("registry", "Registry"),
    "HealthStatus": ("status", "HealthStatus"),
    "Datasource": ("base", "Datasource"),
    "SQLDatasource": ("base", "SQLDatasource"),
    "DatasourceFactory": ("factory", "DatasourceFactory"),
    "SQLConnectionError": ("base.sql_errors", "SQLConnectionError"),
    "SQLTimeoutError": ("base.sql_errors", "SQLTimeoutError"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'unifydb' has no attribute {name!r}")


__all__ = [
    "ConfigurationError",
    "Datasource",
    "DatasourceConnectionError",
    "DatasourceFactory",
    "DatasourceRemovedError",
    "DatasourceTimeoutError",
    "DriverNotInstalledError",
    "HealthStatus",
    "NotConfiguredError",
    "Registry",
    "SQLConnectionError",
    "SQLDatasource",
    "SQLTimeoutError",
    "SettingsFileError",
    "UnifyDBError",
    "UnknownDatasourceError",
    "UnknownTypeError",
    "UnsupportedOperationError",
    "__version__",
    "async_session",
    "async_sessionmaker",
    "async_vectors",
    "close_all",
    "default_registry",
    "get_async_engine",
    "get_client",
    "get_datasource",
    "get_engine",
    "health_check",
    "instrument",
    "register",
    "session",
    "sessionmaker",
    "set_default_registry",
    "tenant",
    "vectors",
    "warm_up",
]
