"""The unified vector API on Milvus collections."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from unifydb.errors import UnifyDBError
from unifydb.vectorstore import (
    CollectionInfo,
    CollectionNotFoundError,
    Filter,
    Metric,
    Scalar,
    VectorHit,
    VectorRecord,
    Vectors,
    VectorStore,
    batched,
)

from .expressions import BATCH_ROWS, UNQUOTABLE, milvus_filter, row_batches

if TYPE_CHECKING:
    from .datasource import MilvusDatasource

T = TypeVar("T")


_METRIC_NAMES: dict[Metric, str] = {"cosine": "COSINE", "l2": "L2", "ip": "IP"}
_ID_MAX_BYTES = 512
_DOCUMENT_MAX_BYTES = 65_535


class MilvusVectorStore(VectorStore):
    """:class:`~unifydb.vectorstore.VectorStore` on Milvus collections.

    A collection has an explicit schema, ``id`` VARCHAR(512) primary key,
    ``vector`` FLOAT_VECTOR(dimension), ``metadata`` JSON and ``document``
    VARCHAR(65535) (nullable), an AUTOINDEX on ``vector`` with the metric, and
    Strong consistency so that reads see the writes before them. Milvus reports
    the cosine similarity for COSINE, the inner product for IP and the squared
    Euclidean distance for L2 (negated here, so higher is better).
    """

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    name_rule: ClassVar[str] = "1-255 letters, digits or underscores, not starting with a digit"
    max_top_k: ClassVar[int | None] = 16_384
    # Milvus's JSON comparisons treat true as 1 and false as 0
    booleans_match_numbers: ClassVar[bool] = True
    no_namespace_reason: ClassVar[str] = (
        "Milvus partitions share one primary-key space, so the same id cannot live in two"
    )

    @property
    def _milvus(self) -> MilvusDatasource:
        return self.datasource  # type: ignore[return-value]

    @property
    def _timeout(self) -> float:
        return self._milvus.timeout

    def _client(self) -> Any:
        return self._milvus.get_client()

    # ------------------------------------------------------------------ collections

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        from pymilvus import DataType

        client = self._client()
        self._forget(name)
        if not client.has_collection(name, timeout=self._timeout):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_ID_MAX_BYTES)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field("metadata", DataType.JSON)
            schema.add_field(
                "document", DataType.VARCHAR, max_length=_DOCUMENT_MAX_BYTES, nullable=True
            )
            index = client.prepare_index_params()
            index.add_index(
                field_name="vector", metric_type=_METRIC_NAMES[metric], index_type="AUTOINDEX"
            )
            try:
                # with index_params, Milvus also loads the collection
                client.create_collection(
                    name,
                    schema=schema,
                    index_params=index,
                    consistency_level="Strong",
                    timeout=self._timeout,
                )
                return
            except Exception:
                if not client.has_collection(name, timeout=self._timeout):
                    raise
                # another client created it meanwhile
        self._check_existing(self._describe(name), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        client = self._client()
        self._forget(name)
        if not client.has_collection(name, timeout=self._timeout):
            return False
        client.drop_collection(name, timeout=self._timeout)
        return True

    def _has_collection(self, name: str) -> bool:
        return bool(self._client().has_collection(name, timeout=self._timeout))

    def _list_collections(self) -> list[str]:
        return [str(name) for name in self._client().list_collections(timeout=self._timeout)]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        if not client.has_collection(name, timeout=self._timeout):
            raise self.not_found(name)
        description = client.describe_collection(name, timeout=self._timeout)
        fields = {field["name"]: field for field in description.get("fields", [])}
        vector = fields.get("vector", {})
        dimension = (vector.get("params") or {}).get("dim")
        if not {"id", "metadata", "document"} <= set(fields) or dimension is None:
            raise self.input_error(
                f"collection {name!r} does not have the fields unifydb uses (id, vector, "
                "metadata, document)",
                fix="create collections for this API with vectors().create_collection(), or "
                "use get_client() for other collections",
            )
        metric = self._metric_of(client, name)
        self._load(client, name)
        return CollectionInfo(name, int(dimension), metric)

    def _metric_of(self, client: Any, name: str) -> Metric:
        for index_name in client.list_indexes(name, field_name="vector", timeout=self._timeout):
            index = client.describe_index(name, index_name=index_name, timeout=self._timeout)
            metric_type = str(index.get("metric_type", "")).upper()
            for metric, milvus_name in _METRIC_NAMES.items():
                if metric_type == milvus_name:
                    return metric
        raise self.input_error(
            f"collection {name!r} has no COSINE, L2 or IP index on its vector field",
            fix="create an index on 'vector', or recreate the collection with create_collection()",
        )

    def _load(self, client: Any, name: str) -> None:
        # Milvus Lite forgets loaded collections when its server restarts (close and reopen)
        state = client.get_load_state(name, timeout=self._timeout)
        if "Loaded" not in str(state.get("state") if isinstance(state, Mapping) else state):
            client.load_collection(name, timeout=self._timeout)

    def _call(self, info: CollectionInfo, fn: Callable[[Any], T]) -> T:
        """``fn(client)``; a collection released meanwhile is loaded and the call retried once."""
        client = self._client()
        try:
            return fn(client)
        except Exception as error:
            self._forget(info.name)
            if not _not_loaded(error):
                raise
        self._load(client, info.name)
        return fn(client)

    # ------------------------------------------------------------------ records

    def _upsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
        *,
        namespace: str | None,
    ) -> None:
        for index, record_id in enumerate(ids):
            self._check_milvus_id(record_id, f"ids[{index}]")
            if len(record_id.encode()) > _ID_MAX_BYTES:
                raise self.input_error(
                    f"ids[{index}] is longer than {_ID_MAX_BYTES} bytes",
                    fix="use shorter ids (e.g. a hash of the long key)",
                )
        for index, document in enumerate(documents):
            if document is not None and len(document.encode()) > _DOCUMENT_MAX_BYTES:
                raise self.input_error(
                    f"documents[{index}] is longer than {_DOCUMENT_MAX_BYTES} bytes, the "
                    "Milvus VARCHAR limit",
                    fix="store long texts elsewhere and keep a reference in the metadata",
                )
        rows = [
            {"id": record_id, "vector": vector, "metadata": metadata, "document": document}
            for record_id, vector, metadata, document in zip(
                ids, vectors, metadatas, documents, strict=True
            )
        ]
        for batch in row_batches(rows):
            self._call(
                info,
                lambda client, batch=batch: client.upsert(  # type: ignore[misc]
                    info.name, data=batch, timeout=self._timeout
                ),
            )

    def _query(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        expression = milvus_filter(where, self._literal)
        results = self._call(
            info,
            lambda client: client.search(
                info.name,
                data=[vector],
                limit=top_k,
                filter=expression,
                output_fields=["metadata", "document"],
                anns_field="vector",
                search_params={"metric_type": _METRIC_NAMES[info.metric]},
                timeout=self._timeout,
            ),
        )
        hits: list[VectorHit] = []
        for hit in results[0] if results else []:
            entity = hit.get("entity") or {}
            distance = float(hit["distance"])
            hits.append(
                VectorHit(
                    id=str(hit["id"]),
                    # Milvus L2 is already squared; COSINE and IP are similarities
                    score=-distance + 0.0 if info.metric == "l2" else distance,
                    metadata=dict(entity.get("metadata") or {}),
                    document=self.plain_document(entity.get("document")),
                )
            )
        return hits

    def _ids_expression(self, ids: list[str]) -> str:
        # pymilvus's own get(ids=)/delete(ids=) quote string ids without escaping
        return f"id in [{', '.join(self._literal(record_id, 'ids') for record_id in ids)}]"

    def _get(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        records: list[VectorRecord] = []
        for batch in batched(ids, BATCH_ROWS):
            expression = self._ids_expression(batch)
            rows = self._call(
                info,
                lambda client, expression=expression: client.query(  # type: ignore[misc]
                    info.name,
                    filter=expression,
                    output_fields=["id", "vector", "metadata", "document"],
                    timeout=self._timeout,
                ),
            )
            records += [
                VectorRecord(
                    id=str(row["id"]),
                    vector=[float(x) for x in row["vector"]],
                    metadata=dict(row.get("metadata") or {}),
                    document=self.plain_document(row.get("document")),
                )
                for row in rows
            ]
        return records

    def _delete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        if ids is None:
            expression = milvus_filter(where, self._literal)
            self._call(
                info,
                lambda client: client.delete(info.name, filter=expression, timeout=self._timeout),
            )
            return
        for batch in batched(ids, BATCH_ROWS):
            expression = self._ids_expression(batch)
            self._call(
                info,
                lambda client, expression=expression: client.delete(  # type: ignore[misc]
                    info.name, filter=expression, timeout=self._timeout
                ),
            )

    def _count(self, info: CollectionInfo, where: Filter | None, *, namespace: str | None) -> int:
        expression = milvus_filter(where, self._literal)
        rows = self._call(
            info,
            lambda client: client.query(
                info.name, filter=expression, output_fields=["count(*)"], timeout=self._timeout
            ),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        message = str(getattr(error, "message", "") or error).lower()
        if "collection" in message and ("not found" in message or "not exist" in message):
            return CollectionNotFoundError(
                self.datasource.redact(f"{action} failed: {getattr(error, 'message', error)}"),
                datasource=self.datasource.name,
            )
        return super()._translate(action, error)

    # ------------------------------------------------------------------ expressions

    def _check_milvus_id(self, record_id: str, label: str) -> None:
        if UNQUOTABLE.search(record_id):
            raise self.input_error(
                f"{label} contains a control character, which Milvus filter expressions "
                "cannot hold",
                fix="use printable ids",
            )

    def _literal(self, value: Scalar, label: str) -> str:
        """``value`` as a Milvus expression literal (never pasted in raw)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if UNQUOTABLE.search(value):
            raise self.input_error(
                f"a {label} value contains a control character Milvus expressions cannot hold",
                fix="match on printable text",
            )
        # JSON string syntax is Milvus's (double quotes, backslash escapes); non-ASCII
        # stays as is because Milvus Lite does not read \\u escapes
        return json.dumps(value, ensure_ascii=False)


def _not_loaded(error: BaseException) -> bool:
    message = str(getattr(error, "message", "") or error).lower()
    return getattr(error, "code", None) == 101 or "not loaded" in message or "released" in message
