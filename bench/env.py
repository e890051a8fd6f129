"""The machine's servers, throwaway databases on them, and registries built for a benchmark.

PostgreSQL (127.0.0.1:5432, user postgres, trust), MariaDB (127.0.0.1:3306,
root without password) and Redis (127.0.0.1:6379) are the servers the test suite uses; the same
``UNIFYDB_TEST_*`` variables move them. Every benchmark that touches them works
in a database of its own (``unifydb_bench_<hex>``), dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.core import BenchError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from unifydb import Registry
    from unifydb.base import SQLDatasource


@dataclass(frozen=True)
class Server:
    what: str
    host: str
    port: int
    user: str

    def require(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=3):
                return
        except OSError as error:
            raise BenchError(
                f"{self.what} at {self.host}:{self.port} is unreachable: {error}"
            ) from None


POSTGRES = Server(
    "PostgreSQL",
    os.environ.get("UNIFYDB_TEST_PG_HOST", "127.0.0.1"),
    int(os.environ.get("UNIFYDB_TEST_PG_PORT", "5432")),
    os.environ.get("UNIFYDB_TEST_PG_USER", "postgres"),
)
MARIADB = Server(
    "MariaDB",
    os.environ.get("UNIFYDB_TEST_MARIADB_HOST", "127.0.0.1"),
    int(os.environ.get("UNIFYDB_TEST_MARIADB_PORT", "3306")),
    os.environ.get("UNIFYDB_TEST_MARIADB_USER", "root"),
)
REDIS = Server(
    "Redis",
    os.environ.get("UNIFYDB_TEST_REDIS_HOST", "127.0.0.1"),
    int(os.environ.get("UNIFYDB_TEST_REDIS_PORT", "6379")),
    "",
)
#: the Redis database the benchmarks (and tests) may use: never 0; keys are removed after
REDIS_DB = int(os.environ.get("UNIFYDB_TEST_REDIS_DB", "13"))


def unique_name(prefix: str = "unifydb_bench") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped (WITH FORCE) afterwards."""
    import psycopg
    from psycopg import sql

    POSTGRES.require()
    name = unique_name()

    def admin() -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=POSTGRES.host,
            port=POSTGRES.port,
            user=POSTGRES.user,
            dbname="postgres",
            autocommit=True,
        )

    with admin() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh MariaDB database, dropped afterwards."""
    import MySQLdb

    MARIADB.require()
    name = unique_name()
    admin = MySQLdb.connect(host=MARIADB.host, port=MARIADB.port, user=MARIADB.user, passwd="")
    try:
        admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield name
        finally:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


def pg_settings(database: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "postgres",
        "host": POSTGRES.host,
        "port": POSTGRES.port,
        "database": database,
        "username": POSTGRES.user,
        **extra,
    }


def mariadb_settings(database: str, type_name: str = "mariadb", **extra: Any) -> dict[str, Any]:
    """MariaDB through type ``mariadb`` (MariaDB Connector) or ``mysql`` (mysqlclient)."""
    return {
        "type": type_name,
        "host": MARIADB.host,
        "port": MARIADB.port,
        "database": database,
        "username": MARIADB.user,
        "password": "",
        **extra,
    }


@contextmanager
def default_registry(datasources: Mapping[str, Mapping[str, Any]]) -> Iterator[Registry]:
    """A Registry on these settings, installed as unifydb's default; closed afterwards."""
    import unifydb

    registry = unifydb.Registry(
        settings={"datasources": {k: dict(v) for k, v in datasources.items()}}
    )
    previous = unifydb.set_default_registry(registry)
    try:
        yield registry
    finally:
        unifydb.set_default_registry(previous)
        registry.close_all()


def sql_datasource(registry: Registry, name: str) -> SQLDatasource[Any]:
    from unifydb.base import SQLDatasource

    datasource = registry.get_datasource(name)
    if not isinstance(datasource, SQLDatasource):
        raise BenchError(f"{name} is not a SQL datasource")
    return datasource


def engine_arguments(datasource: SQLDatasource[Any]) -> dict[str, Any]:
    """The keyword arguments unifydb passes to create_engine (pool settings, connect_args)."""
    return {
        "connect_args": {**datasource.connect_args(), **datasource.options.connect_args},
        **datasource.engine_kwargs(),
    }


def raw_engine(datasource: SQLDatasource[Any], *, password: str | None = None) -> Engine:
    """``create_engine(ds.url(), **the same kwargs)``: what a user would write without
    unifydb (``password``: in the URL, where unifydb resolves it per connection)."""
    from sqlalchemy import create_engine

    url = datasource.url() if password is None else datasource.url().set(password=password)
    return create_engine(url, **engine_arguments(datasource))
