"""Microsoft SQL Server through pyodbc (``mssql+pyodbc``) or pymssql (``mssql+pymssql``).

With pyodbc an ODBC driver must be installed on the machine: Microsoft's
"ODBC Driver 18 for SQL Server" (the default ``driver``) or FreeTDS. If the
named driver is missing, the error lists the drivers that are installed.
Secrets and values with ``;`` or ``}`` are brace-quoted by SQLAlchemy's pyodbc
connector, so they survive the ODBC connection string intact.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from unifydb.base import SQLDatasource
from unifydb.errors import DriverNotInstalledError
from unifydb.options import BaseOptions, ServerSQLOptions

DEFAULT_ODBC_DRIVER = "ODBC Driver 18 for SQL Server"


class SQLServerOptions(ServerSQLOptions):
    port: int | None = Field(1433, ge=1, le=65535)
    driver: str = Field(DEFAULT_ODBC_DRIVER, description="ODBC driver name (pyodbc only).")
    dbapi: Literal["pyodbc", "pymssql"] = Field("pyodbc", description="Python driver to use.")
    encrypt: bool | Literal["strict"] | None = Field(
        None, description="ODBC Encrypt: true, false or strict (driver default when unset)."
    )
    trust_server_certificate: bool | None = Field(
        None, description="Accept a self-signed server certificate."
    )
    odbc_options: dict[str, str] = Field(
        default_factory=dict, description="Further ODBC connection-string keywords."
    )


class SQLServerDatasource(SQLDatasource):
    type_name = "sqlserver"
    options_model: ClassVar[type[BaseOptions]] = SQLServerOptions
    extra = "sqlserver"
    driver_modules = ("pyodbc",)
    drivername = "mssql+pyodbc"
    async_drivername = "mssql+aioodbc"
    async_driver_modules = ("aioodbc", "pyodbc")
    url_dialects = frozenset({"mssql", "sqlserver"})
    url_drivers = frozenset({"pyodbc", "pymssql", "aioodbc"})
    version_sql = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))"

    @property
    def mssql_options(self) -> SQLServerOptions:
        assert isinstance(self._options, SQLServerOptions)
        return self._options

    @property
    def uses_pymssql(self) -> bool:
        return self.mssql_options.dbapi == "pymssql"

    def url(self) -> Any:
        return self._build_url("mssql+pymssql" if self.uses_pymssql else self.drivername)

    def required_modules(self) -> tuple[str, ...]:
        return ("pymssql",) if self.uses_pymssql else self.driver_modules

    def url_query(self) -> dict[str, str]:
        if self.uses_pymssql:
            return {}
        options = self.mssql_options
        query = {"driver": options.driver}
        if options.encrypt is not None:
            query["Encrypt"] = (
                "strict" if options.encrypt == "strict" else ("yes" if options.encrypt else "no")
            )
        if options.trust_server_certificate is not None:
            query["TrustServerCertificate"] = "yes" if options.trust_server_certificate else "no"
        query.update(options.odbc_options)
        return query

    def connect_args(self) -> dict[str, Any]:
        seconds = max(1, math.ceil(self.timeout))
        if self.uses_pymssql:
            return {"login_timeout": seconds}
        # pyodbc's login timeout; our own deadline still bounds the call
        return {"timeout": seconds}

    def async_connect_args(self) -> dict[str, Any]:
        return {"timeout": max(1, math.ceil(self.timeout))}

    def bound_statement(self, dbapi_connection: Any, timeout: float) -> None:
        if not self.uses_pymssql:
            # pyodbc's query timeout (SQL_ATTR_QUERY_TIMEOUT), in whole seconds
            dbapi_connection.timeout = max(1, math.ceil(timeout))

    def require_driver(self) -> None:
        super().require_driver()
        if self.uses_pymssql:
            return
        import pyodbc

        installed = pyodbc.drivers()
        wanted = self.mssql_options.driver
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
