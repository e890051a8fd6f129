"""Oracle and SQL Server against real servers, when a user points the tests at one.

No Oracle or SQL Server server can run on this project's machines, so these
skip unless ``UNIFYDB_TEST_ORACLE_URL`` / ``UNIFYDB_TEST_SQLSERVER_URL`` is set,
e.g. ``oracle://system:pw@db:1521/?service_name=FREEPDB1`` or
``mssql://sa:pw@db:1433/master?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes``.
Everything short of a server is tested in test_relational_offline.py.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, insert, select

from tests.helpers import registry_for, skip_unless_env

pytestmark = pytest.mark.live


@pytest.mark.parametrize(
    ("type_name", "variable"),
    [("oracle", "UNIFYDB_TEST_ORACLE_URL"), ("sqlserver", "UNIFYDB_TEST_SQLSERVER_URL")],
)
def test_round_trip_and_health(type_name: str, variable: str) -> None:
    url = skip_unless_env(variable)
    registry = registry_for(db={"type": type_name, "url": url, "timeout": 20})
    status = registry.get_datasource("db").health_check()
    assert status.ok, status
    assert status.server_version
    engine = registry.get_engine("db")
    table = Table(
        f"unifydb_t_{secrets.token_hex(3)}",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(50)),
        Column("flag", Boolean),
    )
    table.metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            connection.execute(insert(table), [{"id": 1, "name": "Grüße", "flag": True}])
        with engine.connect() as connection:
            row = connection.execute(select(table)).one()
        assert (row.id, row.name, row.flag) == (1, "Grüße", True)
    finally:
        table.metadata.drop_all(engine)
        registry.close_all()
