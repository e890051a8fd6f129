"""Helpers and constants shared by the tests: import them from here, never from conftest.

``conftest.py`` (next to this file) holds only fixtures and pytest hooks. Everything a test
module imports by name lives here: the addresses of the machine's PostgreSQL
and MariaDB, admin connections to them, the CI skip rule for servers that
cannot run here, and small builders (``registry_for``, ``build``, ``run_cli``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, quote_plus

import pytest

import unifydb

if TYPE_CHECKING:
    from unifydb.base import Datasource

#: the repository's root (settings.toml, README.md, migrations/, scripts/)
REPO = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- servers here

PG_HOST = os.environ.get("UNIFYDB_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("UNIFYDB_TEST_PG_PORT", "5432"))
PG_ADMIN = os.environ.get("UNIFYDB_TEST_PG_USER", "postgres")
MARIADB_HOST = os.environ.get("UNIFYDB_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("UNIFYDB_TEST_MARIADB_PORT", "3306"))
MARIADB_ADMIN = os.environ.get("UNIFYDB_TEST_MARIADB_USER", "root")
REDIS_HOST = os.environ.get("UNIFYDB_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("UNIFYDB_TEST_REDIS_PORT", "6379"))
#: the database number the tests may use on the machine's Redis (never 0), flushed by them
REDIS_DB = int(os.environ.get("UNIFYDB_TEST_REDIS_DB", "13"))

#: every character that breaks naive URL or connection-string building
NASTY_PASSWORD = "p@ss:w/o?r#d%25&=+;{}'\"é-" + "Ω"


def require_server(host: str, port: int, what: str) -> None:
    """Fail (not skip) when a server this machine is supposed to run is down."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as error:
        pytest.fail(f"{what} at {host}:{port} is unreachable ({error}); start it (see README)")


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def pg_admin() -> Any:
    """An autocommit connection to the machine's PostgreSQL as its superuser."""
    import psycopg

    require_server(PG_HOST, PG_PORT, "PostgreSQL")
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_ADMIN, dbname="postgres", autocommit=True
    )


def mariadb_admin() -> Any:
    """A connection to the machine's MariaDB as root."""
    import MySQLdb

    require_server(MARIADB_HOST, MARIADB_PORT, "MariaDB")
    return MySQLdb.connect(host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_ADMIN, passwd="")


def pg_fields(server: Any, **overrides: Any) -> dict[str, Any]:
    """Settings keys for a throwaway cluster's application user."""
    return {
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "username": server.user,
        "password": server.password,
        **overrides,
    }


# ----------------------------------------------------------------------------- CI skip policy

#: the only reason a test may skip: a server that cannot run on this machine
#: (the conftest's hooks fail a CI run that skipped for any other reason)
EXTERNAL_ONLY = "external server not configured:"


def skip_unless_env(variable: str) -> str:
    """The value of ``variable``; skip when unset (Oracle, SQL Server, a real MongoDB...)."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{EXTERNAL_ONLY} set {variable} to run this against a real server")
    return value


# ----------------------------------------------------------------------------- building datasources

_D = TypeVar("_D", bound="Datasource")


def registry_for(**datasources: dict[str, Any]) -> unifydb.Registry:
    return unifydb.Registry(settings={"datasources": datasources})


def build(
    type_name: str, /, *, name: str = "db", expect: type[Any] | None = None, **options: Any
) -> Any:
    """The datasource ``name`` of type ``type_name`` with ``options``, built (not connected).

    ``expect``: the class it must be an instance of. Backend test modules bind
    their type once, e.g. ``build = partial(helpers.build, "mongodb", expect=...)``.
    """
    datasource = registry_for(**{name: {"type": type_name, **options}}).build(name)
    if expect is not None:
        assert isinstance(datasource, expect)
    return datasource


@contextlib.contextmanager
def opened(datasource: _D) -> Iterator[_D]:
    """``datasource``, closed afterwards."""
    try:
        yield datasource
    finally:
        datasource.close()


def connect_args(datasource: Any) -> tuple[Any, dict[str, Any]]:
    """What SQLAlchemy would hand the DBAPI connect(), without connecting."""
    datasource.initialize()
    engine = datasource.get_engine()
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    return cargs, {**cparams, **datasource.connect_args()}


def parse_odbc(text: str) -> dict[str, str]:
    """Read an ODBC connection string back (the grammar drivers use)."""
    result: dict[str, str] = {}
    index = 0
    while index < len(text):
        key_end = text.index("=", index)
        key = text[index:key_end]
        index = key_end + 1
        if text.startswith("{", index):
            value, index = [], index + 1
            while True:
                close = text.index("}", index)
                value.append(text[index:close])
                if text.startswith("}}", close):
                    value.append("}")
                    index = close + 2
                    continue
                index = close + 1
                break
            result[key] = "".join(value)
        else:
            end = text.find(";", index)
            end = len(text) if end == -1 else end
            result[key] = text[index:end]
            index = end
        if text.startswith(";", index):
            index += 1
    return result


# ----------------------------------------------------------------------------- SQL round trips

UNICODE_SAMPLE = "Grüße, 世界 — emoji 🎉 and quotes ' \""


def round_trip(engine: Any) -> None:
    """Create a table, write a row with UNICODE_SAMPLE and 5,000 characters, read it back."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select

    table = Table(
        "notes",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("title", String(100), nullable=False),
        Column("body", Text),
    )
    table.metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            connection.execute(insert(table), [{"title": UNICODE_SAMPLE, "body": "x" * 5000}])
        with engine.connect() as connection:
            row = connection.execute(select(table.c.title, table.c.body)).one()
        assert row.title == UNICODE_SAMPLE
        assert len(row.body) == 5000
    finally:
        table.metadata.drop_all(engine)


# ----------------------------------------------------------------------------- secrets


def sqlite_file(path: Path) -> str:
    """``path`` as an existing, empty SQLite database: a health check reports a
    missing file instead of creating it."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()
    return str(path)


def assert_no_secret(text: str, secret: str) -> None:
    """``secret`` is in ``text`` in none of its raw and percent-encoded forms."""
    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        assert form not in text, f"secret leaked ({form!r}) in {text!r}"


# ----------------------------------------------------------------------------- processes


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without UNIFYDB_* and DATASOURCE_* variables, plus ``extra``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("UNIFYDB_", "DATASOURCE_"))}
    return {**clean, **(extra or {})}


def run_command(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as a user would, with a clean environment plus ``env``; never raises
    on a non-zero exit."""
    return subprocess.run(
        list(argv),
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_environment(env),
        timeout=timeout,
    )


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The ``unifydb`` command (``python -m unifydb``), run in a subprocess."""
    return run_command(sys.executable, "-m", "unifydb", *args, cwd=cwd, env=env, timeout=timeout)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` every 50 ms until it is true or ``timeout`` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())
