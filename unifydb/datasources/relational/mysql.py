"""MySQL through mysqlclient (``mysql+mysqldb``), async via asyncmy."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from unifydb.base import SQLDatasource
from unifydb.options import BaseOptions, ServerSQLOptions


class MySQLFamilyOptions(ServerSQLOptions):
    """Keys MySQL and MariaDB share."""

    port: int | None = Field(3306, ge=1, le=65535)
    unix_socket: str | None = Field(
        None, description="Connect through this socket file instead of TCP."
    )
    ssl_mode: (
        Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] | None
    ) = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    read_timeout: int | None = Field(
        None, ge=1, description="Seconds a single read may take (unset: no limit)."
    )
    write_timeout: int | None = Field(None, ge=1)


class MySQLOptions(MySQLFamilyOptions):
    charset: str = Field("utf8mb4", description="Connection character set.")


class MySQLDatasource(SQLDatasource):
    type_name = "mysql"
    options_model: ClassVar[type[BaseOptions]] = MySQLOptions
    extra = "mysql"
    driver_modules = ("MySQLdb",)
    drivername = "mysql+mysqldb"
    async_drivername = "mysql+asyncmy"
    async_driver_modules = ("asyncmy",)
    url_dialects = frozenset({"mysql"})
    url_drivers = frozenset({"mysqldb", "asyncmy"})
    version_sql = "SELECT VERSION()"
    async_connect_function = "asyncmy:connect"

    @property
    def mysql_options(self) -> MySQLFamilyOptions:
        assert isinstance(self._options, MySQLFamilyOptions)
        return self._options

    def url_query(self) -> dict[str, str]:
        assert isinstance(self._options, MySQLOptions)
        query = {"charset": self._options.charset}
        if self.mysql_options.unix_socket:
            query["unix_socket"] = self.mysql_options.unix_socket
        return query

    def connect_args(self) -> dict[str, Any]:
        options = self.mysql_options
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

    def async_connect_args(self) -> dict[str, Any]:
        options = self.mysql_options
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
