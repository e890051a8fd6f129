"""8. Vector upsert and top-10 queries through ``unifydb.vectors(name)`` against the raw clients.

Data: ``vectors`` float32 vectors of dimension 384 and the query vectors, from
``numpy.random.default_rng(SEED)``; ids ``"id-<n>"``, metadata
``{"n": n, "group": "g<n % 10>"}`` and a short document per record. Both arms
get the same numpy arrays: unifydb's API accepts them (and validates and
converts every value, which is part of what is measured); the raw clients take
them as they are.

Per round, each arm drops and creates its collection (cosine metric, untimed),
upserts every record (timed: unifydb in one ``upsert`` call, raw in the
client's batches: ``get_max_batch_size()`` for Chroma, 1,000 rows for Milvus,
the same batches unifydb sends), then runs its share of the queries (timed;
``query(vector=..., top_k=10)`` against ``collection.query(n_results=10,
include=[metadatas, documents, distances])`` / ``client.search(limit=10,
output_fields=[metadata, document])``).

Chroma: ``chromadb.PersistentClient`` in a temp directory per arm. Milvus:
Milvus Lite (``MilvusClient`` on a temp ``.db`` file per arm), collections with
unifydb's schema (id VARCHAR primary key, FLOAT_VECTOR, JSON metadata, nullable
VARCHAR document; AUTOINDEX; consistency Strong).
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

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
from bench.env import default_registry

SEED = 20_240_601
COLLECTION = "bench_vectors"
TARGET = 1.05
MILVUS_BATCH = 1_000

Arm = Callable[[int, int], tuple[float, float]]


class Data:
    def __init__(self, count: int, queries: int, dimension: int, *, seed: int = SEED) -> None:
        import numpy as np

        rng = np.random.default_rng(seed)
        self.dimension = dimension
        self.vectors = rng.standard_normal((count, dimension), dtype=np.float32)
        self.queries = rng.standard_normal((queries, dimension), dtype=np.float32)
        self.ids = [f"id-{index}" for index in range(count)]
        self.metadatas: list[dict[str, Any]] = [
            {"n": index, "group": f"g{index % 10}"} for index in range(count)
        ]
        self.documents = [f"document number {index}" for index in range(count)]


def vector_benchmarks(config: Config) -> list[Row]:
    rows: list[Row] = []
    data = Data(
        config.vectors, max(config.chroma_queries, config.milvus_queries), config.vector_dim
    )
    for key, backend in (("8a", "chroma"), ("8c", "milvus")):
        try:
            rows += _backend(config, data, key, backend)
        except Exception as error:
            rows.append(error_row(key, f"{backend} vectors", error))
    return rows


def _check_hits(hits: int, top_k: int = 10) -> None:
    if hits != top_k:
        raise BenchError(f"a query returned {hits} hits, not {top_k}")


# ----------------------------------------------------------------------------- arms


def _unifydb_arm(name: str, data: Data) -> Arm:
    def arm(count: int, queries: int) -> tuple[float, float]:
        import unifydb

        store = unifydb.vectors(name)
        store.drop_collection(COLLECTION)
        store.create_collection(COLLECTION, dimension=data.dimension, metric="cosine")
        start = time.perf_counter()
        store.upsert(
            COLLECTION,
            ids=data.ids[:count],
            vectors=data.vectors[:count],
            metadatas=data.metadatas[:count],
            documents=data.documents[:count],
        )
        upserted = time.perf_counter()
        for vector in data.queries[:queries]:
            _check_hits(len(store.query(COLLECTION, vector=vector, top_k=10)))
        queried = time.perf_counter()
        if store.count(COLLECTION) != count:
            raise BenchError("unifydb: the collection does not hold every record")
        return upserted - start, queried - upserted

    return arm


def _raw_chroma_arm(path: Path, data: Data) -> tuple[Arm, Callable[[], None]]:
    import chromadb
    from chromadb.config import Settings
    from chromadb.errors import NotFoundError

    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )

    def arm(count: int, queries: int) -> tuple[float, float]:
        with contextlib.suppress(NotFoundError):
            client.delete_collection(COLLECTION)
        collection = client.create_collection(
            COLLECTION, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        batch = client.get_max_batch_size()
        start = time.perf_counter()
        for offset in range(0, count, batch):
            end = min(offset + batch, count)
            collection.upsert(
                ids=data.ids[offset:end],
                embeddings=data.vectors[offset:end],
                metadatas=cast(Any, data.metadatas[offset:end]),
                documents=data.documents[offset:end],
            )
        upserted = time.perf_counter()
        for vector in data.queries[:queries]:
            result = collection.query(
                query_embeddings=[vector],
                n_results=10,
                include=["metadatas", "documents", "distances"],
            )
            _check_hits(len(result["ids"][0]))
        queried = time.perf_counter()
        if collection.count() != count:
            raise BenchError("raw chroma: the collection does not hold every record")
        return upserted - start, queried - upserted

    def close() -> None:
        client.close()  # type: ignore[attr-defined]  # chromadb 1.x has it; its stubs do not

    return arm, close


def _raw_milvus_arm(path: Path, data: Data) -> tuple[Arm, Callable[[], None]]:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri=str(path))

    def arm(count: int, queries: int) -> tuple[float, float]:
        if client.has_collection(COLLECTION):
            client.drop_collection(COLLECTION)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=data.dimension)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("document", DataType.VARCHAR, max_length=65_535, nullable=True)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", metric_type="COSINE", index_type="AUTOINDEX")
        client.create_collection(
            COLLECTION, schema=schema, index_params=index, consistency_level="Strong"
        )
        start = time.perf_counter()
        for offset in range(0, count, MILVUS_BATCH):
            client.upsert(
                COLLECTION,
                data=[
                    {
                        "id": data.ids[row],
                        "vector": data.vectors[row],
                        "metadata": data.metadatas[row],
                        "document": data.documents[row],
                    }
                    for row in range(offset, min(offset + MILVUS_BATCH, count))
                ],
            )
        upserted = time.perf_counter()
        for vector in data.queries[:queries]:
            result = client.search(
                COLLECTION,
                data=[vector],
                limit=10,
                output_fields=["metadata", "document"],
                anns_field="vector",
                search_params={"metric_type": "COSINE"},
            )
            _check_hits(len(result[0]))
        queried = time.perf_counter()
        counted = client.query(COLLECTION, filter="", output_fields=["count(*)"])
        if int(counted[0]["count(*)"]) != count:
            raise BenchError("raw milvus: the collection does not hold every record")
        return upserted - start, queried - upserted

    def close() -> None:
        client.close()
        with contextlib.suppress(Exception):  # stop the in-process Milvus Lite server
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(str(path))

    return arm, close


# ----------------------------------------------------------------------------- rows


def _backend(config: Config, data: Data, key: str, backend: str) -> list[Row]:
    count = config.vectors
    rounds = config.chroma_rounds if backend == "chroma" else config.milvus_rounds
    queries_total = config.chroma_queries if backend == "chroma" else config.milvus_queries
    per_round = max(1, queries_total // rounds)
    with tempfile.TemporaryDirectory(prefix="unifydb-bench-") as folder:
        base = Path(folder)
        if backend == "chroma":
            settings = {"type": "chroma", "path": str(base / "unifydb" / "chroma"), "timeout": 60}
            raw, close_raw = _raw_chroma_arm(base / "raw" / "chroma", data)
            raw2, close_raw2 = _raw_chroma_arm(base / "raw2" / "chroma", data)
        else:
            for arm_name in ("unifydb", "raw", "raw2"):
                (base / arm_name).mkdir()
            settings = {"type": "milvus", "uri": str(base / "unifydb" / "milvus.db"), "timeout": 60}
            raw, close_raw = _raw_milvus_arm(base / "raw" / "milvus.db", data)
            raw2, close_raw2 = _raw_milvus_arm(base / "raw2" / "milvus.db", data)
        try:
            with default_registry({backend: settings}):
                unifydb_arm = _unifydb_arm(backend, data)
                arms: dict[str, Arm] = {UNIFYDB: unifydb_arm, RAW: raw, RAW2: raw2}
                warmup = min(count, 200)
                for arm in arms.values():  # untimed: clients, servers, code paths
                    arm(warmup, 3)
                samples = interleave(
                    {name: (lambda arm=arm: arm(count, per_round)) for name, arm in arms.items()},  # type: ignore[misc]
                    rounds,
                    warmup=False,
                )
        finally:
            close_raw()
            close_raw2()
    upserts = {name: [u for u, _ in values] for name, values in samples.items()}
    queries = {name: [q / per_round for _, q in values] for name, values in samples.items()}
    upsert = compare(upserts[UNIFYDB], upserts[RAW], upserts[RAW2])
    query = compare(queries[UNIFYDB], queries[RAW], queries[RAW2])
    label = "Chroma" if backend == "chroma" else "Milvus Lite"
    upsert_row = ratio_row(
        key,
        f"{label}: upsert {count:,} x {data.dimension}-d, unifydb.vectors vs raw",
        upsert,
        target=TARGET,
        unit=seconds,
    )
    query_key = "8b" if key == "8a" else "8d"
    query_row = ratio_row(
        query_key,
        f"{label}: top-10 query, unifydb.vectors vs raw",
        query,
        target=TARGET,
        unit=ms,
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


BENCHMARKS = (("8", "vector upsert and queries", vector_benchmarks),)
