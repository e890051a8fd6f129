"""Twins of SQL datasources: a database per run and worker on the same server
(an Oracle schema, an Athena schema), or a temp file for SQLite and DuckDB.

Server twins are created and dropped over an autocommit connection of the
configured account, or of ``admin_url``'s when the ini option names one (the
application's account then gets the twin: OWNER on PostgreSQL, GRANT ALL on
MySQL/MariaDB, its own schema on Oracle).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import text

from .twins import Twin, TwinContext

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unifydb.base import Datasource


class ServerDatabaseTwin(Twin):
    """A database of its own on the original's server (``database`` changes)."""

    #: the database the admin connection opens (None: none)
    maintenance_database: ClassVar[str | None] = None
    #: longest database name the server takes
    name_limit: ClassVar[int] = 63
    #: SQL that lists databases whose names start with unifydb_test_
    list_sql: ClassVar[str] = ""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        options = context.datasource.options
        self.original: str = getattr(options, "database", None) or context.datasource.type_name
        self.database = context.twin_name(self.original, limit=self.name_limit)
        self._admin: Datasource[Any] | None = None

    def changes(self) -> dict[str, Any]:
        # a test database has no replicas: reads go where the writes went
        return {"database": self.database, "replicas": []}

    def admin(self) -> Datasource[Any]:
        if self._admin is None:
            self._admin = self.context.admin(
                database=self.maintenance_database, isolation_level="AUTOCOMMIT", replicas=[]
            )
        return self._admin

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        with self.admin().get_engine().connect() as connection:
            yield connection

    def server(self) -> str:
        return self.admin().target()

    def check(self) -> None:
        status = self.admin().health_check()
        if not status.ok:
            status.raise_for_status()

    def quote(self, connection: Connection, name: str) -> str:
        return str(connection.dialect.identifier_preparer.quote_identifier(name))

    def create(self) -> None:
        with self.connection() as connection:
            self.create_database(connection, self.database)

    def create_database(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f"CREATE DATABASE {self.quote(connection, name)}")

    def drop(self) -> None:
        with self.connection() as connection:
            self.drop_database(connection, self.database)

    def drop_database(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.quote(connection, name)}")

    def listed(self, connection: Connection) -> list[str]:
        return [str(row[0]) for row in connection.execute(text(self.list_sql))]

    def sweep(self) -> list[str]:
        with self.connection() as connection:
            stale = self.context.stale(self.listed(connection))
            for name in stale:
                self.drop_database(connection, name)
        return stale

    def where(self) -> str:
        return f"database {self.database} on {self.server()}"

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()


class PostgresTwin(ServerDatabaseTwin):
    """PostgreSQL (and Supabase): a database; workers of an xdist run clone a
    migrated template database (``CREATE DATABASE ... TEMPLATE``)."""

    maintenance_database = "postgres"
    supports_template = True
    list_sql = r"SELECT datname FROM pg_database WHERE datname LIKE 'unifydb\_test\_%'"

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        self.template = context.template_name(self.original, limit=self.name_limit)

    def create_database(
        self, connection: Connection, name: str, *, template: str | None = None
    ) -> None:
        statement = f"CREATE DATABASE {self.quote(connection, name)}"
        if template is not None:
            statement += f" TEMPLATE {self.quote(connection, template)}"
        owner = self._owner()
        if owner:
            statement += f" OWNER {self.quote(connection, owner)}"
        connection.exec_driver_sql(statement)

    def _owner(self) -> str | None:
        """The application's account, when an admin account creates its databases."""
        if self.context.admin_url is None:
            return None
        user = getattr(self.context.datasource.options, "username", None)
        admin_user = getattr(self.admin().options, "username", None)
        return user if user and user != admin_user else None

    def drop_database(self, connection: Connection, name: str) -> None:
        quoted = self.quote(connection, name)
        if (connection.dialect.server_version_info or (0,)) >= (13,):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
            return
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")

    @contextlib.contextmanager
    def _template_lock(self) -> Iterator[Connection]:
        # one worker at a time makes, clones or drops the template
        key = int(hashlib.sha1(self.template.encode()).hexdigest()[:15], 16)
        with self.connection() as connection:
            with self.context.timed("lock"):
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield connection
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})

    def create_from_template(self, migrate: Callable[[dict[str, Any]], None]) -> None:
        with self._template_lock() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": self.template}
            ).first()
            if found is None:
                with self.context.timed("template"):
                    self.create_database(connection, self.template)
                    try:
                        migrate({**self.changes(), "database": self.template})
                    except BaseException:
                        self.drop_database(connection, self.template)
                        raise
            with self.context.timed("clone"):
                self.create_database(connection, self.database, template=self.template)

    def drop_template(self) -> None:
        with self._template_lock() as connection:
            self.drop_database(connection, self.template)


class MySQLTwin(ServerDatabaseTwin):
    """MySQL and MariaDB: a database with the original's character set and collation."""

    name_limit = 64
    list_sql = r"SHOW DATABASES LIKE 'unifydb\_test\_%'"

    def create_database(self, connection: Connection, name: str) -> None:
        found = connection.execute(
            text(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
            ),
            {"name": self.original},
        ).first()
        statement = f"CREATE DATABASE IF NOT EXISTS {self.quote(connection, name)}"
        if found is not None:
            statement += f" CHARACTER SET {found[0]} COLLATE {found[1]}"
        connection.exec_driver_sql(statement)
        user = getattr(self.context.datasource.options, "username", None)
        if self.context.admin_url is not None and user:
            hosts = connection.execute(
                text("SELECT Host FROM mysql.user WHERE User = :user"), {"user": user}
            ).all()
            for (host,) in hosts:
                account = f"{_literal(user)}@{_literal(host)}"
                connection.exec_driver_sql(
                    f"GRANT ALL PRIVILEGES ON {self.quote(connection, name)}.* TO {account}"
                )


