"""Shared fixtures and pytest hooks: a clean environment per test, the machine's
real servers, and the CI skip policy.

PostgreSQL (127.0.0.1:5432, trust auth), MariaDB (127.0.0.1:3306, root
without password) and Redis (127.0.0.1:6379, no password) run on every
development and CI machine of this project; live tests use them directly and
fail, never skip, when they are unreachable. Throwaway servers (TLS PostgreSQL,
MongoDB-wire, Cassandra, Chroma, redis-server) are started by fixtures from
``tests/servers``.

Only fixtures and hooks live here: helpers and constants that test modules
import (``registry_for``, ``unique``, ``PG_HOST``, ``NASTY_PASSWORD``,
``skip_unless_env``...) are in ``tests/helpers.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unifydb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # so `tests.servers` imports without installing tests

from tests.helpers import (  # noqa: E402 - needs the path above
    EXTERNAL_ONLY,
    NASTY_PASSWORD,
    PG_ADMIN,
    PG_HOST,
    PG_PORT,
    mariadb_admin,
    pg_admin,
    unique,
)

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


# ----------------------------------------------------------------------------- PostgreSQL


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


# ----------------------------------------------------------------------------- PGlite (pgvector)


@pytest.fixture(scope="session")
def pglite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """PostgreSQL with pgvector (PGlite over the wire protocol), once per session;
    ~5-15 s to start. Settings for it: ``pglite_server.settings()``."""
    from tests.servers.pglite import pglite

    with pglite(tmp_path_factory.mktemp("pglite")) as server:
        yield server


# ----------------------------------------------------------------------------- throwaway Redis


@pytest.fixture(scope="session")
def redis_throwaway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A redis-server of the tests' own, to restart and kill (the machine's stays up)."""
    from tests.servers.redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


# ----------------------------------------------------------------------------- AWS APIs


@pytest.fixture(scope="session")
def moto_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """moto's server mode: a real HTTP endpoint speaking the AWS APIs, one per session."""
    from tests.servers.moto_aws import moto_aws as start_moto

    with start_moto(tmp_path_factory.mktemp("moto"), check_signatures=False) as server:
        yield server


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


# ----------------------------------------------------------------------------- CI skip policy

_unexpected_skips: list[str] = []


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
            shown = f"{value:.2f}" if isinstance(value, float) else f"{value}"
            terminalreporter.write_line(f"{name}: {shown}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # in CI a backend that runs on this machine must be tested, never skipped
    if os.environ.get("CI") and _unexpected_skips and exitstatus == 0:
        print("\nunexpected skips in CI:\n  " + "\n  ".join(_unexpected_skips))
        session.exitstatus = 1
