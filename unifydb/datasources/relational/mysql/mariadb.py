"""MariaDB through the official MariaDB Connector/Python (``mariadb+mariadbconnector``).

Settings are MySQL's; SQLAlchemy's ``mariadb`` dialect is used, so MariaDB's
own behaviour (sequences, RETURNING, UUID type) is available. The connector
builds against MariaDB Connector/C: on Debian, ``apt-get install
libmariadb-dev`` before ``pip install 'unifydb[mariadb]'``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from unifydb.options import doc

from .mysql import MySQLFamily, MySQLFamilyOptions

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


class MariaDBOptions(MySQLFamilyOptions, kw_only=True, frozen=True):
    """MySQL's keys; the connector always speaks utf8mb4, so there is no charset."""

    sqlalchemy_dialect: Annotated[
        Literal["mariadb", "mysql"] | None,
        doc(
            "SQLAlchemy's dialect: mariadb (MariaDB-only mode: mariadb_* options) or mysql "
            "(dialect.name 'mysql' and mysql_* options, as libraries and migrations written "
            "for MySQL expect). Default: mariadb, and mysql for unifydb migrate."
        ),
    ] = None


class MariaDBDatasource(MySQLFamily[MariaDBOptions]):
    type_name = "mariadb"
    drivername = "mariadb+mariadbconnector"
    async_drivername = "mariadb+asyncmy"
    url_dialects = frozenset({"mariadb", "mysql"})
    url_drivers = frozenset({"mariadbconnector", "asyncmy"})

    def _build_url(self, drivername: str) -> URL:
        if self.options.sqlalchemy_dialect == "mysql":
            drivername = drivername.replace("mariadb+", "mysql+", 1)
        return super()._build_url(drivername)

    def migration_datasource(self) -> MariaDBDatasource:
        """Foreign migrations are written for MySQL (``mysql_*`` options, checks of
        ``dialect.name == "mysql"``), which MariaDB-only mode would ignore."""
        if self.options.sqlalchemy_dialect is not None:
            return self
        return self.with_options(sqlalchemy_dialect="mysql")

    def url_query(self) -> dict[str, str]:
        if self.options.unix_socket:
            return {"unix_socket": self.options.unix_socket}
        return {}

    def connect_args(self) -> dict[str, Any]:
        options = self.options
        args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(self.timeout))}
        for key in ("read_timeout", "write_timeout", "ssl_ca", "ssl_cert", "ssl_key"):
            if getattr(options, key) is not None:
                args[key] = getattr(options, key)
        if options.ssl_mode in ("required", "verify_ca", "verify_identity") or options.ssl_ca:
            args["ssl"] = True
            args["ssl_verify_cert"] = options.ssl_mode in ("verify_ca", "verify_identity")
        return args

    def apply_statement_timeout(self, dbapi_connection: Any, milliseconds: int) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET SESSION max_statement_time = {milliseconds / 1000:g}")
        finally:
            cursor.close()

    def socket_fd(self, dbapi_connection: Any) -> int | None:
        # the connector has no fileno(); it exposes its socket this way
        try:
            return int(dbapi_connection._get_socket())
        except Exception:  # closed connection: nothing to interrupt
            return None
