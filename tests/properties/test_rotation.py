"""Credentials rotated while the application runs: no failed query, no restart,
no new engine.

16 threads query through one engine of a PostgreSQL cluster the test owns
(scram-sha-256, so passwords are really checked) and of a throwaway mariadbd,
through mysqlclient (type mysql) and MariaDB Connector/Python (type mariadb).
Mid-run the role's password is changed on the server and in the
``password_file`` (or in what ``password_command`` prints); then the pool's
connections are recycled (``engine.dispose()``, and every few queries a
connection is invalidated), so every new connection must log in with the
new password. Not one query may fail, before or after the change.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.figures import record as record_figure
from tests.helpers import registry_for, unique
from tests.servers.mariadb_server import mariadb_server
from unifydb.base import SQLDatasource

THREADS = 16
#: seconds of load after the change (every thread makes new connections meanwhile)
AFTER_CHANGE = 2.0
#: a loaded 2-CPU machine may take long to start 16 threads and their connections
READY_TIMEOUT = 60.0

pytestmark = [pytest.mark.live, pytest.mark.slow]


def write_atomically(path: Path, secret: str) -> None:
    """How Docker and Kubernetes update a secret: a new file renamed into place."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(secret + "\n")
    os.replace(temporary, path)


@dataclass
class Load:
    """What the worker threads did."""

    queries_before: int = 0
    queries_after: int = 0
    connects_after: int = 0
    failures: list[str] = field(default_factory=list)


def run_load(engine: Any, change: Callable[[], None]) -> Load:
    """THREADS threads querying ``engine``; ``change()`` runs once the pool holds a
    connection for each of them (so no connection is made while the server and
    the file disagree); then the pool is recycled and the threads keep going."""
    load = Load()
    lock = threading.Lock()
    ready = threading.Barrier(THREADS + 1)
    changed = threading.Event()
    stop = threading.Event()

    def count_connect(dbapi_connection: Any, record: Any) -> None:
        if changed.is_set():
            with lock:
                load.connects_after += 1

    event.listen(engine, "connect", count_connect)

    def worker() -> None:
        waited = False
        done = 0
        while not stop.is_set():
            try:
                with engine.connect() as connection:
                    assert connection.execute(text("SELECT 1")).scalar() == 1
                    after = changed.is_set()
                    if not waited:
                        # every thread holds a connection of its own here: the pool
                        # has all 16 before the change, so none is made in between
                        waited = True
                        ready.wait(READY_TIMEOUT)
                    if after and done % 4 == 0:
                        connection.invalidate()  # the next checkout logs in anew
                done += 1
                with lock:
                    if after:
                        load.queries_after += 1
                    else:
                        load.queries_before += 1
            except Exception as error:
                phase = "after" if changed.is_set() else "before"
                with lock:
                    load.failures.append(f"{phase}: {type(error).__name__}: {error}"[:300])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        ready.wait(READY_TIMEOUT)
        change()
        changed.set()
        engine.dispose()  # idle connections are recycled: no restart, same engine
        time.sleep(AFTER_CHANGE)
    finally:
        stop.set()
        for thread in threads:
            thread.join(READY_TIMEOUT)
        event.remove(engine, "connect", count_connect)
    assert not any(thread.is_alive() for thread in threads)
    return load


def check_rotation(datasource: SQLDatasource[Any], change: Callable[[], None], kind: str) -> Load:
    engine = datasource.get_engine()
    load = run_load(engine, change)
    assert load.failures == [], load.failures[:5]
    assert load.queries_before >= THREADS
    assert load.queries_after >= THREADS
    # every connection of the recycled pool logged in again, with the new password
    assert load.connects_after >= THREADS
    assert datasource.get_engine() is engine
    assert engine.url.password is None  # the URL never held the password
    record_figure(f"rotation {kind}: queries run", load.queries_before + load.queries_after)
    record_figure(f"rotation {kind}: new connections after the change", load.connects_after)
    record_figure(f"rotation {kind}: failed queries", len(load.failures))
    return load


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_role(scram_postgres: Any) -> Iterator[tuple[Any, str, Callable[[str], None]]]:
    """A new login role on the scram cluster: (server, role, set_password)."""
    import psycopg
    from psycopg import sql

    role = unique("rot")

    def set_password(password: str) -> None:
        with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )

    with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(scram_postgres.database), sql.Identifier(role)
            )
        )
    set_password("first-Passw0rd")
    yield scram_postgres, role, set_password
    with psycopg.connect(scram_postgres.admin_dsn(), autocommit=True) as admin:
        admin.execute(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}"
            ).format(sql.Literal(role))
        )
        admin.execute(
            sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
                sql.Identifier(scram_postgres.database), sql.Identifier(role)
            )
        )
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def pg_entry(server: Any, role: str, **credential: Any) -> dict[str, Any]:
    return {
        "type": "postgres",
        "host": server.host,
        "port": server.port,
        "database": server.database,
        "username": role,
        "pool_size": THREADS,
        "max_overflow": 0,
        "timeout": 30,
        **credential,
    }


