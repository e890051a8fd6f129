"""The duckdb type, live: DuckDB runs embedded, in files under the test's temp dir.

One in-memory database per datasource shared by its whole pool (threads
included) and kept until close(); files created by a first connect but never
by a health check; read-only files; threads, memory_limit, config and
extensions reaching DuckDB; the ORBIT keys; the migration lock and Alembic.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import UNICODE_SAMPLE, build, opened, registry_for
from unifydb.errors import ConfigurationError, DatasourceConnectionError, UnsupportedOperationError


def scalar(datasource: Any, sql: str) -> Any:
    with datasource.get_engine().connect() as connection:
        return connection.execute(text(sql)).scalar()


def test_memory_is_one_database_shared_by_the_pool_and_threads() -> None:
    with opened(build("duckdb")) as datasource:
        with datasource.get_engine().begin() as connection:
            connection.execute(text("CREATE TABLE t (i INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1), (2)"))
        seen: list[int] = []

        def count() -> None:
            seen.append(scalar(datasource, "SELECT count(*) FROM t"))

        threads = [threading.Thread(target=count) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen == [2, 2, 2, 2]
        # every pooled connection closed: the data stays until close()
        datasource.get_engine().dispose()
        assert scalar(datasource, "SELECT count(*) FROM t") == 2
    assert datasource.health_check().ok  # usable again after close(), empty
    with opened(datasource):
        with pytest.raises(Exception, match="t does not exist"):
            scalar(datasource, "SELECT count(*) FROM t")


def test_two_memory_datasources_do_not_share_a_database() -> None:
    registry = registry_for(a={"type": "duckdb"}, b={"type": "duckdb", "database": ":memory:"})
    try:
        with registry.get_engine("a").begin() as connection:
            connection.execute(text("CREATE TABLE only_in_a (i INTEGER)"))
        with registry.get_engine("b").connect() as connection:
            tables = connection.execute(text("SHOW TABLES")).fetchall()
        assert tables == []
    finally:
        registry.close_all()


def test_round_trip_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "app.duckdb"
    with opened(build("duckdb", database=str(path))) as datasource:
        with datasource.get_engine().begin() as connection:
            connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, title VARCHAR)"))
            connection.execute(text("INSERT INTO notes VALUES (1, :t)"), {"t": UNICODE_SAMPLE})
        assert scalar(datasource, "SELECT title FROM notes") == UNICODE_SAMPLE
        assert path.is_file()  # the first connect created it (and its folder)
        status = datasource.health_check()
    assert status.ok and status.server_version is not None
    assert status.server_version.startswith("v")


def test_a_health_check_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "db.duckdb"
    with opened(build("duckdb", database=str(path))) as datasource:
        status = datasource.health_check()
    assert status.status == "error"
    assert status.error is not None and status.error.key == "database"
    assert "not found" in status.detail
    assert not path.parent.exists()


@pytest.mark.parametrize("settings", [{"create": False}, {"read_only": True}])
def test_a_missing_file_is_an_error_without_create(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    path = tmp_path / "ro.duckdb"
    with opened(build("duckdb", database=str(path), **settings)) as datasource:
        with pytest.raises(DatasourceConnectionError) as caught:
            datasource.get_engine().connect()
    assert caught.value.key == "database"
    assert not path.exists()


def test_read_only_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.duckdb")
    with opened(build("duckdb", database=path)) as writer:
        with writer.get_engine().begin() as connection:
            connection.execute(text("CREATE TABLE t AS SELECT 42 AS answer"))
    # a second process may read it now; so may this one, read-only
    with opened(build("duckdb", database=path, access_mode="read_only")) as reader:
        assert scalar(reader, "SELECT answer FROM t") == 42
        with pytest.raises(Exception, match="read-only"):
            with reader.get_engine().begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (1)"))


def test_settings_reach_duckdb(tmp_path: Path) -> None:
    datasource = build(
        "duckdb",
        database=str(tmp_path / "s.duckdb"),
        threads=2,
        memory_limit="512MB",
        config={"default_order": "desc"},
        extensions="json, parquet",
    )
    with opened(datasource):
        assert scalar(datasource, "SELECT current_setting('threads')") == 2
        assert scalar(datasource, "SELECT current_setting('memory_limit')") in (
            "488.2 MiB",
            "512.0 MB",
        )
        assert scalar(datasource, "SELECT current_setting('default_order')").lower() == "desc"
        loaded = scalar(
            datasource,
            "SELECT count(*) FROM duckdb_extensions() WHERE loaded AND extension_name "
            "IN ('json', 'parquet')",
        )
        assert loaded == 2


def test_orbit_keys() -> None:
    datasource = build(
        "duckdb", database=":memory:", read_only=False, access_mode="automatic", threads=None
    )
    assert datasource.options.threads is None
    assert datasource.target() == "duckdb:///:memory:"


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"read_only": True}, "read_only"),
        ({"database": "x.duckdb", "read_only": True, "access_mode": "read_write"}, None),
        ({"statement_timeout": 1000}, "statement_timeout"),
        ({"access_mode": "sometimes"}, "access_mode"),
        ({"extensions": ["json; DROP TABLE x"]}, "extensions"),
        ({"threads": 0}, "threads"),
        ({"password": "x"}, "password"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], key: str | None) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build("duckdb", **settings)
    assert caught.value.key == key


def test_url_and_no_async_driver(tmp_path: Path) -> None:
    datasource = build("duckdb", url=f"duckdb:///{tmp_path}/u.duckdb?threads=3")
    assert datasource.options.database == f"{tmp_path}/u.duckdb"
    assert datasource.options.threads == 3  # a known key in the query is that key
    with opened(datasource):
        assert scalar(datasource, "SELECT current_setting('threads')") == 3
        with pytest.raises(UnsupportedOperationError):
            datasource.get_async_engine()
    with pytest.raises(ConfigurationError) as caught:
        build("duckdb", url="sqlite:///x.db")
    assert caught.value.key == "url"


def test_file_in_process_store_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert build("duckdb", database="rel.duckdb").in_process_store() == tmp_path / "rel.duckdb"
    assert build("duckdb").in_process_store() is None


def test_alembic_runs_on_duckdb(tmp_path: Path) -> None:
    """unifydb registers Alembic's implementation for DuckDB; the migration lock is a file lock."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import Column, Integer, Sequence, String

    import unifydb.migrations.dialects  # noqa: F401
    from unifydb.migrations.locks import lock_path, migration_lock

    path = tmp_path / "m.duckdb"
    with opened(build("duckdb", database=str(path))) as datasource:
        engine = datasource.get_engine()
        with migration_lock(engine, datasource="db", timeout=1):
            assert lock_path(str(path)).exists()
            assert not list(tmp_path.glob("*lock*"))  # nothing beside the database
            with engine.begin() as connection:
                operations = Operations(MigrationContext.configure(connection))
                operations.execute("CREATE SEQUENCE items_id")
                operations.create_table(
                    "items",
                    Column("id", Integer, Sequence("items_id"), primary_key=True),
                    Column("name", String(20), nullable=False),
                )
                operations.add_column("items", Column("note", String(50)))
                operations.create_index("ix_items_name", "items", ["name"])
        assert (
            scalar(
                datasource,
                "SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'ix_items_name'",
            )
            == 1
        )
