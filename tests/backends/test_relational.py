"""What the relational types share, tested across them: URLs, driver arguments,
dialect SQL, driver checks, bounded failures against a closed port and a listener
that never answers, and the live tests parametrized over several types.

The offline tests run for the SQL types (duckdb and athena included, where
they apply; their own tests are in their folders); Oracle and SQL Server are covered
here because no server of theirs can run on this machine. Their live test,
``test_round_trip_and_health``, skips unless ``UNIFYDB_TEST_ORACLE_URL`` /
``UNIFYDB_TEST_SQLSERVER_URL`` is set, e.g.
``oracle://system:pw@db:1521/?service_name=FREEPDB1`` or
``mssql://sa:pw@db:1433/master?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes``.

The mysql and mariadb types both talk to the machine's MariaDB 10.11 (same
protocol, different drivers); every test of theirs covers both, so they are
here. What is specific to one type is in ``tests/backends/<type>/``.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.schema import CreateTable

from tests.helpers import (
    MARIADB_ADMIN,
    MARIADB_HOST,
    MARIADB_PORT,
    NASTY_PASSWORD,
    REPO,
    build,
    connect_args,
    parse_odbc,
    registry_for,
    require_server,
    round_trip,
    skip_unless_env,
)
from tests.servers.faults import closed_port, hanging_listener
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
)

NETWORK_TYPES: dict[str, dict[str, Any]] = {
    "postgres": {},
    "supabase": {},
    "mysql": {},
    "mariadb": {},
    "oracle": {"service_name": "FREEPDB1"},
    "sqlserver": {"driver": "FreeTDS", "database": "master"},
}


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("type_name", "options", "expected"),
    [
        (
            "postgres",
            {"host": "h", "database": "d", "username": "u"},
            "postgresql+psycopg://u:***@h:5432/d",
        ),
        (
            "supabase",
            {"host": "db.abc.supabase.co", "username": "postgres"},
            "postgresql+psycopg://postgres:***@db.abc.supabase.co:5432/postgres?sslmode=require",
        ),
        (
            "mysql",
            {"host": "h", "database": "d", "username": "u"},
            "mysql+mysqldb://u:***@h:3306/d?charset=utf8mb4",
        ),
        (
            "mariadb",
            {"host": "h", "database": "d", "username": "u"},
            "mariadb+mariadbconnector://u:***@h:3306/d",
        ),
        (
            "oracle",
            {"host": "h", "service_name": "ORCLPDB1", "username": "u"},
            "oracle+oracledb://u:***@h:1521?service_name=ORCLPDB1",
        ),
        (
            "oracle",
            {"host": "h", "sid": "ORCL", "username": "u"},
            "oracle+oracledb://u:***@h:1521/ORCL",
        ),
        (
            "sqlserver",
            {"host": "h", "database": "d", "username": "u"},
            "mssql+pyodbc://u:***@h:1433/d?driver=ODBC+Driver+18+for+SQL+Server",
        ),
        (
            "sqlserver",
            {"host": "h", "database": "d", "username": "u", "dbapi": "pymssql"},
            "mssql+pymssql://u:***@h:1433/d",
        ),
        ("sqlite", {"database": "data/app.db"}, "sqlite:///data/app.db"),
        ("duckdb", {"database": "data/app.duckdb"}, "duckdb:///data/app.duckdb"),
        (
            "athena",
            {"region": "eu-west-1", "work_group": "wg", "aws_access_key_id": "AKIA1"},
            "awsathena+rest://athena.eu-west-1.amazonaws.com/default (work group wg)",
        ),
    ],
)
def test_urls_hide_the_password(type_name: str, options: dict[str, Any], expected: str) -> None:
    secret = {"sqlite": {}, "duckdb": {}, "athena": {"aws_secret_access_key": NASTY_PASSWORD}}
    datasource = build(type_name, **secret.get(type_name, {"password": NASTY_PASSWORD}), **options)
    assert datasource.target() == expected
    assert NASTY_PASSWORD not in repr(datasource)
    assert NASTY_PASSWORD not in repr(datasource.config)
    assert NASTY_PASSWORD not in str(datasource.describe())


@pytest.mark.parametrize("type_name", ["postgres", "mysql", "mariadb", "oracle", "sqlserver"])
def test_nasty_password_reaches_the_driver_intact(type_name: str) -> None:
    options = {"host": "h", "username": "u", "password": NASTY_PASSWORD, **NETWORK_TYPES[type_name]}
    if type_name in ("postgres", "mysql", "mariadb"):
        options["database"] = "d"
    cargs, cparams = connect_args(build(type_name, **options))
    if type_name == "sqlserver":
        # pyodbc gets one ODBC string; SQLAlchemy brace-quotes values with ; or }
        (odbc,) = cargs
        escaped = NASTY_PASSWORD.replace("}", "}}")
        assert f"PWD={{{escaped}}}" in odbc
        assert odbc.startswith("DRIVER={FreeTDS};Server=h,1433;Database=master;UID=u;")
        assert parse_odbc(odbc)["PWD"] == NASTY_PASSWORD
    else:
        assert NASTY_PASSWORD in (cparams.get("password"), cparams.get("passwd"))


def test_mysql_and_mariadb_defaults() -> None:
    _, mysql = connect_args(
        build("mysql", host="h", username="u", ssl_ca="/ca.pem", read_timeout=30)
    )
    assert mysql["charset"] == "utf8mb4"
    assert mysql["connect_timeout"] == 10
    assert mysql["ssl"] == {"ca": "/ca.pem"}
    assert mysql["read_timeout"] == 30
    _, mariadb = connect_args(build("mariadb", host="h", username="u", ssl_mode="verify_identity"))
    assert (mariadb["ssl"], mariadb["ssl_verify_cert"]) == (True, True)
    with pytest.raises(ConfigurationError) as caught:
        build("mariadb", host="h", charset="latin1")
    assert caught.value.key == "charset"


# ----------------------------------------------------------------------------- dialect SQL


def sample_table() -> Table:
    return Table(
        "events",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
        Column("active", Boolean, nullable=False),
    )


@pytest.mark.parametrize(
    ("type_name", "ddl_fragment", "limit_fragment"),
    [
        ("postgres", "SERIAL", "LIMIT"),
        ("supabase", "SERIAL", "LIMIT"),
        ("mysql", "AUTO_INCREMENT", "LIMIT"),
        ("mariadb", "AUTO_INCREMENT", "LIMIT"),
        ("oracle", "VARCHAR2(50 CHAR)", "FETCH FIRST"),
        ("sqlserver", "IDENTITY", "TOP"),
        ("sqlite", "INTEGER NOT NULL", "LIMIT"),
        ("duckdb", "SERIAL", "LIMIT"),
        ("athena", "CREATE EXTERNAL TABLE", "LIMIT"),
    ],
)
def test_each_engine_speaks_its_dialect(
    type_name: str, ddl_fragment: str, limit_fragment: str
) -> None:
    local = {"sqlite": {}, "duckdb": {}, "athena": {"region": "us-east-1"}}
    options: dict[str, Any] = local.get(
        type_name, {"host": "h", **NETWORK_TYPES.get(type_name, {})}
    )
    datasource = build(type_name, **options)
    datasource.initialize()
    dialect = datasource.get_engine().dialect
    table = sample_table()
    ddl = str(CreateTable(table).compile(dialect=dialect))
    query = str(select(table.c.name).where(table.c.active).limit(5).compile(dialect=dialect))
    assert ddl_fragment in ddl
    assert limit_fragment in query


# ----------------------------------------------------------------------------- drivers


@pytest.mark.parametrize(
    ("type_name", "module", "extra"),
    [
        ("postgres", "psycopg", "postgres"),
        ("supabase", "psycopg", "supabase"),
        ("mysql", "MySQLdb", "mysql"),
        ("mariadb", "mariadb", "mariadb"),
        ("oracle", "oracledb", "oracle"),
        ("sqlserver", "pyodbc", "sqlserver"),
        ("duckdb", "duckdb_engine", "duckdb"),
        ("athena", "pyathena", "athena"),
    ],
)
def test_missing_driver_names_the_extra_and_others_keep_working(
    type_name: str, module: str, extra: str
) -> None:
    """The driver is made unimportable in a subprocess (sys.modules[name] = None)."""
    local = {"duckdb": {}, "athena": {"region": "us-east-1"}}
    options = {
        "type": type_name,
        **local.get(type_name, {"host": "h", **NETWORK_TYPES.get(type_name, {})}),
    }
    settings = {"datasources": {"x": options, "lite": {"type": "sqlite"}}}
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "import unifydb\n"
        f"r = unifydb.Registry({settings!r})\n"
        "try:\n"
        "    r.get_engine('x')\n"
        "except unifydb.DriverNotInstalledError as e:\n"
        "    print(e.extra, '|', e)\n"
        "print(r.get_engine('lite').dialect.name)\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.splitlines()
    assert output[0].startswith(f"{extra} | datasource 'x'")
    assert f"pip install 'unifydb[{extra}]'" in output[0]
    assert output[1] == "sqlite"


# ----------------------------------------------------------------------------- bounded failures


@pytest.mark.parametrize("type_name", sorted(NETWORK_TYPES))
def test_closed_port_fails_fast_with_a_unifydb_error(type_name: str) -> None:
    datasource = build(
        type_name,
        host="127.0.0.1",
        port=closed_port(),
        username="u",
        password="pw-x1",
        timeout=5,
        **NETWORK_TYPES[type_name],
    )
    started = time.monotonic()
    status = datasource.health_check()
    elapsed = time.monotonic() - started
    assert status.status == "error", status
    assert isinstance(status.error, DatasourceConnectionError)
    assert status.error.datasource == "db"
    assert elapsed < 4, f"{type_name} took {elapsed:.1f}s against a closed port"
    assert "pw-x1" not in status.detail


@pytest.mark.parametrize("timeout", [1.5, None])
@pytest.mark.parametrize("type_name", sorted(NETWORK_TYPES))
def test_silent_server_times_out_within_the_deadline(type_name: str, timeout: float | None) -> None:
    """A listener that accepts and never answers: the library's own deadline ends the wait."""
    with hanging_listener() as (host, port):
        options = {
            "host": host,
            "port": port,
            "username": "u",
            "password": "pw",
            **NETWORK_TYPES[type_name],
        }
        if timeout is None:
            options["timeout"] = 2  # the datasource's own setting applies
        datasource = build(type_name, **options)
        started = time.monotonic()
        status = datasource.health_check(timeout)
        elapsed = time.monotonic() - started
    limit = timeout or 2
    assert status.status == "timeout", status
    assert isinstance(status.error, DatasourceTimeoutError)
    assert status.error.datasource == "db"
    assert limit - 0.2 <= elapsed < limit + 1.0


