"""Settings: files, environments, env overrides, placeholders, the shipped settings.toml.

How the typed options read what the settings hold (URLs, password files, types,
unknown keys and bad values) is in test_options.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import unifydb
from tests.helpers import REPO
from unifydb.errors import (
    NotConfiguredError,
    SettingsFileError,
)
from unifydb.settings import PlaceholderError, missing_variables, resolve_placeholders

# ----------------------------------------------------------------------------- placeholders


def test_placeholder_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A", "alpha")
    monkeypatch.setenv("EMPTY", "")
    value, missing = resolve_placeholders(
        {
            "plain": "${A}",
            "inside": "x-${A}-y",
            "default_unused": "${A:-zzz}",
            "default_used": "${NOPE:-fallback}",
            "default_on_empty": "${EMPTY:-fallback}",
            "empty_set": "${EMPTY}",
            "escaped": "$${A}",
            "nested": {"list": ["${A}", 5]},
        }
    )
    assert missing == []
    assert value == {
        "plain": "alpha",
        "inside": "x-alpha-y",
        "default_unused": "alpha",
        "default_used": "fallback",
        "default_on_empty": "fallback",
        "empty_set": "",
        "escaped": "${A}",
        "nested": {"list": ["alpha", 5]},
    }


def test_substituted_values_are_not_expanded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET", "has $OTHER inside $$ and %")
    value, missing = resolve_placeholders("${SECRET}")
    assert (value, missing) == ("has $OTHER inside $$ and %", [])
    # a value that is itself a placeholder is refused, not passed on as a literal
    monkeypatch.setenv("SECRET", "has ${OTHER} inside")
    with pytest.raises(PlaceholderError):
        resolve_placeholders("${SECRET}")


def test_missing_variables_are_reported_and_left_in_place() -> None:
    value, missing = resolve_placeholders({"a": "${NOT_SET_1}", "b": "${NOT_SET_2:-ok}"})
    assert missing == ["NOT_SET_1"]
    assert value == {"a": "${NOT_SET_1}", "b": "ok"}
    assert missing_variables({"a": "${NOT_SET_1}", "b": "$${NOT_SET_3}"}) == ["NOT_SET_1"]


# ----------------------------------------------------------------------------- shipped settings


def test_shipped_settings_list_every_built_in_type() -> None:
    registry = unifydb.Registry(REPO / "settings.toml")
    assert sorted(registry.names()) == sorted(
        [
            "postgres", "sqlite", "mysql", "mariadb", "oracle", "sqlserver",
            "supabase", "mongodb", "cassandra", "chroma", "milvus",
            "qdrant", "pgvector", "pinecone",
            "duckdb", "athena", "elasticsearch", "redis",
        ]
    )  # fmt: skip
    for name in registry.names():
        assert registry.type_of(name) == name


def test_shipped_settings_use_the_seed_variable_names() -> None:
    registry = unifydb.Registry(REPO / "settings.toml")
    assert "DATASOURCE_ORACLE_SERVICE" in registry.inspect("oracle").missing_variables
    assert "DATASOURCE_CASSANDRA_HOSTS" in registry.inspect("cassandra").missing_variables
    assert registry.inspect("athena").missing_variables == ("DATASOURCE_ATHENA_S3_STAGING_DIR",)
    assert registry.inspect("elasticsearch").missing_variables == ("DATASOURCE_ELASTICSEARCH_NODE",)
    assert registry.inspect("redis").missing_variables == ("DATASOURCE_REDIS_HOST",)
    for kind in ("postgres", "mysql", "mariadb", "sqlserver", "supabase"):
        info = registry.inspect(kind)
        upper = kind.upper()
        assert f"DATASOURCE_{upper}_HOST" in info.missing_variables
        assert f"DATASOURCE_{upper}_PASSWORD" in info.missing_variables


def test_unset_variable_of_an_unused_datasource_is_no_error(tmp_path: Path) -> None:
    registry = unifydb.Registry(REPO / "settings.toml")
    # postgres is not configured, yet sqlite works
    assert registry.get_engine("sqlite").dialect.name == "sqlite"
    with pytest.raises(NotConfiguredError) as caught:
        registry.get_datasource("postgres")
    assert caught.value.datasource == "postgres"
    assert "DATASOURCE_POSTGRES_HOST" in str(caught.value)
    assert "DATASOURCE_POSTGRES_HOST" in caught.value.missing


def test_placeholders_resolve_at_first_use_not_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = unifydb.Registry(REPO / "settings.toml")
    registry.names()  # settings loaded now
    monkeypatch.setenv("DATASOURCE_POSTGRES_HOST", "db.example")
    monkeypatch.setenv("DATASOURCE_POSTGRES_DATABASE", "app")
    monkeypatch.setenv("DATASOURCE_POSTGRES_USERNAME", "svc")
    monkeypatch.setenv("DATASOURCE_POSTGRES_PASSWORD", "")
    datasource = registry.build("postgres")
    assert datasource.target() == "postgresql+psycopg://svc@db.example:5432/app"


# ----------------------------------------------------------------------------- env overrides


def test_env_override_keeps_exact_strings_and_types_them_per_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.pg]\ntype = "postgres"\nhost = "file-host"\n'
    )
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__PASSWORD", "1e5")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__PORT", "6543")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__POOL_PRE_PING", "false")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__HOST", "env-host")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__CONNECT_ARGS__application_name", "x")
    datasource = unifydb.Registry().build("pg")
    options = datasource.config
    assert options.password.get_secret_value() == "1e5"  # type: ignore[attr-defined]
    assert options.port == 6543  # type: ignore[attr-defined]
    assert options.pool_pre_ping is False  # type: ignore[attr-defined]
    assert options.host == "env-host"  # type: ignore[attr-defined]
    assert options.connect_args == {"application_name": "x"}  # type: ignore[attr-defined]


def test_env_override_can_add_a_datasource_and_is_case_insensitive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNIFYDB_DATASOURCES__Scratch__TYPE", "sqlite")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__SCRATCH__DATABASE", ":memory:")
    registry = unifydb.Registry()
    assert registry.names() == ["scratch"]
    assert registry.get_engine("SCRATCH") is registry.get_engine("scratch")


def test_env_list_value_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIFYDB_DATASOURCES__C__TYPE", "cassandra")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__C__CONTACT_POINTS", '["a", "b"]')
    assert unifydb.Registry().build("c").config.contact_points == ["a", "b"]  # type: ignore[attr-defined]


def test_env_text_that_only_looks_like_a_list_stays_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__TYPE", "postgres")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__PASSWORD", "[not, toml")
    monkeypatch.setenv("UNIFYDB_DATASOURCES__PG__USERNAME", "{brace")
    options = unifydb.Registry().build("pg").config
    assert options.password.get_secret_value() == "[not, toml"  # type: ignore[attr-defined]
    assert options.username == "{brace"  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- files


def test_seed_style_yaml_loads_unchanged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seed = tmp_path / "datasources.yaml"
    seed.write_text(
        "datasources:\n"
        "  oracle:\n"
        "    host: ${DATASOURCE_ORACLE_HOST}\n"
        "    port: ${DATASOURCE_ORACLE_PORT}\n"
        "    service_name: ${DATASOURCE_ORACLE_SERVICE}\n"
        "    username: ${DATASOURCE_ORACLE_USERNAME}\n"
        "    password: ${DATASOURCE_ORACLE_PASSWORD}\n"
        "  cassandra:\n"
        "    contact_points: ${DATASOURCE_CASSANDRA_HOSTS}\n"
        "    port: ${DATASOURCE_CASSANDRA_PORT}\n"
        "    keyspace: ${DATASOURCE_CASSANDRA_KEYSPACE}\n"
        "    username: ${DATASOURCE_CASSANDRA_USERNAME}\n"
        "    password: ${DATASOURCE_CASSANDRA_PASSWORD}\n"
    )
    for name, value in {
        "DATASOURCE_ORACLE_HOST": "ora.example",
        "DATASOURCE_ORACLE_PORT": "1522",
        "DATASOURCE_ORACLE_SERVICE": "FREEPDB1",
        "DATASOURCE_ORACLE_USERNAME": "scott",
        "DATASOURCE_ORACLE_PASSWORD": "tiger",
        "DATASOURCE_CASSANDRA_HOSTS": "10.0.0.1, 10.0.0.2",
        "DATASOURCE_CASSANDRA_PORT": "9142",
        "DATASOURCE_CASSANDRA_KEYSPACE": "app",
        "DATASOURCE_CASSANDRA_USERNAME": "",
        "DATASOURCE_CASSANDRA_PASSWORD": "",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("UNIFYDB_SETTINGS", str(seed))
    registry = unifydb.Registry()
    oracle = registry.build("oracle")
    assert oracle.target() == "oracle+oracledb://scott:***@ora.example:1522?service_name=FREEPDB1"
    cassandra = registry.build("cassandra")
    assert cassandra.config.contact_points == ["10.0.0.1", "10.0.0.2"]  # type: ignore[attr-defined]
    assert cassandra.config.port == 9142  # type: ignore[attr-defined]


def test_several_files_merge_and_secrets_file_wins(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        '[datasources.pg]\ntype = "postgres"\nhost = "h"\nport = 5432\n'
        '[datasources.lite]\ntype = "sqlite"\n'
    )
    (tmp_path / ".secrets.toml").write_text('[datasources.pg]\npassword = "from-secrets"\n')
    registry = unifydb.Registry()
    assert registry.names() == ["pg", "lite"]
    pg = registry.build("pg")
    assert pg.config.password.get_secret_value() == "from-secrets"  # type: ignore[attr-defined]
    assert pg.config.host == "h"  # type: ignore[attr-defined]


def test_unifydb_settings_names_several_formats(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a.toml").write_text('[datasources.one]\ntype = "sqlite"\n')
    (tmp_path / "b.json").write_text(json.dumps({"datasources": {"two": {"type": "sqlite"}}}))
    (tmp_path / "c.yml").write_text("datasources:\n  one:\n    database: ':memory:'\n")
    monkeypatch.setenv("UNIFYDB_SETTINGS", "a.toml, b.json,c.yml")
    registry = unifydb.Registry()
    assert sorted(registry.names()) == ["one", "two"]
    assert registry.entry("one") == {"type": "sqlite", "database": ":memory:"}


def test_dynaconf_environments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        '[default.datasources.db]\ntype = "sqlite"\ndatabase = "default.db"\ntimeout = 3\n'
        '[production.datasources.db]\ndatabase = "prod.db"\n'
    )
    assert unifydb.Registry().entry("db")["database"] == "default.db"
    monkeypatch.setenv("UNIFYDB_ENV", "production")
    entry = unifydb.Registry().entry("db")
    assert entry == {"type": "sqlite", "database": "prod.db", "timeout": 3}


def test_dynaconf_object_and_mapping_are_accepted(tmp_path: Path) -> None:
    from dynaconf import Dynaconf

    path = tmp_path / "custom.toml"
    path.write_text('[datasources.x]\ntype = "sqlite"\n')
    settings = Dynaconf(settings_files=[str(path)])
    assert unifydb.Registry(settings).names() == ["x"]
    assert unifydb.Registry({"datasources": {"y": {"type": "sqlite"}}}).names() == ["y"]
    assert unifydb.Registry(str(path)).names() == ["x"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[datasources.x\ntype='sqlite'", "could not read settings"),
        (b'[datasources.x]\ntype = "sqlite"\nhost = "\xff\xfe"\n', "not valid UTF-8"),
    ],
)
def test_broken_files_give_a_clear_error(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "settings.toml").write_bytes(content)
    with pytest.raises(SettingsFileError) as caught:
        unifydb.Registry().names()
    assert expected in str(caught.value)


def test_missing_named_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIFYDB_SETTINGS", "nowhere.toml")
    with pytest.raises(SettingsFileError) as caught:
        unifydb.Registry().names()
    assert "nowhere.toml" in str(caught.value)
    assert caught.value.key == "UNIFYDB_SETTINGS"
