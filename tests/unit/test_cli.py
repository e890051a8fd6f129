"""The `unifydb` command, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import MARIADB_HOST, MARIADB_PORT, PG_ADMIN, PG_HOST, PG_PORT, REPO, run_cli
from tests.servers.faults import hanging_listener

SECRET = "Cli-S3cret-Value-9f"


def shipped(tmp_path: Path) -> Path:
    (tmp_path / "settings.toml").write_text((REPO / "settings.toml").read_text())
    return tmp_path


def test_check_with_only_the_shipped_settings(tmp_path: Path) -> None:
    """The README's first command: migrate the SQLite example, then check."""
    before = run_cli("check", "--json", "sqlite", cwd=shipped(tmp_path))
    assert before.returncode == 1, before.stderr
    (missing,) = json.loads(before.stdout)
    assert missing["status"] == "error" and "not found" in missing["detail"], missing
    assert not (tmp_path / ".unifydb" / "sqlite.db").exists()  # a check creates nothing

    migrate = run_cli(
        "migrate", "--directory", str(REPO / "migrations"), "--datasource", "sqlite",
        "upgrade", "head", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    result = run_cli("check", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    statuses = {item["name"]: item for item in json.loads(result.stdout)}
    assert len(statuses) == 18
    assert statuses["sqlite"]["status"] == "ok"
    assert statuses["duckdb"]["status"] == "ok"  # in memory: nothing to create first
    for name, item in statuses.items():
        if name in ("sqlite", "chroma", "milvus", "qdrant", "duckdb"):
            continue
        assert item["status"] in ("not_configured", "driver_missing"), item
        if item["status"] == "not_configured":
            assert f"DATASOURCE_{name.upper()}_" in item["detail"]


def test_list_shows_type_driver_and_missing_variables(tmp_path: Path) -> None:
    result = run_cli("list", cwd=shipped(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(lines) >= {"postgres", "sqlite", "oracle", "mongodb", "cassandra", "redis"}
    assert "installed" in lines["postgres"]
    assert "DATASOURCE_ORACLE_SERVICE" in lines["oracle"]
    assert lines["sqlite"].rstrip().endswith("yes")
    assert lines["duckdb"].rstrip().endswith("yes")
    assert "DATASOURCE_ATHENA_S3_STAGING_DIR" in lines["athena"]
    assert "DATASOURCE_ELASTICSEARCH_NODE" in lines["elasticsearch"]
    assert "DATASOURCE_REDIS_HOST" in lines["redis"]
    as_json = json.loads(run_cli("list", "--json", cwd=tmp_path).stdout)
    oracle = next(item for item in as_json if item["name"] == "oracle")
    assert oracle["configured"] is False
    assert "DATASOURCE_ORACLE_PASSWORD" in oracle["missing_variables"]
    assert oracle["extra"] == "oracle"


def live_settings(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "settings.toml").write_text(
        f"""
[datasources.pg]
type = "postgres"
host = "{PG_HOST}"
port = {PG_PORT}
database = "postgres"
username = "{PG_ADMIN}"
password = "${{PG_PASSWORD}}"

[datasources.maria]
type = "mariadb"
host = "{MARIADB_HOST}"
port = {MARIADB_PORT}
username = "root"
password = "${{MARIA_PASSWORD:-}}"

[datasources.lite]
type = "sqlite"
{extra}
"""
    )
    return tmp_path


@pytest.mark.live
def test_check_live_servers_text_and_json(tmp_path: Path) -> None:
    cwd = live_settings(tmp_path)
    env = {"PG_PASSWORD": SECRET}  # trust auth ignores it; it must still never be printed
    text_result = run_cli("check", cwd=cwd, env=env)
    assert text_result.returncode == 0, text_result.stdout + text_result.stderr
    assert "ok" in text_result.stdout
    json_result = run_cli("check", "--json", "pg", "maria", cwd=cwd, env=env)
    statuses = {item["name"]: item for item in json.loads(json_result.stdout)}
    assert set(statuses) == {"pg", "maria"}
    assert statuses["pg"]["ok"] and statuses["maria"]["ok"]
    assert statuses["pg"]["server_version"].startswith("15.")
    for result in (text_result, json_result):
        assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("strategy", ["--processes", "--threads"])
def test_check_exits_nonzero_when_a_configured_datasource_fails(
    tmp_path: Path, strategy: str
) -> None:
    with hanging_listener() as (host, port):
        cwd = live_settings(
            tmp_path,
            extra=f'\n[datasources.stuck]\ntype = "postgres"\nhost = "{host}"\nport = {port}\n'
            f'password = "{SECRET}"\n',
        )
        started = time.monotonic()
        result = run_cli("check", strategy, "--timeout", "2", "--json", "stuck", "lite", cwd=cwd)
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    statuses = {item["name"]: item for item in json.loads(result.stdout)}
    assert statuses["stuck"]["status"] == "timeout"
    assert statuses["lite"]["status"] == "ok"
    assert elapsed < 12  # interpreter start-up plus one 2 s deadline, not more
    assert SECRET not in result.stdout + result.stderr


def test_show_redacts_secrets(tmp_path: Path) -> None:
    cwd = live_settings(tmp_path)
    for args in (("show", "pg"), ("show", "pg", "--json")):
        result = run_cli(*args, cwd=cwd, env={"PG_PASSWORD": SECRET})
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert "postgresql+psycopg://postgres:***@" in result.stdout
    described: dict[str, Any] = json.loads(
        run_cli("show", "pg", "--json", cwd=cwd, env={"PG_PASSWORD": SECRET}).stdout
    )
    assert described["options"]["password"] == "***"
    assert described["options"]["port"] == PG_PORT


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    cwd = live_settings(tmp_path)
    unknown = run_cli("show", "pgg", cwd=cwd)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: datasource 'pgg'")
    assert "did you mean 'pg'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    not_configured = run_cli("show", "pg", cwd=cwd)
    assert "PG_PASSWORD" in not_configured.stderr
    bad_name = run_cli("check", "nope", cwd=cwd)
    assert bad_name.returncode == 2
    assert "no datasource named 'nope'" in bad_name.stderr


def test_settings_option_and_empty_directory(tmp_path: Path) -> None:
    empty = run_cli("list", cwd=tmp_path)
    assert empty.returncode == 0
    assert "no datasources configured" in empty.stdout
    other = tmp_path / "elsewhere.toml"
    other.write_text('[datasources.x]\ntype = "sqlite"\n')
    listed = run_cli("--settings", str(other), "list", "--json", cwd=tmp_path)
    assert [item["name"] for item in json.loads(listed.stdout)] == ["x"]
