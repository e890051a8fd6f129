"""Twins of the types added after the plugin: DuckDB and Qdrant (embedded),
pgvector (the machine's PostgreSQL), Redis (a redis-server of the tests' own),
Athena (moto's AWS double, which records the queries it is sent but runs
none), and Elasticsearch and Pinecone, which cannot run here: their twins are
checked with a stand-in client (a mock, said so) that records the calls.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.testing.support import PG, finished, pg_databases
from unifydb.testing import naming
from unifydb.testing.service_twins import REDIS_CLAIM, ElasticsearchTwin, PineconeTwin

from .test_twin_table import context


def stamp(hours_ago: float = 0) -> str:
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    return when.strftime("%y%m%d%H%M%S")


AGED = f"unifydb_test_{stamp(hours_ago=48)}_ffffk1_gw0_x"  # older than any age limit
FRESH = f"unifydb_test_{stamp()}_ffffk1_gw0_x"  # a kept run on another host: left alone


def test_duckdb_twin_is_a_temp_file_even_for_memory(twins: Any, tmp_path: Path) -> None:
    registry = twins(
        {
            "lake": {"type": "duckdb", "database": str(tmp_path / "real.duckdb")},
            "scratch": {"type": "duckdb"},
        }
    )
    paths = []
    for name in ("lake", "scratch"):
        engine = registry.get_engine(name)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (id int)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        path = Path(registry.get_datasource(name).options.database)
        assert path.parent == tmp_path / "twins" and path.suffix == ".duckdb"
        paths.append(path)
    assert paths[0].name.endswith("_gw7_real.duckdb")
    assert paths[1].name.endswith("_gw7_memory.duckdb")
    assert not (tmp_path / "real.duckdb").exists()
    assert finished(registry) == []
    assert not any(path.exists() for path in paths)


def test_duckdb_twin_of_a_read_only_file_is_writable(twins: Any, tmp_path: Path) -> None:
    import duckdb

    original = tmp_path / "shared.duckdb"
    duckdb.connect(str(original)).close()
    registry = twins({"lake": {"type": "duckdb", "database": str(original), "read_only": True}})
    with registry.get_engine("lake").begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id int)")
    assert registry.get_datasource("lake").options.read_only is False
    assert finished(registry) == []


@pytest.mark.parametrize("where", ["folder", "memory", "server"])
def test_qdrant_twin_is_a_local_folder(twins: Any, tmp_path: Path, where: str) -> None:
    settings = {
        "folder": {"type": "qdrant", "path": str(tmp_path / "real")},
        "memory": {"type": "qdrant", "path": ":memory:"},
        # never contacted: a server's twin is local mode
        "server": {"type": "qdrant", "url": "http://qdrant.invalid:6333", "api_key": "k"},
    }[where]
    registry = twins({"vectors": settings})
    store = registry.vectors("vectors")
    store.create_collection("docs", dimension=2)
    store.upsert("docs", ids=["a"], vectors=[[0.1, 0.2]])
    assert store.count("docs") == 1
    folder = Path(registry.get_datasource("vectors").options.path)
    assert folder.parent == tmp_path / "twins" and any(folder.iterdir())
    assert not (tmp_path / "real").exists()
    assert ("instead of the server" in registry.reports["vectors"].where) == (where == "server")
    assert finished(registry) == []
    assert not folder.exists()


def test_pgvector_twin_is_a_database(twins: Any) -> None:
    """The machine's PostgreSQL has no pgvector: the twin is checked as a
    database (vector calls run against PGlite in tests/backends/pgvector)."""
    settings = {**PG, "type": "pgvector", "database": "vectors", "create_extension": False}
    registry = twins({"vec": settings})
    engine = registry.get_engine("vec")
    database = engine.url.database
    assert database.startswith(naming.PREFIX) and database.endswith("_gw7_vectors")
    with engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT current_database()").scalar() == database
    assert finished(registry) == []
    assert database not in pg_databases()


# ----------------------------------------------------------------------------- Redis


def test_redis_twin_takes_an_empty_database_number(twins: Any, redis_throwaway: Any) -> None:
    admin = [redis.Redis.from_url(redis_throwaway.url(db)) for db in range(16)]
    admin[0].set(f"{REDIS_CLAIM}14", AGED)  # a crashed run's claim on 14
    admin[14].set("left", "by the crashed run")
    admin[15].set("real", "data")  # someone's: never taken, never flushed
    try:
        settings = {"type": "redis", "url": redis_throwaway.url(db=2)}
        registry = twins({"kv": settings}, worker="gw1")
        other = twins({"kv": settings}, worker="gw2")
        first, second = registry.get_client("kv"), other.get_client("kv")
        numbers = [client.connection_pool.connection_kwargs["db"] for client in (first, second)]
        assert numbers == [14, 13]  # 15 holds data; 14 swept from the crashed run
        assert registry.reports["kv"].swept == [AGED]
        assert "database 14 on redis://" in registry.reports["kv"].where
        first.set("k", "1")
        second.set("k", "2")
        assert first.get("k") == b"1" and admin[2].get("k") is None
        assert admin[0].get(f"{REDIS_CLAIM}14").decode().endswith("_gw1_db2")
        assert finished(registry) == [] and finished(other) == []
        assert admin[14].dbsize() == 0 and admin[13].dbsize() == 0
        assert not list(admin[0].scan_iter(match=f"{REDIS_CLAIM}*"))
        assert admin[15].get("real") == b"data"
    finally:
        admin[15].delete("real")
        for client in admin:
            client.close()


def test_redis_twin_says_when_no_number_is_free(twins: Any, redis_throwaway: Any) -> None:
    admin = [redis.Redis.from_url(redis_throwaway.url(db)) for db in range(16)]
    for db in range(1, 16):
        admin[db].set("taken", "1")
    try:
        registry = twins({"kv": {"type": "redis", "url": redis_throwaway.url()}})
        with pytest.raises(Exception, match="no empty, unclaimed database number") as raised:
            registry.get_client("kv")
        assert raised.value.datasource == "kv" and raised.value.key == "db"
        assert not list(admin[0].scan_iter(match=f"{REDIS_CLAIM}*"))
    finally:
        for db in range(1, 16):
            admin[db].delete("taken")
        for client in admin:
            client.close()


# ----------------------------------------------------------------------------- Athena


def test_athena_twin_is_a_schema(twins: Any, moto_aws: Any) -> None:
    import boto3

    settings = {
        "type": "athena",
        "region": "us-east-1",
        "s3_staging_dir": "s3://results/athena/",
        "schema_name": "sales",
        "endpoint_url": moto_aws.endpoint_url,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing-secret",
        "timeout": 10,
    }
    registry = twins({"warehouse": settings})
    engine = registry.get_engine("warehouse")
    schema = registry.get_datasource("warehouse").options.schema_name
    assert schema.startswith(naming.PREFIX) and schema.endswith("_gw7_sales")
    assert engine.url.database == schema
    assert finished(registry) == []
    athena = boto3.client(
        "athena",
        region_name="us-east-1",
        endpoint_url=moto_aws.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    ids = athena.list_query_executions()["QueryExecutionIds"]
    sent = [
        athena.get_query_execution(QueryExecutionId=query)["QueryExecution"]["Query"]
        for query in ids
    ]
    assert f"CREATE DATABASE IF NOT EXISTS `{schema}`" in sent
    assert f"DROP DATABASE IF EXISTS `{schema}` CASCADE" in sent
    assert "SHOW DATABASES LIKE 'unifydb_test_.*'" in sent


# ----------------------------------------------------------------------------- stand-ins


class StandInIndices:
    """Elasticsearch's ``client.indices`` (a mock: no cluster can run here)."""

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)
        self.deleted: list[str] = []

    def get(self, *, index: str, **options: Any) -> dict[str, Any]:
        assert options["expand_wildcards"] == "all" and options["allow_no_indices"]
        prefix = index.removesuffix("*")
        return {name: {} for name in self.names if name.startswith(prefix)}

    def delete(self, *, index: str, **options: Any) -> None:
        assert "*" not in index  # by name: wildcard deletes are refused by default
        self.names.discard(index)
        self.deleted.append(index)


