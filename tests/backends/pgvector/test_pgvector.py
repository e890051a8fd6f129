"""pgvector: PGlite with the extension (live, over the wire protocol), this machine's
PostgreSQL (live, without the extension: the clear error), and offline checks
(options, ORBIT's keys, a silent listener, secrets)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.helpers import PG_ADMIN, PG_HOST, PG_PORT, pg_admin, registry_for, unique
from unifydb.datasources.relational.postgres.pgvector import PgvectorDatasource, PgvectorStore
from unifydb.errors import ConfigurationError, DatasourceTimeoutError, UnsupportedOperationError
from unifydb.migrations.runner import sql_datasources

PASSWORD = "pgv-Pass-secret-value"


@pytest.mark.live
def test_sql_engine_and_vectors_on_one_datasource(pglite_server: Any) -> None:
    registry = registry_for(vec={"type": "pgvector", **pglite_server.settings()})
    try:
        engine = registry.get_engine("vec")
        assert isinstance(engine, Engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1 + 1")).scalar() == 2
        store = registry.vectors("vec")
        assert isinstance(store, PgvectorStore)
        name = unique("sqlvec")
        store.create_collection(name, dimension=2, metric="l2")
        try:
            store.upsert(name, ids=["a"], vectors=[[3.0, 4.0]], metadatas=[{"k": "v"}])
            with engine.connect() as connection:  # the table is plain SQL too
                row = connection.execute(
                    text(f"SELECT id, embedding <-> '[0,0]', metadata ->> 'k' FROM {name}")
                ).one()
            assert tuple(row) == ("a", pytest.approx(5.0), "v")
            status = registry.get_datasource("vec").health_check()
            assert status.status == "ok" and (status.server_version or "").startswith("18")
        finally:
            store.drop_collection(name)
        assert "vec" in sql_datasources(registry)  # `unifydb migrate --all` includes it
    finally:
        registry.close_all()


@pytest.mark.live
@pytest.mark.parametrize(
    ("options", "index_method", "in_definition"),
    [
        ({"index": "hnsw", "hnsw_m": 8, "hnsw_ef_construction": 32}, "hnsw", "m='8'"),
        ({"index": "ivfflat", "ivfflat_lists": 3}, "ivfflat", "lists='3'"),
        ({"index": "none"}, None, None),
    ],
)
def test_index_options(
    pglite_server: Any, options: dict[str, Any], index_method: str | None, in_definition: str
) -> None:
    datasource = PgvectorDatasource(
        "vec",
        pglite_server.settings(
            **options, distance="inner_product", dimension=3, hnsw_ef_search=20, ivfflat_probes=2
        ),
    )
    store = datasource.vectors()
    name = unique("idx")
    try:
        store.create_collection(name)  # dimension and metric from settings
        with datasource.get_engine().connect() as connection:
            indexes = (
                connection.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": name}
                )
                .scalars()
                .all()
            )
        vector_indexes = [d for d in indexes if "embedding" in d]
        if index_method is None:
            assert vector_indexes == []
        else:
            (definition,) = vector_indexes
            assert f"USING {index_method}" in definition and "vector_ip_ops" in definition
            assert in_definition in definition.replace(" ", "")
        store.upsert(name, ids=["a", "b"], vectors=[[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
        hits = store.query(name, vector=[1.0, 0.0, 0.0])  # SET LOCAL ef_search / probes first
        assert hits[0].id == "a" and hits[0].score == pytest.approx(1.0)
    finally:
        store.drop_collection(name)
        datasource.close()


@pytest.mark.live
def test_a_table_made_by_someone_else(pglite_server: Any) -> None:
    datasource = PgvectorDatasource("vec", pglite_server.settings())
    name = unique("theirs")
    try:
        with datasource.get_engine().begin() as connection:
            connection.execute(text(f"CREATE TABLE {name} (id text, embedding vector(2))"))
        with pytest.raises(ValueError, match="lacks the columns") as caught:
            datasource.vectors().count(name)
        assert "document" in str(caught.value) and "vec" in str(caught.value)
    finally:
        with datasource.get_engine().begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
        datasource.close()


def _has_pgvector() -> bool:
    with pg_admin() as admin:
        row = admin.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return row is not None


@pytest.mark.live
@pytest.mark.parametrize("create_extension", [True, False])
def test_the_machines_postgresql(pg_database: str, create_extension: bool) -> None:
    """Where the server has no pgvector (Debian 12's PostgreSQL 15 here), creating a
    collection is a clear error; where it has, the extension is created on first use."""
    datasource = PgvectorDatasource(
        "vec",
        {
            "host": PG_HOST,
            "port": PG_PORT,
            "database": pg_database,
            "username": PG_ADMIN,
            "create_extension": create_extension,
        },
    )
    store = datasource.vectors()
    try:
        if not _has_pgvector():
            with pytest.raises(
                UnsupportedOperationError, match="pg_available_extensions"
            ) as caught:
                store.create_collection("docs", dimension=3)
            assert caught.value.datasource == "vec"
            assert "install pgvector" in str(caught.value)
            assert not store.has_collection("docs")
            return
        if not create_extension:
            with pytest.raises(UnsupportedOperationError, match="not created") as caught:
                store.create_collection("docs", dimension=3)
            assert caught.value.key == "create_extension"
            return
        store.create_collection("docs", dimension=3)
        store.upsert("docs", ids=["a"], vectors=[[1.0, 0.0, 0.0]])
        assert store.count("docs") == 1
    finally:
        datasource.close()


@pytest.mark.live
def test_async_twins_run_on_the_async_engine(pglite_server: Any) -> None:
    datasource = PgvectorDatasource("vec", pglite_server.settings())
    twin = datasource.async_vectors()
    assert twin.native_async is True
    name = unique("aio")

    async def scenario() -> int:
        try:
            await twin.create_collection(name, dimension=2)
            await twin.upsert(name, ids=["a", "b"], vectors=[[1.0, 0.0], [0.0, 1.0]])
            return await twin.count(name)
        finally:
            await twin.drop_collection(name)
            await twin.aclose()

    try:
        assert asyncio.run(scenario()) == 2
        assert datasource.__dict__.get("_async_engine") is not None  # not a thread
    finally:
        datasource.close()


# ----------------------------------------------------------------------------- offline


def test_orbit_shaped_settings_load_unchanged() -> None:
    registry = registry_for(
        pgvector={
            "host": "db.example",
            "port": "5432",
            "database": "orbit",
            "username": "orbit",
            "password": PASSWORD,
            "sslmode": "prefer",
            "use_connection_pool": True,
            "pool_size": 5,
            "connection_timeout": 10,
            "statement_timeout": 10000,
            "table": "documents",
            "dimension": "768",
            "distance": "COSINE",
            "embedding_provider": "ollama",
        }
    )
    datasource = registry.build("pgvector")
    assert isinstance(datasource, PgvectorDatasource)
    assert datasource.vector_defaults() == (768, "cosine")
    assert datasource.settings == {"table": "documents", "embedding_provider": "ollama"}
    assert datasource.options.timeout == 10.0
    assert PASSWORD not in repr(datasource) and PASSWORD not in str(datasource.describe())
    assert (
        datasource.url()
        .render_as_string(hide_password=False)
        .startswith("postgresql+psycopg://orbit:")
    )


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"distance": "manhattan"}, "distance", "cosine, l2"),
        ({"index": "btree"}, "index", None),
        ({"hnsw_m": 0}, "hnsw_m", None),
        ({"dimension": -1}, "dimension", None),
    ],
)
def test_bad_options(options: dict[str, Any], key: str, message: str | None) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        PgvectorDatasource("bad", {"host": "h", **options})
    assert caught.value.datasource == "bad" and caught.value.key == key


def test_silent_server_times_out(silent_port: int) -> None:
    datasource = PgvectorDatasource(
        "silent", {"host": "127.0.0.1", "port": silent_port, "timeout": 2, "password": PASSWORD}
    )
    started = time.monotonic()
    status = datasource.health_check()
    assert status.status == "timeout", status.detail
    assert time.monotonic() - started < 6.0
    assert isinstance(status.error, DatasourceTimeoutError)
    assert PASSWORD not in str(status.error)
    datasource.close()
