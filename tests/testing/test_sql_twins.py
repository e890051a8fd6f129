"""Twins of SQL datasources on the machine's PostgreSQL and MariaDB, and SQLite.

Each test makes twins through a :class:`TwinRegistry` (the plugin's registry)
and lists the server's databases directly to see what exists.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from tests.helpers import PG_HOST, PG_PORT, mariadb_admin, pg_admin, unique
from tests.testing.support import (
    MARIADB,
    PG,
    finished,
    mariadb_databases,
    pg_databases,
    write_migrations,
)
from unifydb.testing import naming
from unifydb.testing.naming import RunId

from .test_naming import dead_pid


def stamp(hours_ago: float = 0) -> str:
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    return when.strftime("%y%m%d%H%M%S")


def test_postgres_twin_is_made_on_first_use_and_dropped(twins: Any) -> None:
    registry = twins({"orders": {**PG, "database": "orders_never_created"}})
    assert not any(name.startswith(naming.PREFIX) for name in registry.datasources())
    engine = registry.get_engine("orders")
    database = engine.url.database
    assert database.startswith(naming.PREFIX) and "_gw7_orders_never_created" in database
    assert database in pg_databases()
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE notes (id int)")
    report = registry.reports["orders"]
    assert {"check", "create", "build", "total"} <= set(report.seconds)
    assert finished(registry) == []
    assert database not in pg_databases()


def test_postgres_leftovers_of_dead_runs_are_swept_live_ones_kept(twins: Any) -> None:
    here = naming.host_tag()
    dead = f"unifydb_test_{stamp()}_{here}p{dead_pid()}_gw0_orders"
    live = f"unifydb_test_{stamp()}_{here}p{naming.os.getppid()}_gw0_orders"
    aged = f"unifydb_test_{stamp(hours_ago=48)}_ffffk1_gw0_orders"
    with pg_admin() as admin:
        for name in (dead, live, aged):
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        registry = twins({"orders": {**PG, "database": "orders"}})
        registry.get_engine("orders")
        assert sorted(registry.reports["orders"].swept) == sorted([dead, aged])
        databases = pg_databases()
        assert live in databases and dead not in databases and aged not in databases
    finally:
        with pg_admin() as admin:
            for name in (dead, live, aged):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_postgres_workers_clone_one_migrated_template(twins: Any, tmp_path: Path) -> None:
    migrations = write_migrations(tmp_path / "migrations", "orders")
    run = RunId.new()
    options: dict[str, Any] = {
        "run": run,
        "migrate": True,
        "migrations": {"*": migrations},
        "use_templates": True,
    }
    settings = {"orders": {**PG, "database": "orders"}}
    first = twins(settings, worker="gw0", **options)
    second = twins(settings, worker="gw1", **options)
    for registry in (first, second):
        assert inspect(registry.get_engine("orders")).has_table("orders")
    template = run.name(naming.TEMPLATE_WORKER, "orders")
    assert template in pg_databases()
    assert "template" in first.reports["orders"].seconds
    assert "template" not in second.reports["orders"].seconds  # cloned, not migrated
    assert "clone" in second.reports["orders"].seconds
    names = {first.get_engine("orders").url.database, second.get_engine("orders").url.database}
    assert len(names) == 2
    finished(first)
    finished(second)
    assert not (names | {template}) & pg_databases()


def test_postgres_admin_url_creates_twins_the_application_owns(twins: Any) -> None:
    role = unique("app")
    with pg_admin() as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        registry = twins(
            {"orders": {**PG, "username": role, "database": "orders"}},
            admin_urls={"orders": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"},
        )
        with registry.get_engine("orders").begin() as connection:
            owner = connection.scalar(
                text(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database "
                    "WHERE datname = current_database()"
                )
            )
            connection.exec_driver_sql("CREATE TABLE mine (id int)")
        assert owner == role
        assert finished(registry) == []
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_an_unreachable_server_is_a_connection_error_remembered(
    twins: Any, closed_port: int
) -> None:
    from unifydb.errors import DatasourceConnectionError

    registry = twins({"orders": {**PG, "port": closed_port, "database": "orders", "timeout": 2}})
    with pytest.raises(DatasourceConnectionError):
        registry.get_engine("orders")
    with pytest.raises(DatasourceConnectionError):  # at once, not another timeout
        registry.get_datasource("orders")
    assert "failed" in (registry.reports["orders"].error or "")


def test_mariadb_twin_keeps_the_original_charset_and_is_migrated(
    twins: Any, tmp_path: Path
) -> None:
    original = unique("shop")
    admin = mariadb_admin()
    admin.cursor().execute(f"CREATE DATABASE `{original}` CHARACTER SET latin1")
    try:
        registry = twins(
            {"inventory": {**MARIADB, "database": original}},
            migrate=True,
            migrations={"inventory": write_migrations(tmp_path / "m", "stock")},
        )
        engine = registry.get_engine("inventory")
        database = engine.url.database
        with engine.connect() as connection:
            charset = connection.scalar(
                text(
                    "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = :name"
                ),
                {"name": database},
            )
        assert charset == "latin1"
        assert inspect(engine).has_table("stock")
        assert "migrate" in registry.reports["inventory"].seconds
        assert database in mariadb_databases()
        assert finished(registry) == []
        assert database not in mariadb_databases()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{original}`")
        admin.close()


def test_mariadb_admin_url_grants_the_twin_to_the_application(twins: Any) -> None:
    user = unique("app")
    admin = mariadb_admin()
    cursor = admin.cursor()
    for host in ("127.0.0.1", "localhost"):
        cursor.execute("CREATE USER %s@%s IDENTIFIED BY 'pw'", (user, host))
    try:
        registry = twins(
            {"inventory": {**MARIADB, "username": user, "password": "pw", "database": "inv"}},
            admin_urls={"inventory": "mariadb://root@127.0.0.1:3306/"},
        )
        with registry.get_engine("inventory").begin() as connection:
            connection.exec_driver_sql("CREATE TABLE mine (id int)")
            assert connection.scalar(text("SELECT CURRENT_USER()")).startswith(user)
        assert finished(registry) == []
    finally:
        for host in ("127.0.0.1", "localhost"):
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
        admin.close()


def test_sqlite_twin_is_a_temp_file_even_for_memory(twins: Any, tmp_path: Path) -> None:
    registry = twins(
        {
            "audit": {"type": "sqlite", "database": str(tmp_path / "real.sqlite3")},
            "cache": {"type": "sqlite", "database": ":memory:"},
        }
    )
    paths = []
    for name in ("audit", "cache"):
        engine = registry.get_engine(name)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (id int)")
        path = Path(engine.url.database)
        assert path.parent == tmp_path / "twins" and path.is_file()
        paths.append(path)
    assert not (tmp_path / "real.sqlite3").exists()
    assert finished(registry) == []
    assert not any(path.exists() for path in paths)


def test_kept_twins_stay_and_say_where(twins: Any) -> None:
    registry = twins({"orders": {**PG, "database": "orders"}}, keep=True, run=RunId.new(keep=True))
    database = registry.get_engine("orders").url.database
    try:
        finished(registry)
        report = registry.reports["orders"]
        assert report.kept and database in report.where
        assert database in pg_databases()
        assert "kept" in report.line()
        assert naming.parse(database).kept  # type: ignore[union-attr]
    finally:
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
