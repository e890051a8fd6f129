"""The listeners a SQL datasource's engines get: every new DBAPI connection
made with fresh credentials, retried, bounded, counted and (for a replica)
routed; pings tracked; pool policies and statement timeouts per connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .sql import SQLDatasource


def connect_bounded(
    datasource: SQLDatasource[Any], dialect: Any, record: Any, cargs: Any, cparams: Any
) -> Any:
    """``do_connect`` of a server's engine: bounded by ``timeout``, through the
    replica router when the engine serves a replica."""
    from .connect import connect_with_deadline

    serving = datasource.serving
    if serving is not None:
        router, index = serving
        return datasource.timed_connect(
            lambda: router.connect(index, dialect, record, cargs, cparams)
        )
    return datasource.timed_connect(
        lambda: connect_with_deadline(datasource, dialect, cargs, cparams)
    )


def connect_local(
    datasource: SQLDatasource[Any], dialect: Any, record: Any, cargs: Any, cparams: Any
) -> Any:
    """``do_connect`` of a local database's engine (no network to bound)."""
    if not datasource.options.connect_retries and datasource.rotating_password() is None:
        datasource.prepare_connect(cargs, cparams)
        return datasource.timed_connect(lambda: dialect.connect(*cargs, **cparams))
    from .retry import with_retries

    def attempt(seconds: float) -> Any:
        args, params = datasource.connect_arguments(dialect, cargs, cparams)
        return dialect.connect(*args, **params)

    return datasource.timed_connect(lambda: with_retries(datasource, attempt))


def connect_async(
    datasource: SQLDatasource[Any], dialect: Any, record: Any, cargs: Any, cparams: Any
) -> None:
    """``do_connect`` of an async engine: SQLAlchemy connects through a creator of
    ours, bounded by ``asyncio.wait_for`` (or the replica router's)."""
    from .connect import bound_async_connect

    serving = datasource.serving
    if serving is not None:
        router, index = serving
        router.async_connect(index, dialect, record, cparams)
        return
    if not bound_async_connect(datasource, dialect, cparams):
        # no creator of ours (a local database): SQLAlchemy connects with these
        args, params = datasource.connect_arguments(dialect, cargs, cparams)
        cargs[:] = args
        cparams.clear()
        cparams.update(params)


def track_pings(datasource: SQLDatasource[Any], engine: Engine) -> None:
    """pool_pre_ping pings a pooled connection before handing it out; against a
    server that stopped answering, that ping blocks, so it is tracked too."""
    dialect = engine.dialect
    ping = dialect.do_ping
    sockets = datasource.sockets

    def tracked_ping(dbapi_connection: Any) -> bool:
        return bool(sockets.call(dbapi_connection, ping, dbapi_connection))

    dialect.do_ping = tracked_ping  # type: ignore[method-assign]


def configure_connections(datasource: SQLDatasource[Any], engine: Engine) -> None:
    """Pool policies, replica routing and the statement timeout of every connection."""
    from sqlalchemy import event

    from .pooling import install_pool_policies
    from .routing import install_routing

    options = datasource.options
    install_pool_policies(engine, options)
    install_routing(engine, datasource.router, datasource.serving)
    milliseconds = options.statement_timeout
    if milliseconds is not None:

        def limit_statements(dbapi_connection: Any, record: Any) -> None:
            datasource.apply_statement_timeout(dbapi_connection, milliseconds)

        event.listen(engine, "connect", limit_statements)
