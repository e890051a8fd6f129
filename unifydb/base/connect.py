"""Every new DBAPI connection of a SQL engine: its credentials resolved now,
retried per ``connect_retries``, and bounded by the datasource's ``timeout``.

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

from .retry import with_retries, with_retries_async

if TYPE_CHECKING:
    from .sql import SQLDatasource

#: stands in for the password when finding out where a dialect puts it
_MARKER = "unifydb-password-marker"
_password_arguments: dict[tuple[type, str], str | None] = {}


def password_argument(datasource: SQLDatasource[Any], dialect: Any) -> str | None:
    """The ``connect()`` keyword a dialect passes the URL's password as (psycopg,
    oracledb, pymssql, asyncmy: ``password``; mysqlclient: ``passwd``), found by
    asking the dialect itself; None when it goes elsewhere (pyodbc's connection
    string, which the datasource builds itself)."""
    drivername = datasource.async_drivername if dialect.is_async else datasource.drivername
    cache_key = (type(dialect), drivername or "")
    if cache_key not in _password_arguments:
        url = datasource.async_url() if dialect.is_async else datasource.url()
        _, params = dialect.create_connect_args(url.set(password=_MARKER))
        _password_arguments[cache_key] = next(
            (key for key, value in params.items() if value == _MARKER), None
        )
    return _password_arguments[cache_key]


def connect_with_deadline(
    datasource: SQLDatasource[Any], dialect: Any, cargs: Any, cparams: Any
) -> Any:
    """``dialect.connect()`` in a thread of its own, given up after ``timeout``
    (a connection that arrives later is closed); a timeout is a
    :class:`~unifydb.base.sql_errors.SQLTimeoutError`. Transient failures are
    retried and a rejected login retried once with fresh credentials
    (:mod:`unifydb.base.retry`), all within the same ``timeout``."""

    def attempt(seconds: float) -> Any:
        args, params = datasource.connect_arguments(dialect, cargs, cparams)
        return call_with_deadline(
            lambda: dialect.connect(*args, **params),
            seconds,
            datasource=datasource.name,
            action="connect",
            discard=lambda late: late.close(),
        )

    try:
        return with_retries(datasource, attempt)
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


def bound_async_connect(
    datasource: SQLDatasource[Any], dialect: Any, cparams: dict[str, Any]
) -> bool:
    """Make SQLAlchemy's async connect go through ``asyncio.wait_for(..., timeout)``
    (its ``async_creator_fn`` hook), so a silent server never holds the task;
    the credentials of each attempt are resolved in a worker thread. False when
    there is nothing to bound (a local database)."""
    if "async_creator_fn" in cparams:
        return False
    connect = resolve_async_connect(datasource)
    if connect is None:
        return False
    kind = datasource.type_name

    async def bounded(*cargs: Any, **kwargs: Any) -> Any:
        import asyncio

        rotating = datasource.rotating_password() is not None

        async def attempt(seconds: float) -> Any:
            if rotating:  # a file, command or token provider may block: not on the loop
                args, params = await asyncio.to_thread(
                    datasource.connect_arguments, dialect, cargs, kwargs
                )
            else:
                args, params = datasource.connect_arguments(dialect, cargs, kwargs)
            try:
                return await asyncio.wait_for(connect(*args, **params), seconds)
            except asyncio.TimeoutError:
                raise DatasourceTimeoutError(
                    "connect (asyncio) did not finish in time", datasource=datasource.name
                ) from None

        started = time.perf_counter()
        try:
            connection = await with_retries_async(datasource, attempt)
        except DatasourceTimeoutError:
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
    return True
