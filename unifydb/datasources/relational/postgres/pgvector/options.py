"""The settings of a pgvector datasource: PostgreSQL's, and how vector tables are made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

from unifydb.datasources.relational.postgres.postgres import PostgresOptions
from unifydb.options import PositiveInt, doc

#: the names users (and ORBIT) give the three metrics -> the vector API's
DISTANCES: dict[str, str] = {
    "cosine": "cosine",
    "l2": "l2",
    "euclidean": "l2",
    "ip": "ip",
    "inner_product": "ip",
    "dot": "ip",
    "dotproduct": "ip",
}


def _distance(value: Any) -> Any:
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        if key not in DISTANCES:
            raise ValueError(
                "must be cosine, l2 (euclidean) or ip (inner_product): the metric of "
                "new vector tables"
            )
        return DISTANCES[key]
    return value


class PgvectorOptions(PostgresOptions, kw_only=True, frozen=True):
    schema_name: Annotated[str, doc("Schema that holds the vector tables.")] = "public"
    dimension: Annotated[
        PositiveInt | None,
        doc("Default dimension of vectors().create_collection() when none is given."),
    ] = None
    distance: Annotated[
        Literal["cosine", "l2", "ip"] | None,
        doc("Default metric of new vector tables: cosine, l2 (euclidean) or ip (inner_product)."),
    ] = None
    index: Annotated[
        Literal["hnsw", "ivfflat", "none"],
        doc("Index built on the vector column of a new table (none: exact search)."),
    ] = "hnsw"
    hnsw_m: Annotated[PositiveInt | None, doc("HNSW 'm' (pgvector's default: 16).")] = None
    hnsw_ef_construction: Annotated[
        PositiveInt | None, doc("HNSW 'ef_construction' (pgvector's default: 64).")
    ] = None
    hnsw_ef_search: Annotated[
        PositiveInt | None, doc("hnsw.ef_search for queries (pgvector's default: 40).")
    ] = None
    ivfflat_lists: Annotated[PositiveInt, doc("IVFFlat 'lists' of a new index.")] = 100
    ivfflat_probes: Annotated[
        PositiveInt | None, doc("ivfflat.probes for queries (pgvector's default: 1).")
    ] = None
    create_extension: Annotated[
        bool,
        doc(
            "Run CREATE EXTENSION IF NOT EXISTS vector when a table is created and the "
            "extension is missing (needs the right to)."
        ),
    ] = True

    preparers: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        **PostgresOptions.preparers,
        "distance": _distance,
    }
    aliases: ClassVar[Mapping[str, str]] = {
        **PostgresOptions.aliases,
        "dim": "dimension",
        "metric": "distance",
        "metric_type": "distance",
        "vector_schema": "schema_name",
    }
    #: ORBIT's: the application's table (collection) and its embedding service
    application_keys: ClassVar[frozenset[str]] = frozenset(
        {"table", "table_name", "collection", "collection_name", "embedding_provider"}
    )
