"""Connection pools of SQL engines: pool classes by name, ORBIT's pool keys, and the
policies SQLAlchemy has no option for (idle timeout, a minimum of open connections)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from unifydb.errors import ConfigurationError


def pool_class(name: str, *, datasource: str) -> type[Any]:
    """A pool class named in settings (``"NullPool"``, ``"sqlalchemy.pool.QueuePool"``)."""
    import sqlalchemy.pool

    known = {
        attribute: value
        for attribute in dir(sqlalchemy.pool)
        if isinstance(value := getattr(sqlalchemy.pool, attribute), type)
        and issubclass(value, sqlalchemy.pool.Pool)
        and attribute.endswith("Pool")
        and attribute != "Pool"
    }
    short = name.removeprefix("sqlalchemy.pool.").removeprefix("sqlalchemy.pool.impl.")
    if short in known:
        return known[short]
    raise ConfigurationError(
        f"engine_options.poolclass {name!r} is not a SQLAlchemy pool class",
        datasource=datasource,
        key="engine_options",
        fix=f"use one of {', '.join(sorted(known))}",
    )


def engine_keywords(options: Any, *, datasource: str) -> dict[str, Any]:
    """``create_engine`` keywords from a SQL datasource's pool and engine settings."""
    kwargs: dict[str, Any] = {
        "pool_pre_ping": options.pool_pre_ping,
        "echo": options.echo,
        "echo_pool": options.echo_pool,
        "hide_parameters": False,
    }
    for key in ("pool_size", "max_overflow", "pool_recycle", "pool_timeout", "pool_use_lifo"):
        value = getattr(options, key)
        if value is not None:
            kwargs[key] = value
    if options.isolation_level:
        kwargs["isolation_level"] = options.isolation_level
    kwargs.update(options.engine_options)
    if isinstance(kwargs.get("poolclass"), str):
        kwargs["poolclass"] = pool_class(kwargs["poolclass"], datasource=datasource)
    return pool_kwargs(options, kwargs)


def pool_kwargs(options: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``create_engine`` keywords for the pool settings: ``use_connection_pool =
    false`` is SQLAlchemy's NullPool (and the sizing keys do not apply), and
    ``min_pool_size`` raises ``pool_size`` to at least itself."""
    if not options.use_connection_pool:
        import sqlalchemy.pool

        kwargs.setdefault("poolclass", sqlalchemy.pool.NullPool)
        for key in ("pool_size", "max_overflow", "pool_timeout", "pool_use_lifo"):
            kwargs.pop(key, None)
        return kwargs
    if options.min_pool_size:
        kwargs["pool_size"] = max(kwargs.get("pool_size") or 5, options.min_pool_size)
    return kwargs


def install_pool_policies(engine: Any, options: Any) -> None:
    """The pool policies SQLAlchemy has no option for: connections idle longer
    than ``idle_timeout`` are replaced when checked out, and ``min_pool_size``
    connections are opened (in the background) after the first one."""
    from sqlalchemy import event, exc

    pool = engine.pool
    idle_timeout = options.idle_timeout if options.use_connection_pool else None
    if idle_timeout:

        def note_checkin(dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                record.info["unifydb_idle_since"] = time.monotonic()

        def check_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            since = record.info.pop("unifydb_idle_since", None)
            if since is not None and time.monotonic() - since > idle_timeout:
                # the pool closes this connection and checks out a fresh one
                raise exc.DisconnectionError("idle longer than idle_timeout")

        event.listen(pool, "checkin", note_checkin)
        event.listen(pool, "checkout", check_idle)
    wanted = options.min_pool_size if options.use_connection_pool else None
    if wanted and wanted > 1:

        def warm(dbapi_connection: Any, record: Any) -> None:
            threading.Thread(
                target=_open_connections,
                args=(engine, wanted - 1),
                daemon=True,
                name="unifydb:min_pool_size",
            ).start()

        event.listen(pool, "first_connect", warm, once=True)


def _open_connections(engine: Any, count: int) -> None:
    """Check ``count`` connections out of the engine's pool and back in, so they stay
    open in it (a failure just leaves the pool smaller: the next use reconnects)."""
    held = []
    try:
        for _ in range(count):
            held.append(engine.pool.connect())
    except Exception as error:  # a server that went away meanwhile: nothing to warm
        logging.getLogger("unifydb").debug("min_pool_size: could not open more: %r", error)
    finally:
        for connection in held:
            connection.close()
