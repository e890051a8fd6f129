"""Microsoft SQL Server through pyodbc (``mssql+pyodbc``) or pymssql (``mssql+pymssql``).

With pyodbc an ODBC driver must be installed on the machine: Microsoft's
"ODBC Driver 18 for SQL Server" (the default ``driver``) or FreeTDS. If the
named driver is missing, the error lists the drivers that are installed.
Secrets and values with ``;`` or ``}`` are brace-quoted by SQLAlchemy's pyodbc
connector, so they survive the ODBC connection string intact.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Annotated, Any, Literal

from unifydb.base import SQLDatasource
from unifydb.errors import DriverNotInstalledError
from unifydb.options import OptionError, Port, ServerSQLOptions, doc

DEFAULT_ODBC_DRIVER = "ODBC Driver 18 for SQL Server"
#: the ODBC connection attribute that takes an Entra ID access token
_SQL_COPT_SS_ACCESS_TOKEN = 1256


class SQLServerOptions(ServerSQLOptions, kw_only=True, frozen=True):
    port: Port | None = 1433
    driver: Annotated[str, doc("ODBC driver name (pyodbc only).")] = DEFAULT_ODBC_DRIVER
    dbapi: Annotated[Literal["pyodbc", "pymssql"], doc("Python driver to use.")] = "pyodbc"
    encrypt: Annotated[
        bool | Literal["strict"] | None,
        doc("ODBC Encrypt: true, false or strict (driver default when unset)."),
    ] = None
    trust_server_certificate: Annotated[
        bool | None, doc("Accept a self-signed server certificate.")
    ] = None
    odbc_options: Annotated[
        dict[str, str],
        doc(
            "Further ODBC connection-string keywords ('odbc_connect' gives the "
            "whole connection string instead)."
        ),
    ] = {}
    dsn: Annotated[
        str | None, doc("An ODBC data source name (odbc.ini) instead of host/port/driver.")
    ] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dsn and self.host:
            raise OptionError("give host (with port and driver) or dsn, not both")
        if not self.dsn and not self.host and not _odbc_connect(self.odbc_options):
            raise OptionError("host (or an ODBC dsn) is required")


class SQLServerDatasource(SQLDatasource[SQLServerOptions]):
    type_name = "sqlserver"
    drivername = "mssql+pyodbc"
    async_drivername = "mssql+aioodbc"
    url_dialects = frozenset({"mssql", "sqlserver"})
    url_drivers = frozenset({"pyodbc", "pymssql", "aioodbc"})
    version_sql = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))"
    async_connect_function = "aioodbc:connect"

    @property
    def uses_pymssql(self) -> bool:
        return self.options.dbapi == "pymssql"

    def url(self) -> Any:
        return self._build_url("mssql+pymssql" if self.uses_pymssql else self.drivername)

    def url_query(self) -> dict[str, str]:
        if self.uses_pymssql:
            return {}
        options = self.options
        query = {"driver": options.driver}
        if options.encrypt is not None:
            query["Encrypt"] = (
                "strict" if options.encrypt == "strict" else ("yes" if options.encrypt else "no")
            )
        if options.trust_server_certificate is not None:
            query["TrustServerCertificate"] = "yes" if options.trust_server_certificate else "no"
        query.update(options.odbc_options)
        return query

    def odbc_connection_string(self) -> str:
        """The ODBC connection string pyodbc gets, built here rather than by
        SQLAlchemy: SQLAlchemy reads a host without a database as a DSN name
        (``dsn=<host>``), dropping the driver and the port. Values with ``;``,
        ``}`` or a leading ``{`` are brace-quoted."""
        options = self.options
        whole = _odbc_connect(options.odbc_options)
        if whole is not None:
            return whole
        parts: list[str] = []
        if options.dsn:
            parts.append(f"DSN={_quoted(options.dsn)}")
        else:
            parts.append("DRIVER=" + _braced(options.driver))
            server = options.host or ""
            if options.port:
                server += f",{options.port}"
            parts.append(f"Server={_quoted(server)}")
            if options.database:
                parts.append(f"Database={_quoted(options.database)}")
        if self.uses_access_token():
            pass  # the token goes in attrs_before (prepare_connect), not in the string
        elif options.username:
            parts.append(f"UID={_quoted(options.username)}")
            password = options.password.get_secret_value() if options.password else ""
            if password:
                parts.append(f"PWD={_quoted(password)}")
        else:
            parts.append("Trusted_Connection=Yes")
        for key, value in self.url_query().items():
            if key != "driver":
                parts.append(f"{key}={_quoted(value)}")
        return ";".join(parts)

    def uses_access_token(self) -> bool:
        """``auth = "azure_entra"`` over ODBC: the token is an access token
        (SQL_COPT_SS_ACCESS_TOKEN), not a password."""
        return not self.uses_pymssql and self.options.auth is not None

    def prepare_connect(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if self.uses_pymssql:
            return
        if self.uses_access_token() and self.options.password is not None:
            token = self.options.password.get_secret_value().encode("utf-16-le")
            # SQL_COPT_SS_ACCESS_TOKEN: the token's length, then the token, UTF-16-LE
            cparams["attrs_before"] = {
                _SQL_COPT_SS_ACCESS_TOKEN: struct.pack(f"<I{len(token)}s", len(token), token)
            }
        if "dsn" in cparams:  # aioodbc takes the connection string as a keyword
            cparams["dsn"] = self.odbc_connection_string()
            # aioodbc runs pyodbc in an executor; in asyncio's default one, a connect
            # stuck in the ODBC driver would keep asyncio.run() from ever returning
            cparams.setdefault("executor", _daemon_executor())
        else:
            cargs[:] = [self.odbc_connection_string()]

    def _target(self) -> str:
        options = self.options
        if options.dsn:
            return f"mssql+pyodbc://{options.username or ''}@ (ODBC DSN {options.dsn!r})"
        return super()._target()

    def connect_args(self) -> dict[str, Any]:
        seconds = max(1, math.ceil(self.timeout))
        if self.uses_pymssql:
            return {"login_timeout": seconds}
        # pyodbc's login timeout; our own deadline still bounds the call
        return {"timeout": seconds}

    def async_connect_args(self) -> dict[str, Any]:
        return {"timeout": max(1, math.ceil(self.timeout))}

    def apply_statement_timeout(self, dbapi_connection: Any, milliseconds: int) -> None:
        # the query timeout of pyodbc (SQL_ATTR_QUERY_TIMEOUT) and pymssql is in
        # whole seconds; 0 means none
        seconds = math.ceil(milliseconds / 1000)
        connection = getattr(dbapi_connection, "_connection", dbapi_connection)
        if self.uses_pymssql:
            connection._conn.query_timeout = seconds
        else:
            connection.timeout = seconds

    def bound_statement(self, dbapi_connection: Any, timeout: float) -> None:
        if not self.uses_pymssql:
            # pyodbc's query timeout (SQL_ATTR_QUERY_TIMEOUT), in whole seconds
            dbapi_connection.timeout = max(1, math.ceil(timeout))

    def require_driver(self) -> None:
        super().require_driver()
        if self.uses_pymssql or self.options.dsn or _odbc_connect(self.options.odbc_options):
            return  # the DSN or the connection string names its driver
        import pyodbc

        installed = pyodbc.drivers()
        wanted = self.options.driver
        if wanted not in installed:
            listing = ", ".join(repr(name) for name in installed) or "none"
            raise DriverNotInstalledError(
                f"the ODBC driver {wanted!r} is not installed (installed ODBC drivers: {listing})",
                extra=self.extra,
                datasource=self.name,
                key="driver",
                fix="install Microsoft's msodbcsql18 package, or set 'driver' to an installed "
                "driver (e.g. 'FreeTDS' from Debian's tdsodbc), or set dbapi = 'pymssql'",
            )


def _quoted(value: str) -> str:
    """An ODBC connection-string value, brace-quoted when it needs to be."""
    if ";" in value or "}" in value or value.startswith("{"):
        return _braced(value)
    return value


def _braced(value: str) -> str:
    return "{" + value.replace("}", "}}") + "}"


def _odbc_connect(odbc_options: dict[str, str]) -> str | None:
    return next(
        (value for key, value in odbc_options.items() if key.lower() == "odbc_connect"), None
    )


@functools.cache
def _daemon_executor() -> Any:
    """An executor running each call in a daemon thread, which nobody waits for at exit."""
    import concurrent.futures
    import threading

    class DaemonExecutor(concurrent.futures.Executor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def run() -> None:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as error:
                    future.set_exception(error)

            threading.Thread(target=run, name="unifydb:odbc", daemon=True).start()
            return future

    return DaemonExecutor()
