"""The statements behind each vector operation on pgvector, and reading their rows
(shared by the synchronous and the asyncio hooks of :class:`~.store.PgvectorStore`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from unifydb.errors import UnifyDBError, UnsupportedOperationError
from unifydb.vectorstore import (
    CollectionInfo,
    Filter,
    Metric,
    Scalar,
    VectorHit,
    VectorRecord,
    Vectors,
    VectorStore,
    batched,
)

from .sql import (
    COMMENT_PREFIX,
    EXISTS_SQL,
    INFO_SQL,
    LIST_SQL,
    OPCLASSES,
    OPERATORS,
    Params,
    parse_vector,
    score_of,
    table_sql,
    vector_literal,
    where_sql,
)

if TYPE_CHECKING:
    from .datasource import PgvectorDatasource

_UPSERT_BATCH = 1000
_COLUMNS = {"namespace", "id", "embedding", "metadata", "document"}


@dataclass
class Statement:
    sql: str
    params: dict[str, Any] | list[dict[str, Any]] = field(default_factory=dict)
    fetch: bool = False


class PgvectorStatements(VectorStore):
    """SQL for each operation; :class:`~.store.PgvectorStore` runs it."""

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    name_rule: ClassVar[str] = "1-63 letters, digits or underscores, not starting with a digit"
    supports_namespaces: ClassVar[bool] = True

    @property
    def _pg(self) -> PgvectorDatasource:
        return self.datasource  # type: ignore[return-value]

    def _table(self, name: str) -> str:
        quote = self._client().dialect.identifier_preparer.quote_identifier
        return f"{quote(self._pg.options.schema_name)}.{quote(name)}"

    def _create_statements(self, name: str, dimension: int, metric: Metric) -> list[Statement]:
        options = self._pg.options
        index_options: dict[str, int] = {}
        if options.index == "hnsw":
            for key, value in (
                ("m", options.hnsw_m),
                ("ef_construction", options.hnsw_ef_construction),
            ):
                if value is not None:
                    index_options[key] = value
        elif options.index == "ivfflat":
            index_options["lists"] = options.ivfflat_lists
        quote = self._client().dialect.identifier_preparer.quote_identifier
        return [
            Statement(sql)
            for sql in table_sql(
                self._table(name),
                dimension,
                metric,
                options.index,
                index_options=index_options,
                quote=quote,
            )
        ]

    def _extension_statements(self) -> list[Statement]:
        return [
            Statement("SELECT 1 FROM pg_extension WHERE extname = 'vector'", fetch=True),
            Statement("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'", fetch=True),
        ]

    def _exists_statement(self, name: str) -> Statement:
        return Statement(EXISTS_SQL, {"schema": self._pg.options.schema_name, "name": name}, True)

    def _drop_statements(self, name: str) -> list[Statement]:
        return [
            self._exists_statement(name),
            Statement(f"DROP TABLE IF EXISTS {self._table(name)}"),
        ]

    def _list_statement(self) -> Statement:
        return Statement(LIST_SQL, {"schema": self._pg.options.schema_name}, True)

    def _info_statement(self, name: str) -> Statement:
        return Statement(INFO_SQL, {"schema": self._pg.options.schema_name, "name": name}, True)

    def _info(self, name: str, rows: list[Any]) -> CollectionInfo:
        if not rows:
            raise self.not_found(name)
        typmod, comment, opclasses, columns = rows[0]
        missing = _COLUMNS - set(columns or ())
        if missing:
            raise self.input_error(
                f"table {name!r} lacks the columns {', '.join(sorted(missing))} this API uses",
                fix="create tables for this API with vectors().create_collection(), or use "
                "get_engine() for other tables",
            )
        metric: Metric | None = None
        if isinstance(comment, str) and comment.startswith(COMMENT_PREFIX):
            named = comment[len(COMMENT_PREFIX) :].strip()
            metric = named if named in OPERATORS else None  # type: ignore[assignment]
        for candidate, opclass in OPCLASSES.items():
            if metric is None and opclass in (opclasses or ()):
                metric = candidate
        dimension = int(typmod) if typmod and int(typmod) > 0 else None
        return CollectionInfo(name, dimension, metric or self._pg.options.distance or "cosine")

    def _upsert_statements(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
        *,
        namespace: str | None,
    ) -> list[Statement]:
        for index, record_id in enumerate(ids):
            if "\x00" in record_id or "\x00" in (documents[index] or ""):
                raise self.input_error(
                    f"ids[{index}] or documents[{index}] holds a NUL character, which "
                    "PostgreSQL text cannot store"
                )
        sql = (
            f"INSERT INTO {self._table(info.name)} (namespace, id, embedding, metadata, document) "
            "VALUES (:ns, :id, CAST(:v AS vector), CAST(:m AS jsonb), :d) "
            "ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, "
            "metadata = EXCLUDED.metadata, document = EXCLUDED.document"
        )
        space = namespace or ""
        rows = [
            {
                "ns": space,
                "id": record_id,
                "v": vector_literal(vectors[index]),
                "m": json.dumps(metadatas[index]),
                "d": documents[index],
            }
            for index, record_id in enumerate(ids)
        ]
        return [Statement(sql, batch) for batch in batched(rows, _UPSERT_BATCH)]

    def _query_statements(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        namespace: str | None,
    ) -> list[Statement]:
        params = Params({"ns": namespace or "", "q": vector_literal(vector), "k": top_k})
        condition = where_sql(where, params)
        operator = OPERATORS[info.metric]
        statements = []
        options = self._pg.options
        for setting, value in (
            ("hnsw.ef_search", options.hnsw_ef_search),
            ("ivfflat.probes", options.ivfflat_probes),
        ):
            if value is not None:
                statements.append(Statement(f"SET LOCAL {setting} = {int(value)}"))
        statements.append(
            Statement(
                f"SELECT id, embedding {operator} CAST(:q AS vector) AS distance, metadata, "
                f"document FROM {self._table(info.name)} WHERE namespace = :ns AND {condition} "
                "ORDER BY distance LIMIT :k",
                params.values,
                fetch=True,
            )
        )
        return statements

    def _hits(self, info: CollectionInfo, rows: list[Any]) -> list[VectorHit]:
        return [
            VectorHit(
                id=row[0],
                score=score_of(info.metric, float(row[1])),
                metadata=dict(row[2] or {}),
                document=self.plain_document(row[3]),
            )
            for row in rows
        ]

    def _get_statement(
        self, info: CollectionInfo, ids: list[str], namespace: str | None
    ) -> Statement:
        return Statement(
            f"SELECT id, CAST(embedding AS text), metadata, document FROM {self._table(info.name)} "
            "WHERE namespace = :ns AND id = ANY(:ids)",
            {"ns": namespace or "", "ids": ids},
            fetch=True,
        )

    def _records(self, rows: list[Any]) -> list[VectorRecord]:
        return [
            VectorRecord(
                id=row[0],
                vector=parse_vector(row[1]),
                metadata=dict(row[2] or {}),
                document=self.plain_document(row[3]),
            )
            for row in rows
        ]

    def _delete_statement(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        namespace: str | None,
    ) -> Statement:
        params = Params({"ns": namespace or "", "ids": ids})
        condition = "id = ANY(:ids)" if ids is not None else where_sql(where, params)
        if ids is None:
            del params.values["ids"]
        return Statement(
            f"DELETE FROM {self._table(info.name)} WHERE namespace = :ns AND {condition}",
            params.values,
        )

    def _count_statement(
        self, info: CollectionInfo, where: Filter | None, namespace: str | None
    ) -> Statement:
        params = Params({"ns": namespace or ""})
        condition = where_sql(where, params)
        return Statement(
            f"SELECT count(*) FROM {self._table(info.name)} WHERE namespace = :ns AND {condition}",
            params.values,
            fetch=True,
        )

    def _missing_extension(self, available: bool, error: Exception | None = None) -> UnifyDBError:
        if not available:
            return UnsupportedOperationError(
                "the server has no pgvector extension (pg_available_extensions lists no 'vector')",
                datasource=self.datasource.name,
                fix="install pgvector on the database server (e.g. the postgresql-<version>-"
                "pgvector package), then create a collection again",
            )
        cause = f": {self.datasource.redact(str(error).splitlines()[0])}" if error else ""
        return UnsupportedOperationError(
            f"the pgvector extension is available but not created in this database{cause}",
            datasource=self.datasource.name,
            key="create_extension",
            fix="run CREATE EXTENSION vector as a user allowed to (or set create_extension = "
            "true and give this user the right)",
        )
