"""Regression tests for the hostile review: each test pins one hole that was open.

Every test here failed before its fix (see docs/reliability.md, "Hostile
input"). Servers: the machine's PostgreSQL and MariaDB, the throwaway TLS and
scram PostgreSQL clusters, and listeners that never answer or close at once.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import unifydb
from tests.helpers import (
    MARIADB_HOST,
    MARIADB_PORT,
    PG_ADMIN,
    PG_HOST,
    PG_PORT,
    REPO,
    pg_admin,
    pg_fields,
    registry_for,
    run_cli,
)
from tests.servers.faults import closed_port, hanging_listener
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
    SettingsFileError,
)

NUL = "\x00"


# ----------------------------------------------------------------------------- 1. NUL bytes

NUL_CASES = [
    ("postgres", {"host": "h", "password": f"x{NUL}y"}, "password"),
    ("postgres", {"host": "h", "username": f"app{NUL}x"}, "username"),
    ("postgres", {"host": "h", "database": f"db{NUL}"}, "database"),
    ("postgres", {"host": f"h{NUL}.example"}, "host"),
    ("postgres", {"host": "h", "sslrootcert": f"/ca{NUL}.pem"}, "sslrootcert"),
    ("postgres", {"host": "h", "query": {"application_name": f"a{NUL}b"}}, "query"),
    ("postgres", {"host": "h", "connect_args": {"options": f"-c x{NUL}"}}, "connect_args"),
    ("postgres", {"url": "postgresql://app:x%00y@h:5432/db"}, "url"),
    ("postgres", {"url": "postgresql://app@h:5432/db?sslmode=require%00"}, "url"),
    ("supabase", {"host": "h", "password": f"x{NUL}y"}, "password"),
    ("mysql", {"host": "h", "password": f"x{NUL}y"}, "password"),
    ("mariadb", {"host": "h", "database": f"d{NUL}"}, "database"),
    ("oracle", {"host": "h", "service_name": f"s{NUL}"}, "service_name"),
    ("sqlserver", {"host": "h", "odbc_options": {"App": f"a{NUL}"}}, "odbc_options"),
    ("sqlite", {"database": f"a{NUL}.db"}, "database"),
    ("mongodb", {"host": "h", "password": f"x{NUL}y"}, "password"),
    ("mongodb", {"url": "mongodb://h:27017/d", "database": f"d{NUL}"}, "database"),
    ("cassandra", {"contact_points": f"h{NUL}"}, "contact_points"),
    ("chroma", {"path": f"/tmp/c{NUL}"}, "path"),
    ("milvus", {"uri": f"/tmp/m{NUL}.db"}, "uri"),
    ("qdrant", {"path": f"/tmp/q{NUL}"}, "path"),
    ("qdrant", {"host": "h", "api_key": f"k{NUL}"}, "api_key"),
    ("pgvector", {"host": "h", "schema_name": f"s{NUL}"}, "schema_name"),
    ("pinecone", {"api_key": f"k{NUL}"}, "api_key"),
    ("pinecone", {"api_key": "k", "namespace": f"n{NUL}"}, "namespace"),
    ("duckdb", {"database": f"d{NUL}.duckdb"}, "database"),
    ("athena", {"s3_staging_dir": f"s3://b/{NUL}"}, "s3_staging_dir"),
    (
        "athena",
        {"aws_access_key_id": "A", "aws_secret_access_key": f"x{NUL}y"},
        "aws_secret_access_key",
    ),
    ("elasticsearch", {"node": f"http://h{NUL}:9200"}, "nodes"),
    ("elasticsearch", {"node": "http://h:9200", "api_key": f"x{NUL}y"}, "api_key"),
    ("redis", {"host": "h", "password": f"x{NUL}y"}, "password"),
    ("redis", {"url": "redis://:x%00y@h:6379/0"}, "url"),
]


@pytest.mark.parametrize(("type_name", "settings", "key"), NUL_CASES)
def test_nul_byte_is_refused_in_every_string_value(
    type_name: str, settings: dict[str, Any], key: str
) -> None:
    registry = registry_for(x={"type": type_name, **settings})
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("x")
    assert caught.value.key == key, str(caught.value)
    assert "NUL" in str(caught.value)
    assert NUL not in str(caught.value)
    for secret_part in ("x%00y", "xy", "a\\x00b"):
        assert secret_part not in str(caught.value)


def test_nul_in_a_default_placeholder_and_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b"x\x00y\n")
    registry = registry_for(
        a={"type": "postgres", "host": "h", "password_file": str(secret)},
        b={"type": "postgres", "host": "h", "username": "${UNSET_UNIFYDB_VAR:-ap\x00p}"},
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("a")
    assert caught.value.key == "password_file"
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("b")
    assert caught.value.key == "username"


def test_nul_in_a_toml_file_never_reaches_libpq(tls_server: Any, tmp_path: Path) -> None:
    """The reproduction: a NUL in the password used to cut the conninfo, so the
    port, sslmode and sslrootcert were dropped and the check landed on 5432
    without TLS, reporting ok."""
    (tmp_path / "settings.toml").write_text(
        textwrap.dedent(
            f"""
            [datasources.pg]
            type = "postgres"
            host = "127.0.0.1"
            port = {tls_server.port}
            username = "{PG_ADMIN}"
            database = "postgres"
            password = "x\\u0000y"
            sslmode = "verify-full"
            sslrootcert = "/nonexistent"
            """
        )
    )
    status = unifydb.Registry(tmp_path / "settings.toml").health_check(["pg"])["pg"]
    assert status.status == "error", status
    assert isinstance(status.error, ConfigurationError)
    assert status.error.key == "password"


def test_datasource_name_with_a_control_character_is_refused() -> None:
    with pytest.raises(SettingsFileError):
        registry_for(**{"a\x00b": {"type": "sqlite"}}).names()


# ----------------------------------------------------------------------------- 2. async timeouts

ASYNC_SQL = ["postgres", "mysql", "mariadb", "oracle", "sqlserver"]


def async_settings(type_name: str, host: str, port: int) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "type": type_name,
        "host": host,
        "port": port,
        "username": "app",
        "password": "pw",
        "timeout": 1,
    }
    if type_name == "oracle":
        settings["service_name"] = "svc"
    elif type_name == "sqlserver":
        settings.update(driver="FreeTDS", database="master")
    else:
        settings["database"] = "db"
    return settings


async def _connect_async(registry: unifydb.Registry) -> None:
    engine = registry.get_async_engine("x")
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _ticking(coroutine: Any) -> tuple[BaseException | None, float, float]:
    """Run ``coroutine`` beside a 50 ms ticker; (error, seconds, largest tick gap)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        await coroutine
    except BaseException as caught:
        error = caught
    elapsed = time.perf_counter() - started
    done.set()
    await task
    return error, elapsed, max(gaps, default=0.0)


