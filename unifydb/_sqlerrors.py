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

from typing import Any

from sqlalchemy.exc import OperationalError

from .errors import DatasourceConnectionError, DatasourceTimeoutError


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
