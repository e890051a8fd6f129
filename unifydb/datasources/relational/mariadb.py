"""MariaDB through the official MariaDB Connector/Python (``mariadb+mariadbconnector``).

Settings are MySQL's; SQLAlchemy's ``mariadb`` dialect is used, so MariaDB's
own behaviour (sequences, RETURNING, UUID type) is available.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from unifydb.options import BaseOptions

from .mysql import MySQLDatasource, MySQLFamilyOptions


class MariaDBOptions(MySQLFamilyOptions):
    """MySQL's keys; the connector always speaks utf8mb4, so there is no charset."""


class MariaDBDatasource(MySQLDatasource):
    type_name = "mariadb"
    options_model: ClassVar[type[BaseOptions]] = MariaDBOptions
    extra = "mariadb"
    driver_modules = ("mariadb",)
    drivername = "mariadb+mariadbconnector"
    async_drivername = "mariadb+asyncmy"
    url_dialects = frozenset({"mariadb", "mysql"})
    url_drivers = frozenset({"mariadbconnector", "asyncmy"})

    def url_query(self) -> dict[str, str]:
        if self.mysql_options.unix_socket:
            return {"unix_socket": self.mysql_options.unix_socket}
        return {}

    def connect_args(self) -> dict[str, Any]:
        options = self.mysql_options
        args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(self.timeout))}
        for key in ("read_timeout", "write_timeout", "ssl_ca", "ssl_cert", "ssl_key"):
            if getattr(options, key) is not None:
                args[key] = getattr(options, key)
        if options.ssl_mode in ("required", "verify_ca", "verify_identity") or options.ssl_ca:
            args["ssl"] = True
            args["ssl_verify_cert"] = options.ssl_mode in ("verify_ca", "verify_identity")
        return args

    def socket_fd(self, dbapi_connection: Any) -> int | None:
        # the connector has no fileno(); it exposes its socket this way
        try:
            return int(dbapi_connection._get_socket())
        except Exception:  # closed connection: nothing to interrupt
            return None