@pytest.mark.live
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("type_name", ASYNC_SQL)
def test_async_engine_connect_is_bounded_against_a_silent_listener(
    type_name: str, host: str
) -> None:
    with hanging_listener(host) as listener:
        registry = registry_for(x=async_settings(type_name, host, listener.port))
        registry.get_async_engine("x")  # driver imports are not part of the bound

        error, elapsed, _ = asyncio.run(_ticking(_connect_async(registry)))
        registry.close_all()
    assert isinstance(error, DatasourceTimeoutError), repr(error)
    assert elapsed < 1 + 1.5, elapsed


@pytest.mark.live
@pytest.mark.parametrize("type_name", ASYNC_SQL)
def test_async_engine_connect_fails_cleanly_against_a_closing_listener(type_name: str) -> None:
    with hanging_listener(close_after_accept=True) as listener:
        registry = registry_for(x=async_settings(type_name, "127.0.0.1", listener.port))
        registry.get_async_engine("x")
        error, elapsed, _ = asyncio.run(_ticking(_connect_async(registry)))
        registry.close_all()
    assert isinstance(error, DatasourceConnectionError), repr(error)
    assert elapsed < 1 + 1.5, elapsed


@pytest.mark.live
@pytest.mark.parametrize("type_name", ["mysql", "mariadb"])
def test_async_session_is_bounded_too(type_name: str) -> None:
    from sqlalchemy import select

    with hanging_listener() as listener:
        registry = registry_for(x=async_settings(type_name, "127.0.0.1", listener.port))
        registry.get_async_engine("x")

        async def query() -> None:
            async with registry.async_session("x") as session:
                await session.execute(select(1))

        error, elapsed, _ = asyncio.run(_ticking(query()))
        registry.close_all()
    assert isinstance(error, DatasourceTimeoutError), repr(error)
    assert elapsed < 2.5