@pytest.mark.parametrize("type_name", sorted(NETWORK_TYPES))
def test_first_connect_through_the_engine_is_bounded(type_name: str) -> None:
    """engine.connect() itself (not only health_check) obeys `timeout`."""
    with hanging_listener() as (host, port):
        datasource = build(
            type_name,
            host=host,
            port=port,
            username="u",
            password="pw",
            timeout=1.5,
            **NETWORK_TYPES[type_name],
        )
        engine = datasource.get_engine()
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            engine.connect()
        elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert (
        isinstance(caught.value, DatasourceTimeoutError) or "timeout" in str(caught.value).lower()
    )


# -------------------------------------------------- live: mysql and mariadb (the machine's MariaDB)


@pytest.fixture
def mysql_family(request: pytest.FixtureRequest, mariadb_database: str) -> dict[str, Any]:
    require_server(MARIADB_HOST, MARIADB_PORT, "MariaDB")
    return {
        "type": request.param,
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "database": mariadb_database,
        "username": MARIADB_ADMIN,
    }


@pytest.mark.live
@pytest.mark.parametrize("mysql_family", ["mysql", "mariadb"], indirect=True)
def test_mysql_family_round_trip_and_health(mysql_family: dict[str, Any]) -> None:
    registry = registry_for(db=mysql_family)
    engine = registry.get_engine("db")
    assert engine.dialect.name in ("mysql", "mariadb")
    round_trip(engine)
    with engine.connect() as connection:
        charset = connection.execute(text("SELECT @@character_set_client")).scalar()
    assert charset == "utf8mb4"
    status = registry.health_check()["db"]
    assert status.ok, status
    assert status.server_version and "MariaDB" in status.server_version
    registry.close_all()


