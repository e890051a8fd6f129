"""The engines of a SQL datasource: SQLAlchemy's, with unifydb's listeners."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unifydb.drivers import missing_modules
from unifydb.errors import ConfigurationError

from .sql_listeners import (
    configure_connections,
    connect_async,
    connect_bounded,
    connect_local,
    track_pings,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .sql import SQLDatasource


def create_engine_for(datasource: SQLDatasource[Any]) -> Engine:
    """The engine: every new connection bounded by ``timeout`` (or prepared, for
    local databases), connection failures as unifydb errors, tracked pings, the
    pool policies, replica routing and the type's own listeners."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError

    problem = None
    kwargs = datasource.engine_kwargs()
    try:
        engine = create_engine(
            datasource.url(),
            connect_args={**datasource.connect_args(), **datasource.options.connect_args},
            **kwargs,
        )
    except (TypeError, ValueError, ArgumentError) as error:
        problem = datasource.redact(f"{type(error).__name__}: {error}")
    if problem is not None:
        raise ConfigurationError(
            f"SQLAlchemy refused the engine options: {problem}",
            datasource=datasource.name,
            key="engine_options",
            fix="check engine_options (and the pool keys) against sqlalchemy.create_engine()",
        )
    connect = connect_bounded if datasource.bound_connects() else connect_local
    event.listen(engine, "do_connect", functools.partial(connect, datasource))
    event.listen(engine, "handle_error", datasource._connection_failure)
    track_pings(datasource, engine)
    configure_connections(datasource, engine)
    datasource.configure_engine(engine)
    if datasource.logger.isEnabledFor(logging.DEBUG):
        datasource.logger.debug("created engine for %s", datasource.target())
    return engine


def create_async_engine_for(datasource: SQLDatasource[Any]) -> AsyncEngine:
    """The engine, with the same deadlines, error wrapping, pool policies and
    replica routing as the synchronous one."""
    url = datasource.async_url()
    info = datasource.type_info
    missing = missing_modules(info.async_drivers if info else ())
    if missing:
        raise datasource.driver_missing(missing[0])
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        url,
        connect_args={**datasource.async_connect_args(), **datasource.options.connect_args},
        **datasource.engine_kwargs(),
    )
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "do_connect", functools.partial(connect_async, datasource))
    event.listen(sync_engine, "handle_error", datasource._connection_failure)
    configure_connections(datasource, sync_engine)
    datasource.configure_engine(sync_engine)
    return engine


def dispose(engine: Engine | None, async_engine: AsyncEngine | None) -> None:
    """Release both engines' pools; connections checked out are closed when returned."""
    from .sql_errors import close_on_checkin

    if engine is not None:
        close_on_checkin(engine.pool)
        engine.dispose()
    if async_engine is not None:
        # an AsyncEngine's pool holds connections bound to an event loop that
        # may be gone by now; dropping them without awaiting is the safe choice
        close_on_checkin(async_engine.sync_engine.pool)
        async_engine.sync_engine.dispose(close=False)


def refuse_checkouts(engines: list[Engine], error: Callable[[], BaseException]) -> None:
    """From now on, every checkout from these engines' pools raises ``error()``."""
    from sqlalchemy import event

    def refuse(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        raise error()

    for engine in engines:
        event.listen(engine.pool, "checkout", refuse)


def checked_out(pools: list[Any]) -> bool | None:
    """Whether any of the pools has a connection out (None: one cannot tell)."""
    counts = [getattr(pool, "checkedout", None) for pool in pools]
    if any(count is None for count in counts):
        return None
    return any(count() for count in counts if count is not None)