@pytest.mark.live
def test_async_mongodb_client_is_bounded_against_a_silent_listener() -> None:
    with hanging_listener() as listener:
        registry = registry_for(
            x={"type": "mongodb", "host": "127.0.0.1", "port": listener.port, "timeout": 1}
        )

        async def ping() -> None:
            client = await registry.get_datasource("x").get_async_client()
            try:
                await client.admin.command("ping")
            finally:
                await client.close()

        error, elapsed, _ = asyncio.run(_ticking(ping()))
    assert error is not None
    assert elapsed < 2.5


# ----------------------------------------------------------------------------- 3. '@' in a URL

AT_URLS = {
    "postgres": "postgresql://app:S3cr@tPass@db.example/app",
    "supabase": "postgresql://app:S3cr@tPass@db.example/app",
    "mysql": "mysql://app:S3cr@tPass@db.example/app",
    "mariadb": "mariadb://app:S3cr@tPass@db.example/app",
    "oracle": "oracle://app:S3cr@tPass@db.example:1521/?service_name=x",
    "sqlserver": "mssql://app:S3cr@tPass@db.example/app",
}


@pytest.mark.parametrize("type_name", sorted(AT_URLS))
def test_unescaped_at_in_a_url_is_refused_without_echoing_it(type_name: str) -> None:
    registry = registry_for(x={"type": type_name, "url": AT_URLS[type_name]})
    with pytest.raises(ConfigurationError) as caught:
        registry.build("x")
    assert caught.value.key == "url"
    assert "tPass" not in str(caught.value)
    assert "percent-encode" in str(caught.value)


def test_unescaped_at_in_a_replica_url_is_refused() -> None:
    registry = registry_for(
        x={
            "type": "postgres",
            "host": "h",
            "replicas": ["postgresql://app:S3cr@tPass@replica.example/app"],
        }
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.build("x")
    assert "tPass" not in str(caught.value)


def test_unifydb_show_of_an_at_url_shows_no_password_tail(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.pg]\ntype = "postgres"\nurl = "postgresql://app:S3cr@tPass@db.example/app"\n'
    )
    result = run_cli("show", "pg", cwd=tmp_path)
    assert result.returncode == 1
    assert "tPass" not in result.stdout + result.stderr


# ----------------------------------------------------------------------------- 4/5. masking

TOKEN = "TOKEN123ab"