def _literal(value: str) -> str:
    """A MySQL string literal (for account names, which take no bind parameters)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class SQLServerTwin(ServerDatabaseTwin):
    """SQL Server: a database, dropped after its sessions are thrown out."""

    maintenance_database = "master"
    name_limit = 128
    list_sql = "SELECT name FROM sys.databases WHERE name LIKE 'unifydb[_]test[_]%'"

    def drop_database(self, connection: Connection, name: str) -> None:
        quoted = self.quote(connection, name)
        literal = name.replace("'", "''")
        connection.exec_driver_sql(
            f"IF DB_ID(N'{literal}') IS NOT NULL BEGIN "
            f"ALTER DATABASE {quoted} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; "
            f"DROP DATABASE {quoted}; END"
        )


class OracleTwin(ServerDatabaseTwin):
    """Oracle: a schema (a user with a random password) per run and worker;
    creating it takes an account with CREATE USER (usually ``admin_url``'s)."""

    name_limit = 128  # Oracle 12.2 and later
    list_sql = r"SELECT username FROM all_users WHERE username LIKE 'UNIFYDB\_TEST\_%' ESCAPE '\'"
    #: what the application's schema may do in its twin
    privileges = (
        "CREATE SESSION, CREATE TABLE, CREATE SEQUENCE, CREATE VIEW, CREATE PROCEDURE, "
        "CREATE TRIGGER, CREATE SYNONYM, CREATE TYPE, UNLIMITED TABLESPACE"
    )

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        user = getattr(context.datasource.options, "username", None) or "app"
        self.original = user
        self.database = context.twin_name(user, limit=self.name_limit)
        self.password = "P" + secrets.token_hex(12)

    def changes(self) -> dict[str, Any]:
        return {"username": self.database, "password": self.password, "replicas": []}

    def admin(self) -> Datasource[Any]:
        if self._admin is None:
            self._admin = self.context.admin(isolation_level="AUTOCOMMIT", replicas=[])
        return self._admin

    def create_database(self, connection: Connection, name: str) -> None:
        quoted = self.quote(connection, name.upper())
        connection.exec_driver_sql(f'CREATE USER {quoted} IDENTIFIED BY "{self.password}"')
        connection.exec_driver_sql(f"GRANT {self.privileges} TO {quoted}")

    def drop_database(self, connection: Connection, name: str) -> None:
        quoted = self.quote(connection, name.upper())
        found = connection.execute(
            text("SELECT 1 FROM all_users WHERE username = :name"), {"name": name.upper()}
        ).first()
        if found is not None:
            connection.exec_driver_sql(f"DROP USER {quoted} CASCADE")

    def listed(self, connection: Connection) -> list[str]:
        return [name.lower() for name in super().listed(connection)]

    def where(self) -> str:
        return f"schema {self.database.upper()} on {self.server()}"


class SQLiteTwin(Twin):
    """SQLite: a file in the worker's temp folder (also for ``:memory:``, so every
    connection sees the same database)."""

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        database = str(getattr(context.datasource.options, "database", "") or "")
        original = Path(database).stem if database not in ("", ":memory:") else "memory"
        self.path = context.folder / f"{context.twin_name(original)}.sqlite3"

    def changes(self) -> dict[str, Any]:
        return {"database": str(self.path), "create": True, "create_dirs": True}

    def create(self) -> None:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(self.path).close()

    #: the files beside the database file that go with it
    suffixes: ClassVar[tuple[str, ...]] = ("", "-wal", "-shm", "-journal")

    def drop(self) -> None:
        for suffix in self.suffixes:
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def where(self) -> str:
        return f"file {self.path}"


class DuckDBTwin(SQLiteTwin):
    """DuckDB: a file in the worker's temp folder (also for ``:memory:`` and
    MotherDuck's ``md:`` databases), opened read-write."""

    suffixes = ("", ".wal")

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        database = str(getattr(context.datasource.options, "database", "") or "")
        original = Path(database.removeprefix("md:")).stem if database else "memory"
        self.path = context.folder / f"{context.twin_name(original or 'memory')}.duckdb"

    def changes(self) -> dict[str, Any]:
        return {
            "database": str(self.path),
            "create": True,
            "read_only": False,
            "access_mode": "automatic",
            "motherduck_token": None,
        }

    def create(self) -> None:
        # duckdb_engine creates the file on first connect; only its folder is needed
        self.path.parent.mkdir(parents=True, exist_ok=True)


class AthenaTwin(ServerDatabaseTwin):
    """Athena: a schema (a Glue database) per run and worker in the same catalog,
    dropped with its tables. The data files tables point at (``LOCATION``) stay
    in S3: Athena drops only what the catalog says about them."""

    name_limit = 255

    def __init__(self, context: TwinContext) -> None:
        super().__init__(context)
        self.original = getattr(context.datasource.options, "schema_name", None) or "default"
        self.database = context.twin_name(self.original, limit=self.name_limit)

    def changes(self) -> dict[str, Any]:
        return {"schema_name": self.database}

    def admin(self) -> Datasource[Any]:
        if self._admin is None:
            self._admin = self.context.admin()
        return self._admin

    def create_database(self, connection: Connection, name: str) -> None:
        # twin names are [a-z0-9_]: no quoting needed, and Athena's DDL quotes with backticks
        connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}`")

    def drop_database(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}` CASCADE")

    def listed(self, connection: Connection) -> list[str]:
        rows = connection.exec_driver_sql("SHOW DATABASES LIKE 'unifydb_test_.*'")
        return [str(row[0]) for row in rows]

    def where(self) -> str:
        return f"schema {self.database} on {self.server()}"
