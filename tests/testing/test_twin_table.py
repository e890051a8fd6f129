"""The twin table and the twins of servers that cannot run on this machine.

SQL Server and Oracle cannot run here, so their twins are checked offline:
with a stand-in connection (said so: a mock, the only one in these tests)
that records the statements each twin sends through the real dialect's
quoting, and returns what the server would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unifydb
from unifydb.errors import ConfigurationError
from unifydb.testing import twins
from unifydb.testing.naming import RunId
from unifydb.testing.sql_twins import OracleTwin, PostgresTwin, SQLServerTwin
from unifydb.testing.store_twins import MilvusTwin
from unifydb.testing.twins import TwinContext, changed_entry, register_twin, twin_class

RUN = RunId("261129120000", "0a7c", 4242)


def context(tmp_path: Path, settings: dict[str, Any], **extra: Any) -> TwinContext:
    registry = unifydb.Registry(settings={"datasources": {"db": settings}})
    return TwinContext(
        datasource=registry.build("db"),
        entry=registry.entry("db"),
        run=RUN,
        worker="gw0",
        folder=tmp_path,
        build=lambda entry: registry.build_entry("db", entry),
        **extra,
    )


class Recorder:
    """A stand-in connection: records SQL; ``answers`` maps a SQL fragment to rows."""

    def __init__(self, dialect: Any, answers: dict[str, list[tuple[Any, ...]]]) -> None:
        self.dialect = dialect
        self.answers = answers
        self.statements: list[str] = []

    def _result(self, statement: str) -> Any:
        self.statements.append(statement)
        rows = next((rows for key, rows in self.answers.items() if key in statement), [])
        return _Rows(rows)

    def exec_driver_sql(self, statement: str, *args: Any) -> Any:
        return self._result(statement)

    def execute(self, statement: Any, *args: Any) -> Any:
        return self._result(str(statement))


class _Rows(list):  # type: ignore[type-arg]
    def first(self) -> Any:
        return self[0] if self else None


def recorded(twin: Any, recorder: Recorder) -> Any:
    @contextlib.contextmanager
    def connection() -> Iterator[Recorder]:
        yield recorder

    twin.connection = connection
    return twin


def test_every_builtin_type_has_a_twin() -> None:
    """A type added to the catalog needs its line in twins.TWINS."""
    from unifydb.catalog import BUILTIN

    for name in BUILTIN:
        assert issubclass(twin_class(name), twins.Twin), name


def test_a_type_without_twin_says_how_to_add_one() -> None:
    with pytest.raises(ConfigurationError, match="register_twin") as raised:
        twin_class("nosuchtype", datasource="odd")
    assert raised.value.datasource == "odd"


def test_registered_twins_win_over_the_table() -> None:
    class Mine(twins.Twin):
        pass

    register_twin("postgres", Mine)
    try:
        assert twin_class("postgres") is Mine
    finally:
        twins._registered.pop("postgres")
    assert twin_class("postgres") is PostgresTwin


def test_changed_settings_drop_the_aliases_and_files_of_changed_keys(tmp_path: Path) -> None:
    found = context(tmp_path, {"type": "chroma", "db_path": "/srv/chroma"})
    assert changed_entry(found.datasource, found.entry, {"path": "/tmp/x"}) == {
        "type": "chroma",
        "path": "/tmp/x",
    }
    entry = {"type": "oracle", "password_file": "/run/secret", "username": "app"}
    assert changed_entry(found.datasource, entry, {"password": "p"}) == {
        "type": "oracle",
        "username": "app",
        "password": "p",
    }


def test_sql_server_twin_statements(tmp_path: Path) -> None:
    from sqlalchemy.dialects.mssql import pyodbc

    settings = {
        "type": "sqlserver",
        "host": "mssql.example",
        "database": "Sales",
        "username": "sa",
        "password": "pw",
    }
    twin = SQLServerTwin(context(tmp_path, settings))
    assert twin.database == "unifydb_test_261129120000_0a7cp4242_gw0_sales"
    assert twin.changes() == {"database": twin.database, "replicas": []}
    assert twin.admin().options.database == "master"
    leftover = "unifydb_test_200101000000_0a7ck1_gw0_sales"
    recorder = Recorder(pyodbc.dialect(), {"sys.databases": [(leftover,), ("Sales",)]})
    recorded(twin, recorder)
    twin.create()
    assert twin.sweep() == [leftover]
    twin.drop()
    create, listing, drop_leftover, drop = recorder.statements
    assert create == f"CREATE DATABASE [{twin.database}]"
    assert "LIKE 'unifydb[_]test[_]%'" in listing
    assert f"SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{leftover}]" in drop_leftover
    assert drop.startswith(f"IF DB_ID(N'{twin.database}') IS NOT NULL")


def test_oracle_twin_is_a_schema_with_its_own_password(tmp_path: Path) -> None:
    from sqlalchemy.dialects.oracle import oracledb

    settings = {
        "type": "oracle",
        "host": "ora.example",
        "service_name": "FREEPDB1",
        "username": "shop",
        "password": "pw",
    }
    twin = OracleTwin(
        context(tmp_path, settings, admin_url="oracle://system:pw@ora.example/?service_name=X")
    )
    changes = twin.changes()
    assert changes["username"] == twin.database == "unifydb_test_261129120000_0a7cp4242_gw0_shop"
    assert changes["password"] != "pw" and len(changes["password"]) >= 20
    assert twin.admin().options.username == "system"
    recorder = Recorder(oracledb.dialect(), {"FROM all_users WHERE username =": [(1,)]})
    recorded(twin, recorder)
    twin.create()
    twin.drop()
    user = f'"{twin.database.upper()}"'  # quoted in capitals: the name Oracle keeps
    assert recorder.statements[0] == f'CREATE USER {user} IDENTIFIED BY "{changes["password"]}"'
    assert recorder.statements[1].startswith("GRANT CREATE SESSION, CREATE TABLE")
    assert recorder.statements[-1] == f"DROP USER {user} CASCADE"
    assert "schema " + twin.database.upper() in twin.where()
    assert changes["password"] not in twin.where()


def test_milvus_server_twin_is_a_database(tmp_path: Path) -> None:
    twin = MilvusTwin(context(tmp_path, {"type": "milvus", "uri": "http://milvus:19530"}))
    assert not twin.lite
    assert twin.changes() == {"db_name": "unifydb_test_261129120000_0a7cp4242_gw0_default"}
    assert twin.admin().options.db_name is None
