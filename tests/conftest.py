"""Shared fixtures: a clean environment per test, and the machine's real servers.

PostgreSQL (127.0.0.1:5432, trust auth) and MariaDB (127.0.0.1:3306, root
without password) run on every development and CI machine of this project;
live tests use them directly and fail, never skip, when they are unreachable.
Throwaway servers (TLS PostgreSQL, MongoDB-wire, Cassandra, Chroma) are started
by fixtures from ``tests/servers``.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unifydb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `tests.servers` imports without installing tests

PG_HOST = os.environ.get("UNIFYDB_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("UNIFYDB_TEST_PG_PORT", "5432"))
PG_ADMIN = os.environ.get("UNIFYDB_TEST_PG_USER", "postgres")
MARIADB_HOST = os.environ.get("UNIFYDB_TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("UNIFYDB_TEST_MARIADB_PORT", "3306"))
MARIADB_ADMIN = os.environ.get("UNIFYDB_TEST_MARIADB_USER", "root")

#: every character that breaks naive URL or connection-string building
NASTY_PASSWORD = "p@ss:w/o?r#d%25&=+;{}'\"é-" + "Ω"

_KEEP = ("UNIFYDB_TEST_",)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No settings or variables leak in from the machine, and nothing leaks out."""
    for variable in list(os.environ):
        if variable.startswith(("UNIFYDB_", "DATASOURCE_")) and not variable.startswith(_KEEP):
            monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    unifydb.set_default_registry(None)
    yield
    previous = unifydb.set_default_registry(None)
    if previous is not None:
        previous.close_all()


def require_server(host: str, port: int, what: str) -> None:
    """Fail (not skip) when a server this machine is supposed to run is down."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as error:
        pytest.fail(f"{what} at {host}:{port} is unreachable ({error}); start it (see README)")


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


# ----------------------------------------------------------------------------- PostgreSQL


def pg_admin() -> Any:
    import psycopg

    require_server(PG_HOST, PG_PORT, "PostgreSQL")
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_ADMIN, dbname="postgres", autocommit=True
    )


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    from psycopg import sql

    name = unique("unifydb_t")
    with pg_admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with pg_admin() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def pg_settings(pg_database: str) -> dict[str, Any]:
    return {
        "type": "postgres",
        "host": PG_HOST,
        "port": PG_PORT,
        "database": pg_database,
        "username": PG_ADMIN,
    }


# ----------------------------------------------------------------------------- MariaDB


def mariadb_admin() -> Any:
    import MySQLdb

    require_server(MARIADB_HOST, MARIADB_PORT, "MariaDB")
    return MySQLdb.connect(host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_ADMIN, passwd="")


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh MariaDB database, dropped afterwards."""
    name = unique("unifydb_t")
    admin = mariadb_admin()
    try:
        admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield name
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def mariadb_user(mariadb_database: str) -> Iterator[tuple[str, str]]:
    """A MariaDB user with NASTY_PASSWORD and all rights on the test database."""
    user = unique("u")
    admin = mariadb_admin()
    cursor = admin.cursor()
    try:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, NASTY_PASSWORD))
            cursor.execute(f"GRANT ALL ON `{mariadb_database}`.* TO %s@%s", (user, host))
        yield user, NASTY_PASSWORD
    finally:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
        admin.close()


# ----------------------------------------------------------------------------- throwaway PostgreSQL


@pytest.fixture(scope="session")
def scram_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A throwaway cluster on plain TCP with scram-sha-256: passwords are really checked."""
    from tests.servers.tls_postgres import plain_postgres

    with plain_postgres(tmp_path_factory.mktemp("pg-plain"), password=NASTY_PASSWORD) as server:
        yield server


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A throwaway cluster that accepts TCP logins only over TLS (self-signed CA)."""
    from tests.servers.tls_postgres import tls_postgres

    with tls_postgres(tmp_path_factory.mktemp("pg-tls"), password=NASTY_PASSWORD) as server:
        yield server


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


# ----------------------------------------------------------------------------- network faults


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A 127.0.0.1 port that accepts TCP connections and never sends a byte."""
    from tests.servers.faults import hanging_listener

    with hanging_listener() as listener:
        yield listener.port


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening."""
    from tests.servers import faults

    return faults.closed_port()


def registry_for(**datasources: dict[str, Any]) -> unifydb.Registry:
    return unifydb.Registry(settings={"datasources": datasources})


# ----------------------------------------------------------------------------- CI skip policy

#: the only reason a test may skip: a server that cannot run on this machine
EXTERNAL_ONLY = "external server not configured:"
_unexpected_skips: list[str] = []


def skip_unless_env(variable: str) -> str:
    """The value of ``variable``; skip when unset (Oracle, SQL Server, a real MongoDB...)."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{EXTERNAL_ONLY} set {variable} to run this against a real server")
    return value


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if EXTERNAL_ONLY not in reason:
            _unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.figures import FIGURES

    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # in CI a backend that runs on this machine must be tested, never skipped
    if os.environ.get("CI") and _unexpected_skips and exitstatus == 0:
        print("\nunexpected skips in CI:\n  " + "\n  ".join(_unexpected_skips))
        session.exitstatus = 1
