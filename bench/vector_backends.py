"""10. Qdrant (local mode) and pgvector upsert and top-10 queries through ``unifydb.vectors``
against the raw client / raw SQL.

Data as in benchmark 8 (seeded float32 vectors, ids, metadata, a document per
record), of its own dimension and counts (``Config.backend_vectors``...).

Qdrant: qdrant-client's local mode in memory, one ``QdrantClient(":memory:")`` per
arm. The raw arm writes what unifydb writes: ``PointStruct``s with uuid5 ids
and the payload ``{id, metadata, document}`` in batches of 256, ``upsert(wait=True)``,
and queries with ``query_points(limit=10, with_payload=True)``.

pgvector: the machine's PostgreSQL when it has the extension, else PGlite
(``tests/servers/pglite.py``, started for the benchmark). Every arm has a table
of its own with unifydb's layout and indexes (HNSW, GIN on metadata). The raw
arm runs the same statements through ``create_engine`` with the datasource's URL
and engine options (as benchmark 4 does): ``INSERT ... ON CONFLICT`` executemany
in one transaction, and ``SELECT ... ORDER BY embedding <=> q LIMIT 10``.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.core import (
    RAW,
    RAW2,
    UNIFYDB,
    BenchError,
    Config,
    Row,
    compare,
    error_row,
    interleave,
    ms,
    ratio_row,
    seconds,
)
from bench.env import POSTGRES, default_registry, pg_database, raw_engine, sql_datasource
from bench.vectors import Data

SEED = 20_240_611
TARGET = 1.05
QDRANT_BATCH = 256

Arm = Callable[[int, int], tuple[float, float]]


def backend_benchmarks(config: Config) -> list[Row]:
    rows: list[Row] = []
    data = Data(config.backend_vectors, config.backend_queries, config.vector_dim, seed=SEED)
    for keys, backend, run in (
        (("10a", "10b"), "qdrant", _qdrant),
        (("10c", "10d"), "pgvector", _pgvector),
    ):
        try:
            rows += run(config, data, keys)
        except Exception as error:
            rows.append(error_row(keys[0], f"{backend} vectors", error))
    return rows


def _check_hits(hits: int) -> None:
    if hits != 10:
        raise BenchError(f"a query returned {hits} hits, not 10")


def _unifydb_arm(name: str, collection: str, data: Data) -> Arm:
    def arm(count: int, queries: int) -> tuple[float, float]:
        import unifydb

        store = unifydb.vectors(name)
        store.drop_collection(collection)
        store.create_collection(collection, dimension=data.dimension, metric="cosine")
        start = time.perf_counter()
        store.upsert(
            collection,
            ids=data.ids[:count],
            vectors=data.vectors[:count],
            metadatas=data.metadatas[:count],
            documents=data.documents[:count],
        )
        upserted = time.perf_counter()
        for vector in data.queries[:queries]:
            _check_hits(len(store.query(collection, vector=vector, top_k=10)))
        queried = time.perf_counter()
        if store.count(collection) != count:
            raise BenchError("unifydb: the collection does not hold every record")
        return upserted - start, queried - upserted

    return arm


# ----------------------------------------------------------------------------- Qdrant


def _raw_qdrant_arm(data: Data) -> tuple[Arm, Callable[[], None]]:
    from qdrant_client import QdrantClient, models

    from unifydb.datasources.vector.qdrant.store import point_id

    client = QdrantClient(location=":memory:")
    name = "bench_raw"

    def arm(count: int, queries: int) -> tuple[float, float]:
        if client.collection_exists(name):
            client.delete_collection(name)
        client.create_collection(
            name,
            vectors_config=models.VectorParams(
                size=data.dimension, distance=models.Distance.COSINE
            ),
        )
        start = time.perf_counter()
        points = [
            models.PointStruct(
                id=point_id(data.ids[row]),
                vector=data.vectors[row].tolist(),
                payload={
                    "id": data.ids[row],
                    "metadata": data.metadatas[row],
                    "document": data.documents[row],
                },
            )
            for row in range(count)
        ]
        for offset in range(0, count, QDRANT_BATCH):
            client.upsert(name, points=points[offset : offset + QDRANT_BATCH], wait=True)
        upserted = time.perf_counter()
        for vector in data.queries[:queries]:
            response = client.query_points(name, query=vector, limit=10, with_payload=True)
            _check_hits(len(response.points))
        queried = time.perf_counter()
        if client.count(name, exact=True).count != count:
            raise BenchError("raw qdrant: the collection does not hold every record")
        return upserted - start, queried - upserted

    return arm, client.close


def _qdrant(config: Config, data: Data, keys: tuple[str, str]) -> list[Row]:
    raw, close_raw = _raw_qdrant_arm(data)
    raw2, close_raw2 = _raw_qdrant_arm(data)
    try:
        with default_registry({"qdrant": {"type": "qdrant", "path": ":memory:", "timeout": 60}}):
            arms = {UNIFYDB: _unifydb_arm("qdrant", "bench_unifydb", data), RAW: raw, RAW2: raw2}
            return _rows(
                config,
                data,
                keys,
                "Qdrant local",
                arms=arms,
                rounds=config.qdrant_rounds,
                count=config.backend_vectors,
            )
    finally:
        close_raw()
        close_raw2()


# ----------------------------------------------------------------------------- pgvector


@contextlib.contextmanager
def _pgvector_settings() -> Iterator[tuple[dict[str, Any], str]]:
    """Settings of a database with pgvector: the machine's PostgreSQL if it has the
    extension, else PGlite; and which one it is."""
    import psycopg

    POSTGRES.require()
    with psycopg.connect(
        host=POSTGRES.host, port=POSTGRES.port, user=POSTGRES.user, dbname="postgres"
    ) as connection:
        available = connection.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    if available:
        with pg_database() as database:
            yield (
                {
                    "type": "pgvector",
                    "host": POSTGRES.host,
                    "port": POSTGRES.port,
                    "database": database,
                    "username": POSTGRES.user,
                },
                "PostgreSQL",
            )
        return
    from tests.servers.pglite import pglite

    with (
        tempfile.TemporaryDirectory(prefix="unifydb-bench-pglite-") as folder,
        pglite(Path(folder)) as server,
    ):
        yield {"type": "pgvector", **server.settings()}, "PGlite"


def _raw_pgvector_arm(datasource: Any, table: str, data: Data) -> tuple[Arm, Callable[[], None]]:
    from sqlalchemy import text

    from unifydb.datasources.relational.postgres.pgvector.sql import table_sql, vector_literal

    engine = raw_engine(datasource)
    quote = engine.dialect.identifier_preparer.quote_identifier
    insert = text(
        f"INSERT INTO {table} (namespace, id, embedding, metadata, document) "
        "VALUES ('', :id, CAST(:v AS vector), CAST(:m AS jsonb), :d) "
        "ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, "
        "metadata = EXCLUDED.metadata, document = EXCLUDED.document"
    )
    select = text(
        f"SELECT id, embedding <=> CAST(:q AS vector) AS distance, metadata, document "
        f"FROM {table} WHERE namespace = '' ORDER BY distance LIMIT 10"
    )

    def arm(count: int, queries: int) -> tuple[float, float]:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
            for statement in table_sql(
                table, data.dimension, "cosine", "hnsw", index_options={}, quote=quote
            ):
                connection.execute(text(statement))
        start = time.perf_counter()
        rows = [
            {
                "id": data.ids[row],
                "v": vector_literal(data.vectors[row]),
                "m": json.dumps(data.metadatas[row]),
                "d": data.documents[row],
            }
            for row in range(count)
        ]
        with engine.begin() as connection:
            connection.execute(insert, rows)
        upserted = time.perf_counter()
        for vector in data.queries[:queries]:
            with engine.begin() as connection:
                hits = connection.execute(select, {"q": vector_literal(vector)}).fetchall()
            _check_hits(len(hits))
        queried = time.perf_counter()
        with engine.connect() as connection:
            counted = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        if counted != count:
            raise BenchError("raw pgvector: the table does not hold every record")
        return upserted - start, queried - upserted

    def close() -> None:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()

    return arm, close


def _pgvector(config: Config, data: Data, keys: tuple[str, str]) -> list[Row]:
    with contextlib.ExitStack() as stack:
        settings, server = stack.enter_context(_pgvector_settings())
        registry = stack.enter_context(default_registry({"pgv": {**settings, "timeout": 60}}))
        datasource = sql_datasource(registry, "pgv")
        store = datasource.vectors()  # type: ignore[attr-defined]
        store.create_collection("bench_warm", dimension=2)  # creates the extension if needed
        store.drop_collection("bench_warm")
        raw, close_raw = _raw_pgvector_arm(datasource, "bench_raw", data)
        stack.callback(close_raw)
        raw2, close_raw2 = _raw_pgvector_arm(datasource, "bench_raw2", data)
        stack.callback(close_raw2)
        stack.callback(store.drop_collection, "bench_unifydb")
        arms = {UNIFYDB: _unifydb_arm("pgv", "bench_unifydb", data), RAW: raw, RAW2: raw2}
        return _rows(
            config,
            data,
            keys,
            f"pgvector ({server})",
            arms=arms,
            rounds=config.pgvector_rounds,
            count=config.pgvector_vectors,
        )


# ----------------------------------------------------------------------------- rows


def _rows(
    config: Config,
    data: Data,
    keys: tuple[str, str],
    label: str,
    *,
    arms: dict[str, Arm],
    rounds: int,
    count: int,
) -> list[Row]:
    per_round = max(1, config.backend_queries // rounds)
    warmup = min(count, 100)
    for arm in arms.values():  # untimed: clients, pools, code paths
        arm(warmup, 3)
    samples = interleave(
        {name: (lambda arm=arm: arm(count, per_round)) for name, arm in arms.items()},  # type: ignore[misc]
        rounds,
        warmup=False,
    )
    upserts = {name: [u for u, _ in values] for name, values in samples.items()}
    queries = {name: [q / per_round for _, q in values] for name, values in samples.items()}
    upsert = compare(upserts[UNIFYDB], upserts[RAW], upserts[RAW2])
    query = compare(queries[UNIFYDB], queries[RAW], queries[RAW2])
    upsert_row = ratio_row(
        keys[0],
        f"{label}: upsert {count:,} x {data.dimension}-d, unifydb.vectors vs raw",
        upsert,
        target=TARGET,
        unit=seconds,
    )
    query_row = ratio_row(
        keys[1], f"{label}: top-10 query, unifydb.vectors vs raw", query, target=TARGET, unit=ms
    )
    upsert_row.notes.append(
        f"{rounds} rounds, each a fresh collection; upsert throughput "
        f"{count / upsert.unifydb:,.0f}/s unifydb vs {count / upsert.baseline:,.0f}/s raw"
    )
    query_row.notes.append(
        f"{per_round * rounds:,} queries per arm ({per_round} per round); "
        f"median per-query {statistics.median(queries[UNIFYDB]) * 1e3:.2f} ms vs "
        f"{statistics.median(queries[RAW]) * 1e3:.2f} ms"
    )
    return [upsert_row, query_row]


BENCHMARKS = (("10", "qdrant and pgvector upsert and queries", backend_benchmarks),)
