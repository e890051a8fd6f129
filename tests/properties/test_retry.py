"""A database that comes up after the application: ``connect_retries`` with
backoff reaches it without the application doing anything.

The "database" is a port on 127.0.0.1 that refuses connections for 2 s and then
forwards to a real server (the machine's PostgreSQL and MariaDB, a Chroma HTTP
server the module starts): the first attempts are refused, the later ones reach
the server. Without retries the same connect fails at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import MARIADB_HOST, MARIADB_PORT, PG_ADMIN, PG_HOST, PG_PORT, registry_for
from tests.servers.faults import proxy_opening_later
from unifydb.base.retry import Attempts, is_authentication_failure, is_transient_failure
from unifydb.errors import DatasourceConnectionError

DELAY = 2.0
#: generous: a loaded 2-CPU machine; the budget only caps the waiting
TIMEOUT = 30.0
RETRIES = {"connect_retries": 20, "retry_backoff": 0.1, "timeout": TIMEOUT}

pytestmark = pytest.mark.live

SQL_SERVERS = {
    "postgres": (PG_HOST, PG_PORT, {"username": PG_ADMIN, "database": "postgres"}),
    "mysql": (MARIADB_HOST, MARIADB_PORT, {"username": "root"}),
    "mariadb": (MARIADB_HOST, MARIADB_PORT, {"username": "root"}),
}


@pytest.mark.parametrize("kind", sorted(SQL_SERVERS))
def test_engine_reaches_a_database_that_comes_up_later(kind: str) -> None:
    host, port, fields = SQL_SERVERS[kind]
    with proxy_opening_later(host, port, DELAY) as late:
        registry = registry_for(
            app={"type": kind, "host": late.host, "port": late.port, **fields, **RETRIES}
        )
        started = time.monotonic()
        try:
            with registry.get_engine("app").connect() as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
        finally:
            registry.close_all()
        assert late.opened_at is not None
        # it got through only once the port was open, so it did wait and retry
        assert time.monotonic() - started >= DELAY * 0.9


def test_async_engine_reaches_a_database_that_comes_up_later() -> None:
    with proxy_opening_later(PG_HOST, PG_PORT, DELAY) as late:
        registry = registry_for(
            app={
                "type": "postgres",
                "host": late.host,
                "port": late.port,
                "username": PG_ADMIN,
                "database": "postgres",
                **RETRIES,
            }
        )

        async def query() -> int:
            engine = registry.get_async_engine("app")
            try:
                async with engine.connect() as connection:
                    return int((await connection.execute(text("SELECT 1"))).scalar_one())
            finally:
                await engine.dispose()

        try:
            assert asyncio.run(query()) == 1
        finally:
            registry.close_all()
        assert late.opened_at is not None


def test_without_retries_a_refused_connect_fails_at_once() -> None:
    with proxy_opening_later(PG_HOST, PG_PORT, 60) as late:
        registry = registry_for(
            app={
                "type": "postgres",
                "host": late.host,
                "port": late.port,
                "username": PG_ADMIN,
                "timeout": TIMEOUT,
            }
        )
        started = time.monotonic()
        try:
            with pytest.raises(DatasourceConnectionError) as caught:
                registry.get_engine("app").connect()
        finally:
            registry.close_all()
        assert caught.value.datasource == "app"
        assert time.monotonic() - started < TIMEOUT / 2


def test_retries_stop_within_the_timeout() -> None:
    """A port that never opens: the retries give up within ``timeout``, not later."""
    with proxy_opening_later(PG_HOST, PG_PORT, 600) as late:
        registry = registry_for(
            app={
                "type": "postgres",
                "host": late.host,
                "port": late.port,
                "username": PG_ADMIN,
                "connect_retries": 100,
                "retry_backoff": 0.2,
                "timeout": 2,
            }
        )
        started = time.monotonic()
        try:
            with pytest.raises(DatasourceConnectionError):
                registry.get_engine("app").connect()
        finally:
            registry.close_all()
        elapsed = time.monotonic() - started
        assert 0.5 < elapsed < 2 + 1.5  # it kept trying, and stopped at the budget


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.chroma_http import chroma_http

    with chroma_http(tmp_path_factory.mktemp("chroma-retry")) as server:
        yield server


def test_client_reaches_a_server_that_comes_up_later(chroma_server: Any) -> None:
    with proxy_opening_later(chroma_server.host, chroma_server.port, DELAY) as late:
        registry = registry_for(
            vectors={"type": "chroma", "host": late.host, "port": late.port, **RETRIES}
        )
        try:
            client = registry.get_client("vectors")
            assert client.heartbeat() > 0
        finally:
            registry.close_all()
        assert late.opened_at is not None


def test_client_without_retries_fails_at_once(chroma_server: Any) -> None:
    with proxy_opening_later(chroma_server.host, chroma_server.port, 60) as late:
        registry = registry_for(
            vectors={"type": "chroma", "host": late.host, "port": late.port, "timeout": TIMEOUT}
        )
        started = time.monotonic()
        try:
            with pytest.raises(DatasourceConnectionError):
                registry.get_client("vectors")
        finally:
            registry.close_all()
        assert time.monotonic() - started < TIMEOUT / 2


# ----------------------------------------------------------------------------- offline


class _Stub:
    """Stands in for a datasource in the backoff arithmetic (no server involved)."""

    name = "stub"
    timeout = 100.0

    class options:
        connect_retries = 4
        retry_backoff = 1.0

    def is_authentication_failure(self, error: BaseException) -> bool:
        return is_authentication_failure(error)

    def is_transient_failure(self, error: BaseException) -> bool:
        return is_transient_failure(error)

    def refresh_credentials(self) -> bool:
        return False


def test_backoff_doubles_with_jitter_and_counts_retries() -> None:
    attempts = Attempts(_Stub())  # type: ignore[arg-type]
    pauses = [attempts.after_failure(ConnectionRefusedError()) for _ in range(5)]
    assert pauses[-1] is None  # four retries, then it gives up
    for number, pause in enumerate(pauses[:-1]):
        assert pause is not None
        base = 2.0**number
        assert base / 2 <= pause <= base


def test_what_counts_as_transient_and_as_a_rejected_login() -> None:
    assert is_transient_failure(ConnectionRefusedError(111, "Connection refused"))
    assert is_transient_failure(
        OSError("connection to server failed: the database system is starting up")
    )
    assert not is_transient_failure(ValueError('database "nope" does not exist'))
    login = OSError('FATAL:  password authentication failed for user "app"')
    assert is_authentication_failure(login)
    assert not is_transient_failure(login)
    assert is_authentication_failure(OSError(1045, "Access denied for user 'app'@'host'"))