def test_mongodb_semicolon_options_hide_the_token(tmp_path: Path) -> None:
    url = (
        "mongodb://app:pw-Zq9@db.example:27017/app?authSource=admin;"
        f"authMechanismProperties=AWS_SESSION_TOKEN:{TOKEN}"
    )
    datasource = registry_for(x={"type": "mongodb", "url": url}).build("x")
    for shown in (datasource.target(), repr(datasource), json.dumps(datasource.describe())):
        assert TOKEN not in shown, shown
    (tmp_path / "settings.toml").write_text(f'[datasources.m]\ntype = "mongodb"\nurl = "{url}"\n')
    for args in (["show", "m"], ["show", "--json", "m"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert TOKEN not in result.stdout + result.stderr


def test_passwords_inside_pass_through_strings_are_masked() -> None:
    registry = registry_for(
        mssql={
            "type": "sqlserver",
            "host": "h",
            "database": "d",
            "driver": "FreeTDS",
            "odbc_options": {"odbc_connect": "Server=h;UID=app;PWD=PW123xyz"},
        },
        ora={"type": "oracle", "dsn": "scott/PW456xyz@db.example/orclpdb"},
        pg={"type": "postgres", "host": "h", "connect_args": {"dsn": "password=PW789xyz host=h"}},
    )
    for name, secret in (("mssql", "PW123xyz"), ("ora", "PW456xyz"), ("pg", "PW789xyz")):
        datasource = registry.build(name)
        for shown in (
            datasource.target(),
            repr(datasource),
            repr(datasource.config),
            json.dumps(datasource.describe(), default=str),
            datasource.redact(f"error talking to {datasource.target()}: {secret}"),
        ):
            assert secret not in shown, (name, shown)


@pytest.mark.live
@pytest.mark.parametrize(
    ("password", "word"), [("failed", " failed"), ("app", "'app'"), ("127", "127.0.0.1")]
)
def test_a_password_equal_to_a_common_word_is_not_masked_everywhere(
    password: str, word: str
) -> None:
    """Masking every "failed" in a message told the reader the password was "failed"."""
    registry = registry_for(
        x={
            "type": "mysql",
            "host": MARIADB_HOST,
            "port": MARIADB_PORT,
            "username": "app",
            "password": password,
            "database": "test",
            "timeout": 5,
        }
    )
    status = registry.health_check(["x"])["x"]
    assert status.status == "error", status
    assert word in status.detail, status.detail
    assert "***" not in status.detail, status.detail


# ----------------------------------------------------------------------------- 6. SQL Server


def test_sqlserver_without_database_is_host_based_not_a_dsn() -> None:
    datasource = registry_for(
        x={
            "type": "sqlserver",
            "host": "sql.example",
            "port": 14330,
            "username": "app",
            "password": "pw",
            "driver": "FreeTDS",
        }
    ).get_datasource("x")
    connection_string = datasource.odbc_connection_string()
    assert connection_string.startswith("DRIVER={FreeTDS};Server=sql.example,14330;")
    assert "dsn=" not in connection_string.lower()
    assert "database=" not in connection_string.lower()


@pytest.mark.live
def test_sqlserver_without_database_really_connects_by_host() -> None:
    """FreeTDS against a closed port: DSN mode would fail with unixODBC's
    "Data source name not found" instead of a connection failure."""
    registry = registry_for(
        x={
            "type": "sqlserver",
            "host": "127.0.0.1",
            "port": closed_port(),
            "username": "app",
            "password": "pw",
            "driver": "FreeTDS",
            "timeout": 3,
        }
    )
    status = registry.health_check(["x"])["x"]
    assert status.status in ("error", "timeout"), status
    assert "Data source name not found" not in status.detail, status.detail


def test_sqlserver_dsn_mode_only_when_asked() -> None:
    datasource = registry_for(
        x={"type": "sqlserver", "dsn": "MyDsn", "username": "app", "password": "pw"}
    ).build("x")
    assert datasource.odbc_connection_string().startswith("DSN=MyDsn;")


# ----------------------------------------------------------------------------- 7. timeouts


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "-inf", "soon"])
def test_cli_check_refuses_a_bad_timeout(tmp_path: Path, value: str) -> None:
    (tmp_path / "settings.toml").write_text('[datasources.lite]\ntype = "sqlite"\n')
    result = run_cli("check", "--timeout", value, cwd=tmp_path)
    assert result.returncode == 2, (value, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "--timeout" in result.stderr


def test_cli_check_caps_an_absurd_timeout(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[datasources.lite]\ntype = "sqlite"\n')
    for mode in ("--processes", "--threads"):
        result = run_cli("check", "--timeout", "1e308", mode, cwd=tmp_path)
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 0.0])
def test_health_check_refuses_a_bad_timeout(value: float) -> None:
    registry = registry_for(lite={"type": "sqlite"})
    with pytest.raises(ConfigurationError):
        registry.health_check(timeout=value)
    with pytest.raises(ConfigurationError):
        registry.get_datasource("lite").health_check(value)


def test_an_absurd_timeout_is_capped() -> None:
    registry = registry_for(lite={"type": "sqlite"})
    assert registry.health_check(timeout=1e308)["lite"].ok


# ----------------------------------------------------------------------------- 8. env sub-keys


def test_env_sub_keys_match_the_files_keys_case_insensitively(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.x]\ntype = "postgres"\nhost = "h"\n'
        '[datasources.x.query]\napplication_name = "file"\n'
    )
    monkeypatch.setenv("UNIFYDB_DATASOURCES__X__QUERY__APPLICATION_NAME", "env")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__X__CONNECT_ARGS__read_timeout", "5")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__X__CONNECT_ARGS__KEEPALIVES", "true")
    datasource = unifydb.Registry(tmp_path / "settings.toml").build("x")
    assert datasource.config.query == {"application_name": "env"}
    assert datasource.config.connect_args == {"read_timeout": 5, "keepalives": True}


# ----------------------------------------------------------------------------- 9. one contract


@pytest.mark.parametrize("name", ["NullPool", "StaticPool", "sqlalchemy.pool.NullPool"])
def test_pool_class_by_name(name: str) -> None:
    registry = registry_for(
        x={"type": "sqlite", "database": "pool.db", "engine_options": {"poolclass": name}}
    )
    engine = registry.get_engine("x")
    assert type(engine.pool).__name__ == name.rpartition(".")[2]


def test_unknown_pool_class_name_is_a_configuration_error() -> None:
    registry = registry_for(x={"type": "sqlite", "engine_options": {"poolclass": "Bogus"}})
    with pytest.raises(ConfigurationError) as caught:
        registry.get_engine("x")
    assert caught.value.key == "engine_options"
    assert "NullPool" in str(caught.value)


