"""Relational types short of a server: URLs, driver arguments, dialect SQL, driver checks,
and bounded failures against a closed port and against a listener that never answers.

These run for all seven types; Oracle and SQL Server are covered here because no
server of theirs can run on this machine (their live tests are in
test_live_oracle_sqlserver.py and run when pointed at one).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, select
from sqlalchemy.schema import CreateTable

from tests.helpers import NASTY_PASSWORD, REPO, build, connect_args, parse_odbc
from tests.servers.faults import closed_port, hanging_listener
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
    DriverNotInstalledError,
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
    ],
)
def test_urls_hide_the_password(type_name: str, options: dict[str, Any], expected: str) -> None:
    datasource = (
        build(type_name, password=NASTY_PASSWORD, **options)
        if type_name != "sqlite"
        else build(type_name, **options)
    )
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


def test_sqlserver_encrypt_options_and_extra_odbc_keywords() -> None:
    datasource = build(
        "sqlserver",
        host="h",
        database="d",
        username="u",
        password="p",
        driver="FreeTDS",
        encrypt="strict",
        trust_server_certificate=True,
        odbc_options={"ApplicationIntent": "ReadOnly"},
    )
    (odbc,), _ = connect_args(datasource)
    parsed = parse_odbc(odbc)
    assert (parsed["Encrypt"], parsed["TrustServerCertificate"], parsed["ApplicationIntent"]) == (
        "strict",
        "yes",
        "ReadOnly",
    )


def test_oracle_service_name_sid_and_dsn() -> None:
    _, by_service = connect_args(
        build("oracle", host="h", service_name="S1", username="u", password="p")
    )
    assert "SERVICE_NAME=S1" in by_service["dsn"]
    assert by_service["tcp_connect_timeout"] == 10.0
    _, by_sid = connect_args(build("oracle", host="h", sid="ORCL", username="u", password="p"))
    assert "SID=ORCL" in by_sid["dsn"]
    _, by_dsn = connect_args(build("oracle", dsn="h:1521/S2", username="u", password="p"))
    assert by_dsn["dsn"] == "h:1521/S2"
    with pytest.raises(ConfigurationError) as both:
        build("oracle", host="h", service_name="a", sid="b")
    assert "not both" in str(both.value)
    with pytest.raises(ConfigurationError) as neither:
        build("oracle", host="h")
    assert "service_name or sid" in str(neither.value)


def test_oracle_thick_mode_is_passed_to_the_dialect() -> None:
    datasource = build(
        "oracle", host="h", service_name="s", thick_mode=True, thick_lib_dir="/opt/oracle"
    )
    assert datasource.engine_kwargs()["thick_mode"] == {"lib_dir": "/opt/oracle"}
    assert "thick_mode" not in build("oracle", host="h", service_name="s").engine_kwargs()


def test_postgres_libpq_options_and_timeouts() -> None:
    datasource = build(
        "postgres",
        host="h",
        sslmode="verify-full",
        sslrootcert="/ca.pem",
        application_name="app",
        sslpassword="keypass",
        timeout=0.5,
    )
    _, cparams = connect_args(datasource)
    assert cparams["sslmode"] == "verify-full"
    assert cparams["sslrootcert"] == "/ca.pem"
    assert cparams["connect_timeout"] == 2  # libpq's minimum
    assert "keypass" not in datasource.target()


def test_supabase_defaults_and_transaction_pooler() -> None:
    direct = build("supabase", project_ref="abcd", username="postgres", password="p")
    _, cparams = connect_args(direct)
    assert cparams["sslmode"] == "require"
    assert cparams["host"] == "db.abcd.supabase.co"
    assert "prepare_threshold" not in cparams
    pooled = build(
        "supabase", host="aws-0-eu.pooler.supabase.com", port=6543, username="postgres.abcd"
    )
    assert pooled.connect_args()["prepare_threshold"] is None
    with pytest.raises(ConfigurationError) as caught:
        build("supabase", host="h", sslmode="disable")
    assert caught.value.key == "sslmode"


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


def test_sqlite_memory_uses_one_shared_connection() -> None:
    from sqlalchemy import text
    from sqlalchemy.pool import StaticPool

    datasource = build("sqlite", database=":memory:")
    datasource.initialize()
    engine = datasource.get_engine()
    assert isinstance(engine.pool, StaticPool)
    with engine.begin() as connection:
        connection.execute(text("create table t (x int)"))
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from t")).scalar() == 0


def test_sqlite_pragmas(tmp_path: Path) -> None:
    from sqlalchemy import text

    datasource = build("sqlite", database=str(tmp_path / "sub" / "wal.db"), journal_mode="wal")
    datasource.initialize()
    with datasource.get_engine().connect() as connection:
        assert connection.execute(text("pragma journal_mode")).scalar() == "wal"
        assert connection.execute(text("pragma foreign_keys")).scalar() == 1
    off = build("sqlite", foreign_keys=False)
    off.initialize()
    with off.get_engine().connect() as connection:
        assert connection.execute(text("pragma foreign_keys")).scalar() == 0


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
    ],
)
def test_each_engine_speaks_its_dialect(
    type_name: str, ddl_fragment: str, limit_fragment: str
) -> None:
    options: dict[str, Any] = (
        {} if type_name == "sqlite" else {"host": "h", **NETWORK_TYPES[type_name]}
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
    ],
)
def test_missing_driver_names_the_extra_and_others_keep_working(
    type_name: str, module: str, extra: str
) -> None:
    """The driver is made unimportable in a subprocess (sys.modules[name] = None)."""
    options = {"type": type_name, "host": "h", **NETWORK_TYPES[type_name]}
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


def test_missing_odbc_driver_lists_installed_ones() -> None:
    datasource = build("sqlserver", host="h", driver="ODBC Driver 99 for SQL Server")
    with pytest.raises(DriverNotInstalledError) as caught:
        datasource.initialize()
    message = str(caught.value)
    assert "'ODBC Driver 99 for SQL Server' is not installed" in message
    assert "'FreeTDS'" in message  # Debian's tdsodbc is installed by the test setup
    assert caught.value.key == "driver"


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
