"""MySQL through mysqlclient (``mysql+mysqldb``), async via asyncmy."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

from unifydb.base import SQLDatasource
from unifydb.options import Port, PositiveInt, ServerSQLOptions, doc


class MySQLFamilyOptions(ServerSQLOptions, kw_only=True, frozen=True):
    """Keys MySQL and MariaDB share."""

    port: Port | None = 3306
    unix_socket: Annotated[str | None, doc("Connect through this socket file instead of TCP.")] = (
        None
    )
    ssl_mode: (
        Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] | None
    ) = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    read_timeout: Annotated[
        PositiveInt | None, doc("Seconds a single read may take (unset: no limit).")
    ] = None
    write_timeout: PositiveInt | None = None


class MySQLOptions(MySQLFamilyOptions, kw_only=True, frozen=True):
    charset: Annotated[str, doc("Connection character set.")] = "utf8mb4"


MyOptionsT = TypeVar("MyOptionsT", bound=MySQLFamilyOptions)


class MySQLFamily(SQLDatasource[MyOptionsT]):
    """What MySQL and MariaDB share: the async driver (asyncmy) and its TLS context."""

    async_drivername = "mysql+asyncmy"
    async_connect_function = "asyncmy:connect"
    version_sql = "SELECT VERSION()"
    measures_replica_lag = True

    def replica_state(
        self, dbapi_connection: Any, primary_position: str | None = None
    ) -> tuple[str | None, float | None]:
        version = _execute(dbapi_connection, self.version_sql)
        try:
            lag = replica_lag(dbapi_connection)
        finally:
            dbapi_connection.rollback()
        return (None if not version else str(version[0])), lag

    def async_connect_args(self) -> dict[str, Any]:
        options = self.options
        args: dict[str, Any] = {"connect_timeout": self.timeout}
        if options.ssl_ca or options.ssl_mode in ("required", "verify_ca", "verify_identity"):
            import ssl

            context = ssl.create_default_context(cafile=options.ssl_ca)
            if options.ssl_mode in ("required",):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if options.ssl_cert:
                context.load_cert_chain(options.ssl_cert, options.ssl_key)
            args["ssl"] = context
        return args


#: the lag column of SHOW REPLICA STATUS: MariaDB's name, then MySQL's (8.0.22+)
_LAG_COLUMNS = ("Seconds_Behind_Master", "Seconds_Behind_Source")


def replica_lag(dbapi_connection: Any) -> float | None:
    """Seconds a MySQL or MariaDB replica is behind its primary: 0 for a server that
    replicates from nothing, None while replication is stopped or broken."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SHOW REPLICA STATUS")
        row = cursor.fetchone()
        columns = [column[0] for column in cursor.description or ()]
    finally:
        cursor.close()
    if row is None:
        return 0.0
    for name in _LAG_COLUMNS:
        if name in columns:
            value = row[columns.index(name)]
            return None if value is None else float(value)
    return None


def _execute(dbapi_connection: Any, statement: str) -> Any:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
        return cursor.fetchone() if cursor.description else None
    finally:
        cursor.close()


class MySQLDatasource(MySQLFamily[MySQLOptions]):
    type_name = "mysql"
    drivername = "mysql+mysqldb"
    url_dialects = frozenset({"mysql"})
    url_drivers = frozenset({"mysqldb", "asyncmy"})

    def apply_statement_timeout(self, dbapi_connection: Any, milliseconds: int) -> None:
        # MySQL limits SELECTs in milliseconds; a MariaDB server (which the mysql
        # type reaches as well) limits every statement, in seconds
        version = _execute(dbapi_connection, "SELECT VERSION()")
        if version and "mariadb" in str(version[0]).lower():
            _execute(dbapi_connection, f"SET SESSION max_statement_time = {milliseconds / 1000:g}")
        else:
            _execute(dbapi_connection, f"SET SESSION max_execution_time = {int(milliseconds)}")

    def url_query(self) -> dict[str, str]:
        query = {"charset": self.options.charset}
        if self.options.unix_socket:
            query["unix_socket"] = self.options.unix_socket
        return query

    def connect_args(self) -> dict[str, Any]:
        options = self.options
        # the client library covers connect and the server's first answer with this
        args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(self.timeout))}
        for key in ("read_timeout", "write_timeout"):
            if getattr(options, key) is not None:
                args[key] = getattr(options, key)
        ssl = {
            name: value
            for name, value in (
                ("ca", options.ssl_ca),
                ("cert", options.ssl_cert),
                ("key", options.ssl_key),
            )
            if value
        }
        if ssl:
            args["ssl"] = ssl
        if options.ssl_mode:
            args["ssl_mode"] = options.ssl_mode.upper()
        return args