@pytest.mark.live
def test_connection_failures_are_unifydb_and_sqlalchemy_errors(scram_postgres: Any) -> None:
    from sqlalchemy.exc import OperationalError

    registry = registry_for(
        wrong=pg_fields(scram_postgres, type="postgres", password="wrong-password", timeout=5),
        closed={"type": "postgres", "host": "127.0.0.1", "port": closed_port(), "timeout": 3},
        maria={
            "type": "mariadb",
            "host": MARIADB_HOST,
            "port": MARIADB_PORT,
            "username": "nobody-here",
            "password": "x",
            "timeout": 3,
        },
    )
    for name in ("wrong", "closed", "maria"):
        with pytest.raises(DatasourceConnectionError) as caught:
            with registry.get_engine(name).connect():
                pass
        assert isinstance(caught.value, OperationalError), name
        assert caught.value.datasource == name
        assert "wrong-password" not in str(caught.value)


@pytest.mark.live
def test_cli_migrate_with_a_wrong_password_prints_one_line(
    scram_postgres: Any, tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(
        textwrap.dedent(
            f"""
            [datasources.pg]
            type = "postgres"
            host = "{scram_postgres.host}"
            port = {scram_postgres.port}
            username = "{scram_postgres.user}"
            database = "{scram_postgres.database}"
            password = "not-the-password"
            timeout = 5
            """
        )
    )
    result = run_cli(
        "migrate",
        "--directory",
        str(REPO / "migrations"),
        "--datasource",
        "pg",
        "upgrade",
        "head",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "not-the-password" not in result.stderr
    debug = run_cli(
        "--debug",
        "migrate",
        "--directory",
        str(REPO / "migrations"),
        "--datasource",
        "pg",
        "upgrade",
        "head",
        cwd=tmp_path,
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


# ----------------------------------------------------------------------------- 10. close_all


def _connections_to(database: str) -> int:
    with pg_admin() as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.live
def test_close_all_closes_connections_checked_out_at_that_moment(
    pg_settings: dict[str, Any],
) -> None:
    registry = registry_for(pg={**pg_settings, "pool_size": 8})
    engine = registry.get_engine("pg")
    holding = threading.Barrier(9)
    release = threading.Event()

    def hold() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            holding.wait()
            release.wait()

    gc.disable()  # what gc would close must be closed without it
    try:
        threads = [threading.Thread(target=hold) for _ in range(8)]
        for thread in threads:
            thread.start()
        holding.wait()
        assert _connections_to(pg_settings["database"]) == 8
        registry.close_all()
        release.set()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 5
        while _connections_to(pg_settings["database"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _connections_to(pg_settings["database"]) == 0
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- 11. async imports


@pytest.mark.live
def test_first_async_use_does_not_import_drivers_on_the_event_loop(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys, threading
        from sqlalchemy import select
        import unifydb

        loop_thread = []
        imported_on = {{}}

        class Spy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("psycopg", "asyncmy", "aiosqlite"):
                    imported_on.setdefault(name.split(".")[0], threading.get_ident())
                return None

        sys.meta_path.insert(0, Spy())
        registry = unifydb.Registry(settings={{"datasources": {{
            "pg": {{"type": "postgres", "host": "{PG_HOST}", "port": {PG_PORT},
                    "username": "{PG_ADMIN}", "database": "postgres"}},
        }}}})

        async def main():
            loop_thread.append(threading.get_ident())
            async with registry.async_session("pg") as session:
                await session.execute(select(1))
            await registry.get_async_engine("pg").dispose()

        asyncio.run(main())
        on_loop = [name for name, ident in imported_on.items() if ident == loop_thread[0]]
        print("ON_LOOP", on_loop, sorted(imported_on))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "ON_LOOP [] ['psycopg']" in result.stdout, result.stdout


# ----------------------------------------------------------------------------- 12. settings files


def _fails_within(seconds: float, fn: Any) -> BaseException:
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    assert outcome, "did not fail"
    return outcome[0]


def test_a_fifo_settings_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "settings.toml"
    os.mkfifo(fifo)
    error = _fails_within(10, lambda: unifydb.Registry(fifo).names())
    assert isinstance(error, SettingsFileError)
    assert "regular file" in str(error)


def test_a_settings_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "settings.toml"
    link.symlink_to("/dev/zero")
    error = _fails_within(10, lambda: unifydb.Registry(link).names())
    assert isinstance(error, SettingsFileError)


def test_an_oversized_settings_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "settings.toml"
    with big.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    error = _fails_within(10, lambda: unifydb.Registry(big).names())
    assert isinstance(error, SettingsFileError)
    assert "MiB" in str(error)


def test_a_yaml_of_300k_entries_fails_fast(tmp_path: Path) -> None:
    """It used to be refused only after dynaconf had parsed and copied it all
    (20 s and 330 MB here); now it fails before that, in a fraction of the memory."""
    big = tmp_path / "settings.yaml"
    lines = ["datasources:"]
    for i in range(100_000):
        lines += [f"  ds{i}:", "    type: sqlite", f"    database: d{i}.db"]
    big.write_text("\n".join(lines) + "\n")
    script = textwrap.dedent(
        f"""
        import unifydb
        try:
            unifydb.Registry({str(big)!r}).names()
        except unifydb.SettingsFileError as error:
            print("REFUSED", "values" in str(error))
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                print("PEAK_KB", line.split()[1])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert "REFUSED True" in result.stdout, (result.stdout, result.stderr)
    peak_kb = int(result.stdout.split("PEAK_KB")[1].split()[0])
    assert peak_kb < 150_000, peak_kb


# ----------------------------------------------------------------------- 13. check's processes


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_check_forks_a_bounded_pool_of_workers() -> None:
    from unifydb.health import check_in_processes

    registry = registry_for(
        **{f"lite{i}": {"type": "sqlite", "database": ":memory:"} for i in range(40)}
    )
    forks = 0
    real_fork = os.fork

    def counting_fork() -> int:
        nonlocal forks
        pid = real_fork()
        if pid:
            forks += 1
        return pid

    os.fork = counting_fork  # type: ignore[assignment]
    try:
        results = check_in_processes(registry, timeout=20, workers=3)
    finally:
        os.fork = real_fork
    assert forks <= 3
    assert all(status.ok for status in results.values()), results
    assert len(results) == 40


# ----------------------------------------------------------------------------- 14. settings odds


@pytest.mark.parametrize("value", ["${VAR", "${}", "${A:-${B}}", "pre ${ post", "${1BAD}"])
def test_malformed_placeholders_are_refused(value: str) -> None:
    registry = registry_for(x={"type": "postgres", "host": "h", "username": value})
    with pytest.raises(ConfigurationError) as caught:
        registry.build("x")
    assert caught.value.key == "username"
    assert "placeholder" in str(caught.value)


def test_a_placeholder_whose_value_is_a_placeholder_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNIFYDB_TEST_RECURSIVE", "${UNIFYDB_TEST_RECURSIVE}")
    registry = registry_for(
        x={"type": "postgres", "host": "h", "username": "${UNIFYDB_TEST_RECURSIVE}"}
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.build("x")
    assert caught.value.key == "username"


def test_escaped_placeholder_stays_literal() -> None:
    datasource = registry_for(
        x={"type": "postgres", "host": "h", "username": "$${NOT_A_VAR}"}
    ).build("x")
    assert datasource.config.username == "${NOT_A_VAR}"


def test_replica_keys_are_validated_with_the_primary() -> None:
    registry = registry_for(
        x={"type": "postgres", "host": "h", "replicas": [{"host": "r", "prot": 5433}]}
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.get_datasource("x")
    assert "prot" in str(caught.value)


def test_names_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[datasources.PG]\ntype = "postgres"\nhost = "a"\n'
        '[datasources.pg]\ntype = "postgres"\nhost = "b"\n'
    )
    with pytest.raises(SettingsFileError) as caught:
        unifydb.Registry(path).names()
    assert "PG" in str(caught.value)
    path.write_text('[datasources.pg]\ntype = "postgres"\nHost = "a"\nhost = "b"\n')
    with pytest.raises(SettingsFileError):
        unifydb.Registry(path).names()


def test_an_empty_password_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "pw"
    empty.write_text("\n")
    registry = registry_for(x={"type": "postgres", "host": "h", "password_file": str(empty)})
    with pytest.raises(ConfigurationError) as caught:
        registry.build("x")
    assert caught.value.key == "password_file"
    assert "empty" in str(caught.value)


def test_a_bom_is_stripped_from_secret_and_settings_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes("\ufeffs3cret\n".encode())
    settings = tmp_path / "settings.toml"
    settings.write_bytes(
        "\ufeff[datasources.x]\ntype = 'postgres'\nhost = 'h'\n".encode()
        + f"password_file = '{secret}'\n".encode()
    )
    datasource = unifydb.Registry(settings).build("x")
    assert datasource.config.password.get_secret_value() == "s3cret"
