"""Faults: servers restarted or killed while a worker keeps using the datasource.

Each server is a throwaway one the test owns (tests/servers), so restarting and
killing it disturbs nothing else. A worker loop writes through the registry's
engine/client; the test restarts the server under it and then checks that
(1) once the server is back every operation succeeds again with the same
engine/client (pool pre-ping, driver reconnects), (2) every write whose commit
returned success is there afterwards, and (3) failures while the server is
down are clear errors that come back within the timeout, never hangs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text

from tests.figures import record
from tests.helpers import pg_fields, registry_for
from tests.servers.mariadb_server import mariadb_server
from tests.servers.mongo_wire import mongo_wire
from tests.servers.tls_postgres import plain_postgres

pytestmark = pytest.mark.live


@dataclass
class Worker:
    """Calls ``write(n)`` in a loop; records what succeeded, what failed and how long each took."""

    write: Callable[[int], None]
    committed: list[int] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    successes_at: list[float] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                self.write(n)
            except Exception as error:  # every failure is recorded and asserted on
                self.failures.append((time.monotonic(), f"{type(error).__name__}: {error}"))
                time.sleep(0.05)
            else:
                self.committed.append(n)
                self.successes_at.append(time.monotonic())
            self.slowest = max(self.slowest, time.monotonic() - started)

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)
        assert not self._thread.is_alive(), "the worker hung"


def exercise_restart(
    name: str,
    server: Any,
    write: Callable[[int], None],
    stored: Callable[[], set[int]],
    timeout: float,
) -> None:
    worker = Worker(write)
    worker.start()
    time.sleep(1.0)
    before = len(worker.committed)
    server.restart()
    back_at = time.monotonic()
    time.sleep(2.0)
    worker.stop()
    assert before > 0
    after = [at for at in worker.successes_at if at > back_at]
    assert len(after) > 5, "no writes succeeded after the restart"
    # once the first write after the restart went through, none failed again
    late_failures = [message for at, message in worker.failures if at > after[0]]
    assert late_failures == []
    assert worker.slowest < timeout + 2.0
    assert set(worker.committed) <= stored()
    record("faults injected (server restarts under load)")
    record("rows checked after restarts", len(worker.committed))
    record("writes that failed while a server restarted", len(worker.failures))


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def owned_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with plain_postgres(tmp_path_factory.mktemp("pg-faults")) as server:
        yield server


def test_postgres_restart_under_load(owned_postgres: Any) -> None:
    registry = registry_for(pg={"type": "postgres", **pg_fields(owned_postgres), "timeout": 3})
    engine = registry.get_engine("pg")
    with engine.begin() as connection:
        connection.execute(text("create table if not exists writes (n integer primary key)"))
        connection.execute(text("truncate writes"))

    def write(n: int) -> None:
        with registry.get_engine("pg").begin() as connection:
            connection.execute(text("insert into writes values (:n)"), {"n": n})

    def stored() -> set[int]:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("select n from writes"))}

    exercise_restart("postgres", owned_postgres, write, stored, timeout=3)
    assert registry.get_engine("pg") is engine  # never re-created
    registry.close_all()


def test_postgres_killed_gives_clear_errors_not_hangs(owned_postgres: Any) -> None:
    registry = registry_for(pg={"type": "postgres", **pg_fields(owned_postgres), "timeout": 3})
    datasource = registry.get_datasource("pg")
    assert datasource.health_check().ok
    owned_postgres.kill()
    try:
        started = time.monotonic()
        status = datasource.health_check()
        assert status.status == "error"
        assert status.error is not None and status.error.datasource == "pg"
        assert time.monotonic() - started < 4
    finally:
        owned_postgres.start()
    assert datasource.health_check().ok
    registry.close_all()


# ----------------------------------------------------------------------------- MariaDB


@pytest.mark.parametrize("type_name", ["mariadb", "mysql"])
def test_mariadb_restart_under_load(type_name: str, tmp_path: Any) -> None:
    with mariadb_server(tmp_path / "maria") as server:
        registry = registry_for(
            db={
                "type": type_name,
                "host": server.host,
                "port": server.port,
                "username": server.user,
                "database": "mysql",
                "timeout": 3,
            }
        )
        engine = registry.get_engine("db")
        with engine.begin() as connection:
            connection.execute(text("create database if not exists faults"))
            connection.execute(
                text("create table faults.writes (n integer primary key) engine=InnoDB")
            )

        def write(n: int) -> None:
            with registry.get_engine("db").begin() as connection:
                connection.execute(text("insert into faults.writes values (:n)"), {"n": n})

        def stored() -> set[int]:
            with engine.connect() as connection:
                return {row[0] for row in connection.execute(text("select n from faults.writes"))}

        exercise_restart(type_name, server, write, stored, timeout=3)
        assert registry.get_engine("db") is engine
        server.kill()
        record("faults injected (server killed)")
        status = registry.get_datasource("db").health_check()
        assert status.status in ("error", "timeout")
        registry.close_all()


# ----------------------------------------------------------------------------- MongoDB wire


def test_mongodb_restart_under_load(tmp_path: Any) -> None:
    with mongo_wire(tmp_path / "mongo") as server:
        registry = registry_for(
            docs={"type": "mongodb", "url": server.url(), "database": "faults", "timeout": 3}
        )
        client = registry.get_client("docs")
        collection = registry.get_datasource("docs").database["writes"]  # type: ignore[attr-defined]

        def write(n: int) -> None:
            collection.insert_one({"_id": n})

        def stored() -> set[int]:
            return {document["_id"] for document in collection.find({}, {"_id": 1})}

        exercise_restart("mongodb", server, write, stored, timeout=3)
        assert registry.get_client("docs") is client
        server.kill()
        record("faults injected (server killed)")
        started = time.monotonic()
        status = registry.get_datasource("docs").health_check()
        assert status.status in ("error", "timeout")
        assert time.monotonic() - started < 4.5
        registry.close_all()


# ----------------------------------------------------------------------------- Redis


def test_redis_restart_under_load(redis_throwaway: Any) -> None:
    registry = registry_for(
        kv={"type": "redis", "url": redis_throwaway.url(db=1), "timeout": 3, "retries": 1}
    )
    client = registry.get_client("kv")
    client.delete("writes")

    def write(n: int) -> None:
        registry.get_client("kv").sadd("writes", n)

    def stored() -> set[int]:
        return {int(member) for member in client.smembers("writes")}

    exercise_restart("redis", redis_throwaway, write, stored, timeout=3)
    assert registry.get_client("kv") is client  # the same client reconnected by itself
    registry.close_all()


def test_redis_killed_gives_clear_errors_not_hangs(redis_throwaway: Any) -> None:
    registry = registry_for(kv={"type": "redis", "url": redis_throwaway.url(), "timeout": 3})
    datasource = registry.get_datasource("kv")
    client = registry.get_client("kv")
    assert datasource.health_check().ok
    redis_throwaway.kill()
    record("faults injected (server killed)")
    try:
        started = time.monotonic()
        status = datasource.health_check()
        assert status.status == "error", status
        assert status.error is not None and status.error.datasource == "kv"
        with pytest.raises(Exception, match=r"(?i)connect"):
            client.ping()
        assert time.monotonic() - started < 8
    finally:
        redis_throwaway.start()
    assert datasource.health_check().ok
    assert client.ping() is True
    registry.close_all()
