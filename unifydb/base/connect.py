"""Every new DBAPI connection of a SQL engine, bounded by the datasource's ``timeout``.

Drivers' own timeouts are not enough: oracledb and pyodbc/FreeTDS ignored
theirs against a server that accepts and never answers, and the async drivers'
connect timeouts cover only the TCP connect, not TLS, the handshake or the login.
"""

from __future__ import annotations

import importlib
import time
from typing import TYPE_CHECKING, Any

from unifydb import telemetry
from unifydb._deadline import call_with_deadline
from unifydb.errors import DatasourceTimeoutError

if TYPE_CHECKING:
    from .sql import SQLDatasource


def connect_with_deadline(
    datasource: SQLDatasource[Any], dialect: Any, cargs: Any, cparams: Any
) -> Any:
    """``dialect.connect()`` in a thread of its own, given up after ``timeout``
    (a connection that arrives later is closed); a timeout is a
    :class:`~unifydb.base.sql_errors.SQLTimeoutError`."""
    try:
        return call_with_deadline(
            lambda: dialect.connect(*cargs, **cparams),
            datasource.timeout,
            datasource=datasource.name,
            action="connect",
            discard=lambda late: late.close(),
        )
    except DatasourceTimeoutError:
        failure = datasource.sql_error("connect", None, timeout=True)
    raise failure


def resolve_async_connect(datasource: SQLDatasource[Any]) -> Any:
    """The async driver's connect coroutine function (None: nothing to bound)."""
    target = datasource.async_connect_function
    if target is None:
        return None
    module_name, _, path = target.partition(":")
    connect: Any = importlib.import_module(module_name)
    for attribute in path.split("."):
        connect = getattr(connect, attribute)
    return connect


def bound_async_connect(datasource: SQLDatasource[Any], cparams: dict[str, Any]) -> None:
    """Make SQLAlchemy's async connect go through ``asyncio.wait_for(..., timeout)``
    (its ``async_creator_fn`` hook), so a silent server never holds the task."""
    if "async_creator_fn" in cparams:
        return
    connect = resolve_async_connect(datasource)
    if connect is None:
        return
    timeout = datasource.timeout
    kind = datasource.type_name

    async def bounded(*args: Any, **kwargs: Any) -> Any:
        import asyncio

        started = time.perf_counter()
        try:
            connection = await asyncio.wait_for(connect(*args, **kwargs), timeout)
        except asyncio.TimeoutError:
            failure = datasource.sql_error("connect (asyncio)", None, timeout=True)
        except BaseException as error:
            seconds = time.perf_counter() - started
            telemetry.connected(datasource.metrics, datasource.name, kind, seconds, error)
            raise
        else:
            seconds = time.perf_counter() - started
            telemetry.connected(datasource.metrics, datasource.name, kind, seconds, None)
            return connection
        seconds = time.perf_counter() - started
        telemetry.connected(datasource.metrics, datasource.name, kind, seconds, failure)
        raise failure

    cparams["async_creator_fn"] = bounded
