"""Reliability: concurrency, fork safety, bounded time and least surprise.

Each test states one guarantee of docs/reliability.md. They run against the
machine's PostgreSQL and MariaDB and throwaway listeners; nothing is mocked.
How health checks of many datasources are orchestrated (threads, ``unifydb
check``'s processes) is in tests/unit/test_health.py.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import text

import unifydb
from tests.helpers import (
    MARIADB_ADMIN,
    MARIADB_HOST,
    MARIADB_PORT,
    PG_ADMIN,
    PG_HOST,
    PG_PORT,
    pg_admin,
    registry_for,
    sqlite_file,
    unique,
    wait_until,
)
from tests.servers.faults import closed_port, hanging_listener, stalling_proxy
from unifydb.datasources.relational.sqlite import SQLiteDatasource
from unifydb.errors import DatasourceTimeoutError


def unifydb_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("unifydb")]


# ----------------------------------------------------------------------------- concurrency


class CountingSQLite(SQLiteDatasource):
    """A real SQLite datasource that counts how often it is constructed."""

    type_name = "counting-sqlite"
    created: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with CountingSQLite.lock:
            CountingSQLite.created += 1
        time.sleep(0.05)  # widen the window in which a second creation could slip in
        super().__init__(*args, **kwargs)


@pytest.fixture
def counting_type() -> Iterator[type[CountingSQLite]]:
    CountingSQLite.created = 0
    unifydb.register("counting-sqlite", CountingSQLite)
    yield CountingSQLite
    unifydb.registry.unregister("counting-sqlite")


def test_64_threads_create_exactly_one_datasource(counting_type: type[CountingSQLite]) -> None:
    registry = registry_for(db={"type": "counting-sqlite"})
    barrier = threading.Barrier(64)
    engines: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            engines.append(registry.get_engine("db"))
        except BaseException as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counting_type.created == 1
    assert len({id(engine) for engine in engines}) == 1
    registry.close_all()


def test_64_threads_get_one_native_client(tmp_path: Path) -> None:
    registry = registry_for(docs={"type": "chroma", "path": str(tmp_path / "chroma")})
    barrier = threading.Barrier(64)
    clients: list[Any] = []

    def worker() -> None:
        barrier.wait()
        clients.append(registry.get_client("docs"))

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(clients) == 64
    assert len({id(client) for client in clients}) == 1
    registry.close_all()


@pytest.mark.live
def test_32_threads_through_a_small_pool_leak_nothing(pg_settings: dict[str, Any]) -> None:
    application = unique("unifydb_pool")
    registry = registry_for(
        pg={
            **pg_settings,
            "pool_size": 4,
            "max_overflow": 0,
            "pool_timeout": 30,
            "application_name": application,
        }
    )
    engine = registry.get_engine("pg")
    errors: list[BaseException] = []
    done = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + 3.0

    def worker() -> None:
        while time.monotonic() < stop_at:
            try:
                with engine.connect() as connection:
                    assert connection.execute(text("select 1")).scalar() == 1
                with lock:
                    done[0] += 1
            except BaseException as error:  # collected and asserted on below
                errors.append(error)
                return

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert done[0] > 32
    pool = engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert pool.checkedin() <= 4  # type: ignore[attr-defined]
    with pg_admin() as admin:
        server_side = admin.execute(
            "select count(*) from pg_stat_activity where application_name = %s", (application,)
        ).fetchone()
    assert server_side is not None and server_side[0] <= 4
    registry.close_all()


# ----------------------------------------------------------------------------- fork safety


def backend_pid(registry: unifydb.Registry) -> int:
    with registry.get_engine("pg").connect() as connection:
        return int(connection.execute(text("select pg_backend_pid()")).scalar_one())


@pytest.mark.live
def test_os_fork_child_gets_its_own_connections(pg_settings: dict[str, Any]) -> None:
    registry = registry_for(pg={**pg_settings, "pool_size": 1, "max_overflow": 0})
    parent_pid = backend_pid(registry)  # a pooled connection the child inherits
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.write(writer, str(backend_pid(registry)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    child_answer = os.read(reader, 64).decode()
    os.close(reader)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert int(child_answer) != parent_pid  # the child connected on its own
    assert backend_pid(registry) == parent_pid  # and left the parent's connection intact
    registry.close_all()


def _pid_in_child(settings: dict[str, Any]) -> tuple[int, int]:
    registry = _forked_registry[0]
    assert registry is not None
    return os.getpid(), backend_pid(registry)


_forked_registry: list[unifydb.Registry | None] = [None]


@pytest.mark.live
def test_multiprocessing_fork_pool(pg_settings: dict[str, Any]) -> None:
    registry = registry_for(pg={**pg_settings, "pool_size": 1, "max_overflow": 0})
    _forked_registry[0] = registry
    parent_pid = backend_pid(registry)
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        results = pool.map(_pid_in_child, [pg_settings] * 4)
    assert all(pid != parent_pid for _, pid in results)
    assert backend_pid(registry) == parent_pid
    _forked_registry[0] = None
    registry.close_all()


# ----------------------------------------------------------------------------- bounded time


@pytest.mark.live
@pytest.mark.parametrize("type_name", ["postgres", "mysql", "mariadb"])
def test_hang_after_connect_is_bounded_and_released(type_name: str) -> None:
    """The server stops answering mid-session (a proxy stops forwarding): a health
    check on the pooled connection still returns within its timeout, and the
    thread it abandoned ends once its socket is shut down."""
    port = PG_PORT if type_name == "postgres" else MARIADB_PORT
    user = PG_ADMIN if type_name == "postgres" else MARIADB_ADMIN
    host = PG_HOST if type_name == "postgres" else MARIADB_HOST
    with stalling_proxy(host, port) as proxy:
        registry = registry_for(
            db={
                "type": type_name,
                "host": proxy.host,
                "port": proxy.port,
                "username": user,
                "timeout": 2,
            }
        )
        datasource = registry.get_datasource("db")
        assert datasource.health_check().ok  # one connection now sits in the pool
        proxy.stall()
        started = time.monotonic()
        status = datasource.health_check()
        elapsed = time.monotonic() - started
        assert status.status == "timeout"
        assert isinstance(status.error, DatasourceTimeoutError)
        assert 1.8 <= elapsed < 3.0
        # the abandoned probe (and the reconnect it may start) end within another timeout
        assert wait_until(lambda: not unifydb_threads(), timeout=4.5), unifydb_threads()
        proxy.resume()
        assert datasource.health_check().ok
        registry.close_all()


def test_async_health_check_never_blocks_the_event_loop() -> None:
    with hanging_listener() as (host, port):
        registry = registry_for(db={"type": "postgres", "host": host, "port": port, "timeout": 2})
        datasource = registry.get_datasource("db")

        async def scenario() -> tuple[Any, int]:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.05)
                    ticks += 1

            task = asyncio.create_task(ticker())
            status = await datasource.health_check_async()
            task.cancel()
            return status, ticks

        status, ticks = asyncio.run(scenario())
    assert status.status == "timeout"
    assert ticks >= 25  # ~40 possible in 2 s: the loop kept running throughout
    registry.close_all()


# ----------------------------------------------------------------------------- least surprise


@pytest.mark.live
def test_close_all_releases_every_server_connection(
    pg_settings: dict[str, Any], mariadb_database: str, mariadb_user: tuple[str, str]
) -> None:
    application = unique("unifydb_close")
    user, password = mariadb_user
    registry = registry_for(
        pg={**pg_settings, "application_name": application},
        maria={
            "type": "mariadb",
            "host": MARIADB_HOST,
            "port": MARIADB_PORT,
            "database": mariadb_database,
            "username": user,
            "password": password,
        },
    )
    for name in ("pg", "maria"):
        connections = [registry.get_engine(name).connect() for _ in range(3)]
        for connection in connections:
            connection.execute(text("select 1"))
        for connection in connections:
            connection.close()  # back to the pool, still open on the server

    def pg_count() -> int:
        with pg_admin() as admin:
            row = admin.execute(
                "select count(*) from pg_stat_activity where application_name = %s", (application,)
            ).fetchone()
        return int(row[0]) if row else -1

    def maria_count() -> int:
        from tests.helpers import mariadb_admin

        admin = mariadb_admin()
        try:
            cursor = admin.cursor()
            cursor.execute(
                "select count(*) from information_schema.processlist where user = %s", (user,)
            )
            return int(cursor.fetchone()[0])
        finally:
            admin.close()

    assert pg_count() >= 1 and maria_count() >= 1
    registry.close_all()
    assert wait_until(lambda: pg_count() == 0 and maria_count() == 0, timeout=5)
    registry.close_all()  # twice is harmless


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "postgres", "host": "127.0.0.1", "port": "closed"},
        {"type": "mongodb", "url": "mongodb://127.0.0.1:closed/?directConnection=true"},
        {
            "type": "cassandra",
            "contact_points": "127.0.0.1",
            "port": "closed",
            "protocol_version": 3,
        },
        {"type": "milvus", "uri": "http://127.0.0.1:closed"},
        {"type": "chroma", "host": "127.0.0.1", "port": "closed"},
    ],
    ids=lambda settings: settings["type"],
)
def test_failed_connection_leaves_no_threads_behind(settings: dict[str, Any]) -> None:
    port = closed_port()
    concrete = {
        key: (value.replace("closed", str(port)) if isinstance(value, str) else value)
        for key, value in settings.items()
    }
    if concrete.get("port") == str(port):
        concrete["port"] = port
    registry = registry_for(db={**concrete, "timeout": 2})
    datasource = registry.get_datasource("db")
    datasource.health_check()  # imports the driver and lets it start what it starts
    registry.close_all()
    time.sleep(0.5)
    baseline = threading.active_count()
    datasource = registry.get_datasource("db")
    status = datasource.health_check()
    assert status.status in ("error", "timeout"), status
    registry.close_all()
    assert wait_until(lambda: threading.active_count() <= baseline, timeout=8), [
        thread.name for thread in threading.enumerate()
    ]


def test_close_and_initialize_twice_are_harmless_for_every_kind(tmp_path: Path) -> None:
    registry = registry_for(
        lite={"type": "sqlite", "database": sqlite_file(tmp_path / "a.db")},
        docs={"type": "chroma", "path": str(tmp_path / "chroma")},
        vec={"type": "milvus", "uri": str(tmp_path / "m.db")},
    )
    for name in ("lite", "docs", "vec"):
        datasource = registry.get_datasource(name)
        datasource.initialize()
        datasource.initialize()
        assert datasource.health_check().ok
        datasource.close()
        datasource.close()
        assert datasource.health_check().ok  # usable again after close
    registry.close_all()
    registry.close_all()
