"""ORBIT's datasource configuration, loaded unchanged, every key doing what ORBIT means.

The fixture in ``tests/compat/orbit`` is ORBIT's ``config/config.yaml`` (its
``import:`` list) and ``config/datasources.yaml`` in their current shape; the
tests copy them untouched, write a ``.env`` the way ORBIT's ``env.example``
asks, and point its variables at this machine's servers: PostgreSQL, MariaDB
(as mysql and as mariadb), SQLite, DuckDB, Chroma (embedded), Milvus Lite, a
MongoDB-wire server and Redis. Every mapped key is then observed on a live
connection.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
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
    REDIS_HOST,
    REDIS_PORT,
    pg_admin,
    registry_for,
)
from unifydb.errors import ConfigurationError, DatasourceConnectionError
from unifydb.factory import DatasourceFactory

FIXTURE = Path(__file__).parent / "orbit"
LIVE = ("sqlite", "postgres", "mysql", "mariadb", "chroma", "milvus", "mongodb", "duckdb", "redis")


@pytest.fixture(scope="module")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("orbit-mongo")) as server:
        yield server


@pytest.fixture
def orbit(
    tmp_path: Path,
    pg_database: str,
    mariadb_database: str,
    mongo_server: Any,
) -> dict[str, Any]:
    """ORBIT's config folder copied unchanged into a working directory, with the
    example SQLite database ORBIT ships and a .env for this machine's servers."""
    config = tmp_path / "config"
    shutil.copytree(FIXTURE, config)
    (tmp_path / "examples" / "sqlite").mkdir(parents=True)
    sqlite3.connect(tmp_path / "examples" / "sqlite" / "sqlite_db").close()
    env = {
        "DATASOURCE_POSTGRES_HOST": PG_HOST,
        "DATASOURCE_POSTGRES_PORT": str(PG_PORT),
        "DATASOURCE_POSTGRES_DATABASE": pg_database,
        "DATASOURCE_POSTGRES_USERNAME": PG_ADMIN,
        "DATASOURCE_POSTGRES_PASSWORD": "",
        "DATASOURCE_MYSQL_HOST": MARIADB_HOST,
        "DATASOURCE_MYSQL_PORT": str(MARIADB_PORT),
        "DATASOURCE_MYSQL_DATABASE": mariadb_database,
        "DATASOURCE_MYSQL_USERNAME": "root",
        "DATASOURCE_MYSQL_PASSWORD": "",
        "DATASOURCE_MARIADB_HOST": MARIADB_HOST,
        "DATASOURCE_MARIADB_PORT": str(MARIADB_PORT),
        "DATASOURCE_MARIADB_DATABASE": mariadb_database,
        "DATASOURCE_MARIADB_USERNAME": "root",
        "DATASOURCE_MARIADB_PASSWORD": "",
        "DATASOURCE_MONGODB_HOST": mongo_server.host,
        "DATASOURCE_MONGODB_PORT": str(mongo_server.port),
        "DATASOURCE_MONGODB_DATABASE": "orbit",
        "DATASOURCE_MONGODB_USERNAME": "",
        "DATASOURCE_MONGODB_PASSWORD": "",
        "DATASOURCE_MONGODB_AUTH_SOURCE": "admin",
        "DATASOURCE_REDIS_HOST": REDIS_HOST,
        "DATASOURCE_REDIS_PORT": str(REDIS_PORT),
        "DATASOURCE_REDIS_PASSWORD": "",
    }
    (tmp_path / ".env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    # ORBIT's milvus entry names a server (localhost:19530, no variable): for the
    # live check it is pointed at Milvus Lite from the environment, as a user would
    overrides = {
        "UNIFYDB_DATASOURCES__MILVUS__HOST": "",
        "UNIFYDB_DATASOURCES__MILVUS__URI": str(tmp_path / "milvus" / "orbit.db"),
        # the MongoDB-wire server is a single node; pymongo must not look for its set
        "UNIFYDB_DATASOURCES__MONGODB__CLIENT_OPTIONS__DIRECTCONNECTION": "true",
    }
    return {"cwd": tmp_path, "config": config / "config.yaml", "env": env, "overrides": overrides}


def run_cli(orbit: dict[str, Any], *args: str) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("UNIFYDB_", "DATASOURCE_"))}
    return subprocess.run(
        [sys.executable, "-m", "unifydb", "--env-file", ".env", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=orbit["cwd"],
        env={**clean, **orbit["overrides"], "UNIFYDB_SETTINGS": str(orbit["config"])},
        timeout=180,
    )


@pytest.fixture
def registry(orbit: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[unifydb.Registry]:
    monkeypatch.chdir(orbit["cwd"])
    for variable, value in orbit["overrides"].items():
        monkeypatch.setenv(variable, value)
    registry = unifydb.Registry(orbit["config"], env_file=orbit["cwd"] / ".env")
    yield registry
    registry.close_all()


# ----------------------------------------------------------------------------- the CLI


@pytest.mark.live
def test_list_show_and_check_the_orbit_file_unchanged(orbit: dict[str, Any]) -> None:
    listed = run_cli(orbit, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    status = {item["name"]: item for item in json.loads(listed.stdout)}
    for name in LIVE:
        assert status[name]["status"] == "ok", status[name]
        assert status[name]["configured"] is True
    for name in (
        "supabase", "oracle", "sqlserver", "cassandra", "pinecone", "qdrant", "athena",
        "elasticsearch",
    ):  # fmt: skip
        assert status[name]["status"] == "not_configured", status[name]
    assert status["mongodb"]["missing_variables"] == []  # the URI form is not needed
    for name in LIVE:
        shown = run_cli(orbit, "show", "--json", name)
        assert shown.returncode == 0, (name, shown.stderr)
        options = json.loads(shown.stdout)["options"]
        for orbit_name in ("connection_timeout", "validate_on_borrow", "db_path", "use_ssl"):
            assert orbit_name not in options  # shown under unifydb's own names
    checked = run_cli(orbit, "check", "--json", "--timeout", "60", *LIVE)
    assert checked.returncode == 0, (checked.stdout, checked.stderr)
    results = {item["name"]: item for item in json.loads(checked.stdout)}
    assert {name: results[name]["status"] for name in LIVE} == dict.fromkeys(LIVE, "ok")


def test_config_yaml_imports_datasources_yaml(orbit: dict[str, Any]) -> None:
    registry = unifydb.Registry(orbit["config"])
    assert "postgres" in registry.names() and "mongodb" in registry.names()
    assert len(registry.names()) == 17


def test_a_file_without_datasources_says_what_it_has(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("general:\n  port: 3000\nauth:\n  x: 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "unifydb", "--settings", "config.yaml", "list"],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0
    assert "no 'datasources' table" in result.stdout
    assert "general, auth" in result.stdout


# ----------------------------------------------------------------------------- SQL keys, live


def _pg_connections(database: str) -> list[int]:
    with pg_admin() as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = "
            "'client backend'",
            (database,),
        ).fetchall()
    return [int(row[0]) for row in rows]


@pytest.mark.live
def test_postgres_keys_on_a_live_connection(
    registry: unifydb.Registry, orbit: dict[str, Any]
) -> None:
    datasource = registry.get_datasource("postgres")
    options = datasource.options
    assert (options.timeout, options.pool_recycle, options.pool_pre_ping) == (10.0, 3600, True)
    engine = registry.get_engine("postgres")
    assert engine.pool._pre_ping is True  # validate_on_borrow
    with engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "10s"
    # min_pool_size: 2 connections open after the first use
    database = orbit["env"]["DATASOURCE_POSTGRES_DATABASE"]
    deadline = time.monotonic() + 20
    while len(_pg_connections(database)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_pg_connections(database)) >= 2
    assert engine.pool.size() >= 5  # pool_size


@pytest.mark.live
def test_mysql_and_mariadb_keys_on_a_live_connection(registry: unifydb.Registry) -> None:
    from sqlalchemy.pool import NullPool, QueuePool

    mysql = registry.get_engine("mysql")
    assert isinstance(mysql.pool, NullPool)  # use_connection_pool: false
    with mysql.connect() as connection:
        # the mysql type on a MariaDB server: its own statement limit, in seconds
        assert float(connection.execute(text("SELECT @@max_statement_time")).scalar()) == 15.0
    mariadb = registry.get_engine("mariadb")
    assert isinstance(mariadb.pool, QueuePool)
    with mariadb.connect() as connection:
        assert float(connection.execute(text("SELECT @@max_statement_time")).scalar()) == 20.0
    assert registry.get_datasource("mariadb").options.pool_recycle == 3600


@pytest.mark.live
def test_a_connection_idle_past_idle_timeout_is_replaced(pg_settings: dict[str, Any]) -> None:
    registry = registry_for(pg={**pg_settings, "idle_timeout": 0.5, "pool_size": 1})
    engine = registry.get_engine("pg")
    try:
        with engine.connect() as connection:
            first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as connection:  # not idle long: the same connection
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() == first
        time.sleep(1.0)
        with engine.connect() as connection:
            replaced = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        assert replaced != first
        deadline = time.monotonic() + 10
        while first in _pg_connections(pg_settings["database"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first not in _pg_connections(pg_settings["database"])  # and it was closed
    finally:
        registry.close_all()


# ----------------------------------------------------------------------------- other types, live


@pytest.mark.live
def test_chroma_milvus_and_mongodb_keys(registry: unifydb.Registry, orbit: dict[str, Any]) -> None:
    chroma = registry.get_datasource("chroma")
    assert chroma.mode == "persistent"  # use_local: true, although host is set
    registry.get_client("chroma")
    assert (orbit["cwd"] / "examples" / "chroma" / "chroma_db").is_dir()
    assert chroma.settings == {"embedding_provider": "ollama"}

    store = registry.vectors("milvus")
    store.create_collection("orbit_docs")  # dim and metric_type from settings
    info = store._describe("orbit_docs")
    assert (info.dimension, info.metric) == (768, "ip")

    mongodb = registry.get_datasource("mongodb")
    assert mongodb.settings["apikey_collection"] == "api_keys"
    client = registry.get_client("mongodb")
    assert client.options.retry_writes is True
    assert client.write_concern.document == {"w": "majority"}
    assert client.options.pool_options.max_pool_size == 10
    assert client.options.server_selection_timeout == 10.0
    assert mongodb.database.name == "orbit"
    assert client.admin.command("ping")["ok"] == 1


@pytest.mark.live
def test_the_seeds_factory_on_the_orbit_file(registry: unifydb.Registry) -> None:
    factory = DatasourceFactory(registry=registry)
    for name in LIVE:
        assert factory.initialize_datasource_client(name) is not None, name


@pytest.mark.live
def test_duckdb_and_redis_keys(registry: unifydb.Registry) -> None:
    duckdb = registry.get_datasource("duckdb")
    assert (duckdb.options.database, duckdb.options.read_only) == (":memory:", False)
    assert (duckdb.options.access_mode, duckdb.options.threads) == ("automatic", None)
    with registry.get_engine("duckdb").connect() as connection:
        assert connection.execute(text("SELECT 42")).scalar() == 42

    redis = registry.get_datasource("redis")
    assert (redis.options.db, redis.options.ssl, redis.options.password) == (0, False, None)
    assert redis.settings == {
        "vector_field": "embedding",
        "text_field": "content",
        "distance_metric": "COSINE",
    }
    assert registry.get_client("redis").ping() is True


def test_athena_and_elasticsearch_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Their servers cannot run here: ORBIT's keys are read, nothing connects."""
    monkeypatch.setenv("DATASOURCE_ATHENA_S3_STAGING_DIR", "s3://orbit-results/athena/")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAORBIT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "Orbit-Secret-Key-1")
    monkeypatch.setenv("DATASOURCE_ELASTICSEARCH_NODE", "https://es.orbit.example:9200")
    monkeypatch.setenv("DATASOURCE_ELASTICSEARCH_USERNAME", "elastic")
    monkeypatch.setenv("DATASOURCE_ELASTICSEARCH_PASSWORD", "Orbit-Es-Pw-2")
    registry = unifydb.Registry(FIXTURE / "config.yaml")
    athena = registry.build("athena")
    options = athena.options
    assert (options.region, options.schema_name, options.work_group) == (
        "us-east-1",
        "default",
        "primary",
    )
    assert options.aws_access_key_id == "AKIAORBIT"
    assert "Orbit-Secret-Key-1" not in repr(athena) + str(athena.describe())
    elasticsearch = registry.build("elasticsearch")
    arguments = elasticsearch.client_arguments()
    assert arguments["hosts"] == ["https://es.orbit.example:9200"]
    assert arguments["basic_auth"] == ("elastic", "Orbit-Es-Pw-2")
    assert (arguments["verify_certs"], arguments["request_timeout"]) == (True, 30.0)


# ----------------------------------------------------------------------------- rules, offline


def test_orbit_names_are_aliases_and_both_with_different_values_is_an_error() -> None:
    registry = registry_for(
        same={"type": "postgres", "host": "h", "connection_timeout": 5, "timeout": "5"},
        clash={"type": "postgres", "host": "h", "validate_on_borrow": False, "pool_pre_ping": True},
    )
    assert registry.build("same").options.timeout == 5.0
    with pytest.raises(ConfigurationError) as caught:
        registry.build("clash")
    assert caught.value.key == "validate_on_borrow"


def test_application_keys_are_kept_and_typos_still_caught() -> None:
    registry = registry_for(
        m={"type": "mongodb", "host": "h", "apikey_collection": "keys"},
        mine={"type": "sqlite", "application_keys": ["tenant_label"], "tenant_label": "acme"},
        typo={"type": "mongodb", "host": "h", "apikey_colection": "keys"},
    )
    assert registry.build("m").settings == {"apikey_collection": "keys"}
    assert registry.build("mine").settings == {"tenant_label": "acme"}
    with pytest.raises(ConfigurationError) as caught:
        registry.build("typo")
    assert caught.value.key == "apikey_colection"


def test_list_reports_an_entry_show_would_refuse(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[datasources.pg]\ntype = "postgres"\nhost = "h"\nhots = "x"\n')
    info = unifydb.Registry(path).inspect("pg")
    assert info.status == "invalid" and not info.configured
    assert "hots" in (info.invalid or "")


def test_mongodb_needs_the_variables_of_one_form_only(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {
        "type": "mongodb",
        "connection_string": "${ORBIT_TEST_URI}",
        "host": "${ORBIT_TEST_HOST}",
        "port": "${ORBIT_TEST_PORT}",
        "username": "${ORBIT_TEST_USER}",
        "auth_source": "${ORBIT_TEST_AUTH}",
    }
    monkeypatch.setenv("ORBIT_TEST_URI", "mongodb://db.example:27017/orbit")
    assert registry_for(m=entry).inspect("m").missing_variables == ()
    assert registry_for(m=entry).build("m").options.url is not None
    monkeypatch.delenv("ORBIT_TEST_URI")
    monkeypatch.setenv("ORBIT_TEST_HOST", "db.example")
    info = registry_for(m=entry).inspect("m")
    assert set(info.missing_variables) == {"ORBIT_TEST_PORT", "ORBIT_TEST_USER", "ORBIT_TEST_AUTH"}


def test_use_connection_pool_false_is_a_null_pool() -> None:
    from sqlalchemy.pool import NullPool

    registry = registry_for(
        lite={"type": "sqlite", "database": "x.db", "use_connection_pool": False, "pool_size": 3}
    )
    assert isinstance(registry.get_engine("lite").pool, NullPool)


def test_a_health_check_creates_no_sqlite_file(tmp_path: Path) -> None:
    registry = registry_for(lite={"type": "sqlite", "database": "examples/sqlite/sqlite_db"})
    status = registry.health_check(["lite"])["lite"]
    assert status.status == "error"
    assert "not found" in status.detail and str(tmp_path) in status.detail
    assert list(tmp_path.iterdir()) == []
    with registry.get_engine("lite").connect():  # an application's connect creates it
        pass
    assert (tmp_path / "examples" / "sqlite" / "sqlite_db").is_file()


def test_sqlite_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    registry = registry_for(lite={"type": "sqlite", "database": "ro.db", "create": False})
    with pytest.raises(DatasourceConnectionError) as caught:
        with registry.get_engine("lite").connect():
            pass
    assert caught.value.key == "database"
    assert not (tmp_path / "ro.db").exists()


def test_env_file_is_read_only_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("ORBIT_TEST_DB=from-env-file.db\n")
    (tmp_path / "settings.toml").write_text(
        '[datasources.lite]\ntype = "sqlite"\ndatabase = "${ORBIT_TEST_DB}"\n'
    )
    assert unifydb.Registry().inspect("lite").missing_variables == ("ORBIT_TEST_DB",)
    named = unifydb.Registry(env_file=tmp_path / ".env")
    assert named.build("lite").options.database == "from-env-file.db"
    monkeypatch.setenv("UNIFYDB_ENV_FILE", str(tmp_path / ".env"))
    assert unifydb.Registry().build("lite").options.database == "from-env-file.db"
    monkeypatch.setenv("ORBIT_TEST_DB", "from-environment.db")  # the environment wins
    assert unifydb.Registry().build("lite").options.database == "from-environment.db"


def test_a_missing_mariadb_driver_names_the_system_package() -> None:
    datasource = registry_for(m={"type": "mariadb", "host": "h"}).build("m")
    error = datasource.driver_missing("mariadb")
    assert "unifydb[mariadb]" in str(error) and "libmariadb-dev" in str(error)


# ----------------------------------------------------------------------------- vector types


def test_orbit_qdrant_and_pinecone_entries_load_unchanged(
    orbit: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ORBIT's qdrant and pinecone entries, from its file as is (no server for either
    runs here: what is checked is what unifydb makes of every key)."""
    monkeypatch.setenv("DATASOURCE_QDRANT_HOST", "qdrant.internal")
    monkeypatch.setenv("DATASOURCE_QDRANT_PORT", "6333")
    monkeypatch.setenv("DATASOURCE_PINECONE_API_KEY", "pcsk-orbit-secret-key")
    registry = unifydb.Registry(orbit["config"])
    qdrant = registry.build("qdrant")
    assert qdrant.type == "qdrant" and qdrant.mode == "server"
    arguments = qdrant.client_arguments()
    assert (arguments["host"], arguments["port"], arguments["timeout"]) == (
        "qdrant.internal",
        6333,
        5,
    )
    assert (arguments["prefer_grpc"], arguments["https"]) == (False, False)
    assert qdrant.settings == {"embedding_provider": "ollama", "collection_name": "orbit"}
    pinecone = registry.build("pinecone")
    assert pinecone.type == "pinecone" and pinecone.default_namespace is None
    assert pinecone.settings == {"embedding_provider": None}
    assert "pcsk-orbit-secret-key" not in repr(pinecone.describe())
    assert registry.inspect("pinecone").configured is True


@pytest.mark.live
def test_an_orbit_shaped_pgvector_entry_on_pglite(pglite_server: Any) -> None:
    """pgvector as ORBIT would write it: the postgres keys, its pool keys, and the
    vector table's table/dimension/distance."""
    registry = registry_for(
        pgvector={
            "host": pglite_server.host,
            "port": str(pglite_server.port),
            "database": "postgres",
            "username": "postgres",
            "password": "",
            "use_connection_pool": True,
            "pool_size": 3,
            "connection_timeout": 10,
            "max_connection_lifetime": 3600,
            "statement_timeout": 10000,
            "validate_on_borrow": True,
            "table": "orbit_docs",
            "dimension": 4,
            "distance": "cosine",
            "embedding_provider": "ollama",
            # PGlite serves every connection from one backend, like a transaction pooler
            "prepared_statements": False,
        }
    )
    try:
        datasource = registry.get_datasource("pgvector")
        table = datasource.settings["table"]
        store = registry.vectors("pgvector")
        store.create_collection(table)  # dimension and distance from settings
        try:
            store.upsert(table, ids=["a"], vectors=[[1.0, 0.0, 0.0, 0.0]])
            assert store.query(table, vector=[1.0, 0.0, 0.0, 0.0])[0].score == pytest.approx(1.0)
            with registry.get_engine("pgvector").connect() as connection:
                assert connection.execute(text("SHOW statement_timeout")).scalar() == "10s"
        finally:
            store.drop_collection(table)
    finally:
        registry.close_all()