def pg_login_works(server: Any, role: str, password: str) -> bool:
    import psycopg

    try:
        psycopg.connect(
            host=server.host,
            port=server.port,
            dbname=server.database,
            user=role,
            password=password,
            connect_timeout=10,
        ).close()
    except psycopg.OperationalError:
        return False
    return True


def test_postgres_password_file_rotation(tmp_path: Path, pg_role: Any) -> None:
    server, role, set_password = pg_role
    secret = tmp_path / "pg-password"
    write_atomically(secret, "first-Passw0rd")
    registry = registry_for(app=pg_entry(server, role, password_file=str(secret)))
    datasource = registry.get_datasource("app")
    source = datasource.options.password.source

    def change() -> None:
        set_password("second-Passw0rd")
        write_atomically(secret, "second-Passw0rd")

    try:
        check_rotation(datasource, change, "postgres password_file")
    finally:
        registry.close_all()
    assert not pg_login_works(server, role, "first-Passw0rd")
    # read when built and once after the change: not once per connection
    assert source.resolutions <= 3


def test_postgres_password_command_rotation(tmp_path: Path, pg_role: Any) -> None:
    """The command's output is reused for credential_ttl; connections made with a
    stale password are rejected once, then succeed with the command run again."""
    server, role, set_password = pg_role
    secret = tmp_path / "pg-password"
    write_atomically(secret, "first-Passw0rd")
    command = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read().strip())"]
    registry = registry_for(
        app=pg_entry(server, role, password_command=[*command, str(secret)], credential_ttl=3600)
    )
    datasource = registry.get_datasource("app")
    source = datasource.options.password.source

    def change() -> None:
        set_password("second-Passw0rd")
        write_atomically(secret, "second-Passw0rd")

    try:
        check_rotation(datasource, change, "postgres password_command")
    finally:
        registry.close_all()
    # once at the first connect, once after the first rejected login (the TTL is an
    # hour: only the rejection made it run again), not once per rejected connection
    assert 2 <= source.resolutions <= 4


def test_postgres_async_engine_uses_the_new_password(tmp_path: Path, pg_role: Any) -> None:
    server, role, set_password = pg_role
    secret = tmp_path / "pg-password"
    write_atomically(secret, "first-Passw0rd")
    registry = registry_for(app=pg_entry(server, role, password_file=str(secret)))

    async def query() -> int:
        engine = registry.get_async_engine("app")
        async with engine.connect() as connection:
            value = (await connection.execute(text("SELECT 1"))).scalar()
        await engine.dispose()
        return int(value)

    try:
        assert asyncio.run(query()) == 1
        set_password("second-Passw0rd")
        write_atomically(secret, "second-Passw0rd")
        assert asyncio.run(query()) == 1
    finally:
        registry.close_all()


def test_rejected_login_with_a_fixed_password_is_not_retried(pg_role: Any) -> None:
    """A fixed password cannot get better by asking again: one attempt, one error."""
    server, role, _ = pg_role
    registry = registry_for(
        app=pg_entry(server, role, password="wrong-Passw0rd", connect_retries=5)
    )
    engine = registry.get_engine("app")
    attempts = []
    connect = engine.dialect.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        attempts.append(1)
        return connect(*args, **kwargs)

    engine.dialect.connect = counted  # type: ignore[method-assign]
    try:
        with pytest.raises(Exception, match="authentication failed"):
            engine.connect().close()
    finally:
        registry.close_all()
    assert len(attempts) == 1


# ----------------------------------------------------------------------------- MariaDB