def test_elasticsearch_twin_is_an_index_prefix(tmp_path: Path) -> None:
    settings = {"type": "elasticsearch", "node": "http://es.invalid:9200", "index_prefix": "shop_"}
    twin = ElasticsearchTwin(context(tmp_path, settings))
    assert twin.changes() == {"index_prefix": "unifydb_test_261129120000_0a7cp4242_gw0_shop_"}
    variant = twin.context.variant(**twin.changes())
    assert variant.index_name("orders") == f"{twin.prefix}orders"
    indices = StandInIndices([AGED, FRESH, "shop_x"])
    twin.client = lambda **changes: type("Client", (), {"indices": indices})()  # type: ignore[method-assign]
    assert twin.sweep() == [AGED]
    indices.names |= {f"{twin.prefix}orders", f"{twin.prefix}users"}
    twin.drop()
    assert indices.names == {FRESH, "shop_x"}
    assert sorted(indices.deleted) == sorted([AGED, f"{twin.prefix}orders", f"{twin.prefix}users"])


def test_elasticsearch_index_prefix_is_checked() -> None:
    from tests.helpers import build
    from unifydb.errors import ConfigurationError

    for bad in ("Shop_", "a*", "a,b", "a b"):
        with pytest.raises(ConfigurationError) as raised:
            build("elasticsearch", node="http://es:9200", index_prefix=bad)
        assert raised.value.key == "index_prefix"


class StandInIndex:
    """One Pinecone index's data-plane client (a mock: Pinecone runs only in its cloud)."""

    def __init__(self, namespaces: list[str]) -> None:
        self.namespaces = {name: object() for name in namespaces}
        self.deleted: list[str] = []

    def describe_index_stats(self) -> Any:
        return type("Stats", (), {"namespaces": dict(self.namespaces)})()

    def delete(self, *, delete_all: bool, namespace: str) -> None:
        from pinecone.exceptions import NotFoundException

        assert delete_all
        if namespace not in self.namespaces:
            raise NotFoundException("Namespace not found")
        del self.namespaces[namespace]
        self.deleted.append(namespace)


def test_pinecone_twin_is_a_namespace(tmp_path: Path) -> None:
    settings = {"type": "pinecone", "api_key": "pc-key", "index_name": "docs", "namespace": "app"}
    twin = PineconeTwin(context(tmp_path, settings))
    assert twin.changes() == {"namespace": "unifydb_test_261129120000_0a7cp4242_gw0_app"}
    assert twin.context.variant(**twin.changes()).default_namespace == twin.namespace
    index = StandInIndex([AGED, FRESH, "app"])
    twin._indexes = lambda: [index]  # type: ignore[method-assign]
    assert twin.sweep() == [AGED]
    twin.drop()  # nothing written to the twin's namespace: not an error
    index.namespaces[twin.namespace] = object()
    twin.drop()
    assert set(index.namespaces) == {FRESH, "app"}
    assert index.deleted == [AGED, twin.namespace]
