"""Twins of document, wide-column and vector stores, against real servers
started for this module (SecantusDB for MongoDB, a Chroma server, Cassandra
2.1) and the embedded stores (Chroma folders, Milvus Lite files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.testing.support import finished
from unifydb.testing import naming


@pytest.fixture(scope="module")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.mongo_wire import mongo_wire

    with mongo_wire(tmp_path_factory.mktemp("mongo")) as server:
        yield server


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.chroma_http import chroma_http

    with chroma_http(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server


@pytest.fixture(scope="module")
def cassandra_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.servers.cassandra import cassandra

    with cassandra(tmp_path_factory.mktemp("cassandra")) as server:
        yield server


def test_mongodb_twin_is_a_database_dropped_at_the_end(twins: Any, mongo_server: Any) -> None:
    from pymongo import MongoClient

    leftover = "unifydb_test_200101000000_ffffk1_gw0_events"  # older than any age limit
    with MongoClient(mongo_server.url()) as client:
        client[leftover]["x"].insert_one({"left": True})
        registry = twins(
            {"events": {"type": "mongodb", "url": mongo_server.url(), "database": "ev"}}
        )
        database = registry.get_datasource("events").database
        assert database.name.startswith(naming.PREFIX) and database.name.endswith("_gw7_ev")
        database["orders"].insert_one({"order": 1})
        assert database.name in client.list_database_names()
        assert leftover not in client.list_database_names()
        assert registry.reports["events"].swept == [leftover]
        assert finished(registry) == []
        assert database.name not in client.list_database_names()


def test_chroma_embedded_twin_is_a_temp_folder(twins: Any, tmp_path: Path) -> None:
    registry = twins({"vectors": {"type": "chroma", "db_path": str(tmp_path / "real")}})
    store = registry.vectors("vectors")
    store.create_collection("docs", dimension=2)
    store.upsert("docs", ids=["a"], vectors=[[0.1, 0.2]])
    folder = Path(registry.get_datasource("vectors").options.path)
    assert folder.parent == tmp_path / "twins" and any(folder.iterdir())
    assert not (tmp_path / "real").exists()
    assert finished(registry) == []
    assert not folder.exists()


def test_chroma_server_twin_is_a_database(twins: Any, chroma_server: Any) -> None:
    settings = {"type": "chroma", "host": chroma_server.host, "port": chroma_server.port}
    registry = twins({"vectors": settings})
    store = registry.vectors("vectors")
    store.create_collection("docs", dimension=2)
    store.upsert("docs", ids=["a"], vectors=[[0.1, 0.2]])
    twin = registry.get_datasource("vectors").options.database
    plain = twins({"plain": settings}, worker="main")
    assert naming.parse(twin) is not None
    import chromadb

    admin = chromadb.AdminClient(plain.build("plain").get_client().get_settings())
    names = [database["name"] for database in admin.list_databases()]
    assert twin in names
    assert finished(registry) == []
    assert twin not in [database["name"] for database in admin.list_databases()]


def test_milvus_lite_twin_is_a_temp_file(twins: Any, tmp_path: Path) -> None:
    registry = twins({"search": {"type": "milvus", "uri": str(tmp_path / "real.db")}})
    store = registry.vectors("search")
    store.create_collection("docs", dimension=2)
    store.upsert("docs", ids=["a"], vectors=[[0.1, 0.2]])
    path = Path(registry.get_datasource("search").options.uri)
    assert path.parent == tmp_path / "twins" and path.name.endswith("_gw7_real.db")
    assert path.exists() and not (tmp_path / "real.db").exists()
    assert finished(registry) == []
    assert not path.exists()


def test_cassandra_twin_is_a_keyspace_with_the_original_replication(
    twins: Any, cassandra_node: Any
) -> None:
    cassandra_node.execute(
        "CREATE KEYSPACE shop WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 2}"
    )
    settings = {
        "type": "cassandra",
        "contact_points": [cassandra_node.host],
        "port": cassandra_node.port,
        "protocol_version": 3,
        "keyspace": "shop",
    }
    registry = twins({"wide": settings})
    session = registry.get_client("wide")
    keyspace = session.keyspace
    assert keyspace.startswith(naming.PREFIX) and len(keyspace) <= 48
    session.execute("CREATE TABLE events (id int PRIMARY KEY)")
    metadata = session.cluster.metadata.keyspaces[keyspace]
    assert metadata.replication_strategy.replication_factor == 2
    assert finished(registry) == []
    admin = twins({"admin": {**settings, "keyspace": None}}, worker="main").build("admin")
    try:
        client = admin.get_client()
        client.cluster.refresh_schema_metadata()
        assert keyspace not in client.cluster.metadata.keyspaces
        assert "shop" in client.cluster.metadata.keyspaces
    finally:
        admin.close()