@pytest.fixture(scope="module")
def throwaway_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with mariadb_server(tmp_path_factory.mktemp("rotation")) as server:
        yield server


@pytest.mark.parametrize("kind", ["mysql", "mariadb"])
@pytest.mark.parametrize("how", ["password_file", "password_command"])
def test_mariadb_rotation(tmp_path: Path, throwaway_mariadb: Any, kind: str, how: str) -> None:
    import MySQLdb

    server = throwaway_mariadb
    user = unique("rot")
    admin = MySQLdb.connect(host=server.host, port=server.port, user="root", passwd="")
    cursor = admin.cursor()
    cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY 'first-Passw0rd'", (user,))
    secret = tmp_path / "mariadb-password"
    write_atomically(secret, "first-Passw0rd")
    credential: dict[str, Any] = (
        {"password_file": str(secret)}
        if how == "password_file"
        else {"password_command": ["cat", str(secret)], "credential_ttl": 3600}
    )
    registry = registry_for(
        app={
            "type": kind,
            "host": server.host,
            "port": server.port,
            "username": user,
            "pool_size": THREADS,
            "max_overflow": 0,
            "timeout": 30,
            **credential,
        }
    )

    def change() -> None:
        cursor.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY 'second-Passw0rd'", (user,))
        write_atomically(secret, "second-Passw0rd")

    try:
        check_rotation(registry.get_datasource("app"), change, f"{kind} {how}")
    finally:
        registry.close_all()
        cursor.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))
        admin.close()


# ----------------------------------------------------------------------------- a client type


@pytest.fixture(scope="module")
def mongo_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("mongo-rotation"), auth=True) as server:
        yield server


def mongo_set_password(server: Any, user: str, password: str) -> None:
    from pymongo import MongoClient

    with MongoClient(server.admin_url(), serverSelectionTimeoutMS=10_000) as admin:
        admin.admin.command("updateUser", user, pwd=password)


def mongo_entry(server: Any, user: str, **credential: Any) -> dict[str, Any]:
    return {
        "type": "mongodb",
        "host": server.host,
        "port": server.port,
        "username": user,
        "auth_source": "admin",
        "direct_connection": True,
        "timeout": 20,
        **credential,
    }


def test_mongodb_client_is_rebuilt_when_the_password_file_changes(
    tmp_path: Path, mongo_auth: Any
) -> None:
    user = unique("rot")
    mongo_auth.create_user(user, "first-Passw0rd")
    secret = tmp_path / "mongo-password"
    write_atomically(secret, "first-Passw0rd")
    registry = registry_for(app=mongo_entry(mongo_auth, user, password_file=str(secret)))
    try:
        first = registry.get_client("app")
        assert first.admin.command("ping")["ok"] == 1
        assert registry.get_client("app") is first  # unchanged: the same client
        mongo_set_password(mongo_auth, user, "second-Passw0rd")
        write_atomically(secret, "second-Passw0rd")
        second = registry.get_client("app")
        assert second is not first
        assert second.admin.command("ping")["ok"] == 1
        assert second.admin.command("listDatabases")["ok"] == 1  # needs a real login
        assert registry.health_check(["app"])["app"].status == "ok"
    finally:
        registry.close_all()


def test_mongodb_rejected_login_is_retried_once_with_a_fresh_password(
    tmp_path: Path, mongo_auth: Any
) -> None:
    """password_command's cached output is stale (an hour's TTL): the health check's
    login is rejected, the command runs again, a new client logs in."""
    user = unique("rot")
    mongo_auth.create_user(user, "first-Passw0rd")
    secret = tmp_path / "mongo-password"
    write_atomically(secret, "first-Passw0rd")
    registry = registry_for(
        app=mongo_entry(
            mongo_auth, user, password_command=["cat", str(secret)], credential_ttl=3600
        )
    )
    try:
        assert registry.health_check(["app"])["app"].status == "ok"
        registry.get_datasource("app").close()  # a new client next time, same cached password
        mongo_set_password(mongo_auth, user, "second-Passw0rd")
        write_atomically(secret, "second-Passw0rd")
        status = registry.health_check(["app"])["app"]
        assert status.status == "ok", status.detail
        source = registry.get_datasource("app").options.password.source
        assert source.resolutions == 2
    finally:
        registry.close_all()
