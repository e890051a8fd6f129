"""Connection failures of SQL datasources: unifydb errors that are also SQLAlchemy's.

``get_engine(name).connect()`` raises these for a failure to connect (a wrong
password, a closed port, a server that does not answer in time) and for a
connection lost mid-use, so one ``except unifydb.DatasourceConnectionError``
catches every connection failure of every type, while code written for plain
SQLAlchemy (``except sqlalchemy.exc.OperationalError``) keeps working. Errors
in statements (syntax, constraints) stay SQLAlchemy's own.

Defined at module level (importing SQLAlchemy) so that they pickle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError

from unifydb.errors import DatasourceConnectionError, DatasourceTimeoutError

if TYPE_CHECKING:
    from unifydb.base.datasource import Datasource


class SQLConnectionError(DatasourceConnectionError, OperationalError):
    """Connecting to (or staying connected to) a SQL datasource failed."""

    def __init__(
        self,
        message: str,
        *,
        orig: BaseException | None = None,
        statement: str | None = None,
        connection_invalidated: bool = False,
        datasource: str | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        OperationalError.__init__(
            self,
            statement,
            None,
            orig if orig is not None else Exception(message),
            hide_parameters=True,
            connection_invalidated=connection_invalidated,
        )
        DatasourceConnectionError.__init__(self, message, datasource=datasource, key=key, fix=fix)

    def __str__(self) -> str:
        return self._render()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render()!r})"

    def __reduce__(self) -> Any:
        return DatasourceConnectionError.__reduce__(self)


class SQLTimeoutError(DatasourceTimeoutError, SQLConnectionError):
    """A SQL datasource did not answer within its ``timeout``."""


def close_on_checkin(pool: Any) -> None:
    """Connections checked out of a pool being disposed are closed when they
    come back, instead of idling in a pool nobody uses until the garbage
    collector finds it."""
    from sqlalchemy import event

    def close(dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record is not None and dbapi_connection is not None:
            connection_record.invalidate()

    event.listen(pool, "checkin", close)


def sql_error(
    datasource: Datasource[Any],
    action: str,
    error: BaseException | None,
    *,
    timeout: bool = False,
    statement: str | None = None,
    invalidated: bool = False,
) -> SQLConnectionError:
    """``error`` (a DBAPI error, or None for unifydb's own deadline) as a
    :class:`SQLConnectionError`, or a :class:`SQLTimeoutError` when it means
    "no answer in time"; scrubbed of the datasource's secrets."""
    if timeout or (error is not None and datasource.is_timeout(error)):
        cause = f" ({type(error).__name__})" if error is not None else ""
        return SQLTimeoutError(
            datasource.redact(f"{action} did not finish within {datasource.timeout:g} s{cause}"),
            orig=error,
            statement=statement,
            connection_invalidated=invalidated,
            datasource=datasource.name,
            key="timeout",
            fix="check that the server is reachable and answering, "
            "or raise this datasource's 'timeout' setting",
        )
    assert error is not None
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return SQLConnectionError(
        datasource.redact(f"{action} failed: {type(error).__name__}: {detail}".rstrip(": ")),
        orig=error,
        statement=statement,
        connection_invalidated=invalidated,
        datasource=datasource.name,
        fix="check host, port, credentials and that the server is running",
    )


def connection_failure(datasource: Datasource[Any], context: Any) -> BaseException | None:
    """A ``handle_error`` listener's answer: connecting (``context.connection``
    is None) and connections lost mid-use become :func:`sql_error`s; errors of
    statements stay SQLAlchemy's own."""
    original = context.original_exception
    if isinstance(original, SQLConnectionError):
        return None
    if context.connection is not None and not context.is_disconnect:
        return None
    action = "connect" if context.connection is None else "query"
    return sql_error(
        datasource,
        action,
        original,
        statement=context.statement,
        invalidated=bool(context.is_disconnect),
    )
