"""The engines of a SQL datasource: SQLAlchemy's, with unifydb's listeners."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from unifydb.drivers import missing_modules
from unifydb.errors import ConfigurationError

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
    if datasource.bound_connects():
        event.listen(engine, "do_connect", datasource._connect_with_deadline)
    else:
        event.listen(engine, "do_connect", datasource._prepared_connect)
    event.listen(engine, "handle_error", datasource._connection_failure)
    datasource._track_pings(engine)
    datasource._configure_connections(engine)
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
    event.listen(sync_engine, "do_connect", datasource._async_connect_with_deadline)
    event.listen(sync_engine, "handle_error", datasource._connection_failure)
    datasource._configure_connections(sync_engine)
    datasource.configure_engine(sync_engine)
    return engine