@pytest.mark.live
@pytest.mark.parametrize("type_name", ["mysql", "mariadb"])
def test_mysql_family_nasty_password_live(
    type_name: str, mariadb_database: str, mariadb_user: tuple[str, str]
) -> None:
    user, password = mariadb_user
    settings = {
        "type": type_name,
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "database": mariadb_database,
        "username": user,
        "password": password,
    }
    registry = registry_for(good=settings, bad={**settings, "password": password + "x"})
    with registry.get_engine("good").connect() as connection:
        assert connection.execute(text("SELECT CURRENT_USER()")).scalar().startswith(user)
    status = registry.get_datasource("bad").health_check()
    assert status.status == "error"
    assert isinstance(status.error, DatasourceConnectionError)
    assert "Access denied" in status.detail
    assert password not in status.detail and password not in repr(status)
    # the url form takes the password percent-encoded
    from urllib.parse import quote

    secret = quote(password, safe="")
    url = f"{type_name}://{user}:{secret}@{MARIADB_HOST}:{MARIADB_PORT}/{mariadb_database}"
    via_url = registry_for(u={"type": type_name, "url": url})
    assert via_url.get_datasource("u").health_check().ok
    registry.close_all()
    via_url.close_all()


# ------------------------------------------------- live: Oracle and SQL Server, when pointed at one


@pytest.mark.live
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
