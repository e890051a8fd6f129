"""The unified vector API on Pinecone indexes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

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

from .filters import pinecone_filter

if TYPE_CHECKING:
    from .datasource import PineconeDatasource

_METRICS: dict[Metric, str] = {"cosine": "cosine", "l2": "euclidean", "ip": "dotproduct"}
#: the metadata key that holds the record's document
DOCUMENT_KEY = "unifydb:document"
_UPSERT_BATCH = 100
_ID_BATCH = 1000


class PineconeVectorStore(VectorStore):
    """:class:`~unifydb.vectorstore.VectorStore` on Pinecone indexes: a collection is an
    index (created serverless, in the options' ``cloud`` and ``region``), a record a
    vector whose metadata also holds the document under ``unifydb:document``.

    Pinecone reports the cosine similarity for cosine, the inner product for
    dotproduct and the squared Euclidean distance for euclidean (negated here).
    Namespaces are Pinecone's own. Pinecone counts per namespace only, so
    ``count(where=...)`` is refused; writes become visible after a moment
    (Pinecone is eventually consistent).
    """

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")
    name_rule: ClassVar[str] = (
        "1-45 lowercase letters, digits or '-', not starting or ending with '-'"
    )
    max_top_k: ClassVar[int | None] = 10_000
    supports_namespaces: ClassVar[bool] = True
    counts_with_filter: ClassVar[bool] = False

    def __init__(self, datasource: Any) -> None:
        super().__init__(datasource)
        self._indexes: dict[str, Any] = {}

    @property
    def _pinecone(self) -> PineconeDatasource:
        return self.datasource  # type: ignore[return-value]

    def _client(self) -> Any:
        return self._pinecone.get_client()

    def _index(self, name: str) -> Any:
        client = self._client()
        with self._lock:
            cached = self._indexes.get(name)
            if cached is not None and cached[0] is client:
                return cached[1]
        index = self._pinecone.index_for(client, name)
        with self._lock:
            self._indexes[name] = (client, index)
        return index

    # ------------------------------------------------------------------ collections

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        from pinecone import ServerlessSpec

        client = self._client()
        self._forget(name)
        if not client.has_index(name):
            options = self._pinecone.options
            try:
                client.create_index(
                    name=name,
                    dimension=dimension,
                    metric=_METRICS[metric],
                    spec=ServerlessSpec(cloud=options.cloud, region=options.region),
                )
                return
            except Exception:
                if not client.has_index(name):
                    raise
        self._check_existing(self._describe(name), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        client = self._client()
        self._forget(name)
        with self._lock:
            self._indexes.pop(name, None)
        if not client.has_index(name):
            return False
        client.delete_index(name)
        return True

    def _has_collection(self, name: str) -> bool:
        return bool(self._client().has_index(name))

    def _list_collections(self) -> list[str]:
        return [str(index.name) for index in self._client().list_indexes()]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        if not client.has_index(name):
            raise self.not_found(name)
        description = client.describe_index(name)
        pinecone_metric = str(getattr(description, "metric", "cosine") or "cosine").lower()
        metric: Metric = next(
            (ours for ours, theirs in _METRICS.items() if theirs == pinecone_metric), "cosine"
        )
        dimension = getattr(description, "dimension", None)
        return CollectionInfo(name, int(dimension) if dimension else None, metric)

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
        records = []
        for index, record_id in enumerate(ids):
            metadata: dict[str, Any] = dict(metadatas[index])
            if documents[index]:
                metadata[DOCUMENT_KEY] = documents[index]
            vector = vectors[index]
            record: dict[str, Any] = {
                "id": record_id,
                "values": vector if isinstance(vector, list) else vector.tolist(),
            }
            if metadata:
                record["metadata"] = metadata
            records.append(record)
        index_client = self._index(info.name)
        for batch in batched(records, _UPSERT_BATCH):
            index_client.upsert(vectors=batch, namespace=namespace or "")

    def _query(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        response = self._index(info.name).query(
            vector=vector,
            top_k=top_k,
            filter=pinecone_filter(where),
            namespace=namespace or "",
            include_metadata=True,
        )
        hits = []
        for match in response.matches or []:
            metadata = dict(match.metadata or {})
            document = metadata.pop(DOCUMENT_KEY, None)
            hits.append(
                VectorHit(
                    id=str(match.id),
                    score=score_of(info.metric, float(match.score)),
                    metadata=metadata,
                    document=self.plain_document(document),
                )
            )
        return hits

    def _get(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        records = []
        for batch in batched(ids, _ID_BATCH):
            response = self._index(info.name).fetch(ids=batch, namespace=namespace or "")
            for record_id, found in (response.vectors or {}).items():
                metadata = dict(getattr(found, "metadata", None) or {})
                document = metadata.pop(DOCUMENT_KEY, None)
                records.append(
                    VectorRecord(
                        id=str(record_id),
                        vector=[float(x) for x in found.values or []],
                        metadata=metadata,
                        document=self.plain_document(document),
                    )
                )
        return records

    def _delete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        index_client = self._index(info.name)
        if ids is None:
            index_client.delete(filter=pinecone_filter(where), namespace=namespace or "")
            return
        for batch in batched(ids, _ID_BATCH):
            index_client.delete(ids=batch, namespace=namespace or "")

    def _count(self, info: CollectionInfo, where: Filter | None, *, namespace: str | None) -> int:
        stats = self._index(info.name).describe_index_stats()
        namespaces = getattr(stats, "namespaces", None) or {}
        keys = (namespace,) if namespace else ("", "__default__")
        for key in keys:
            summary = namespaces.get(key) if hasattr(namespaces, "get") else None
            if summary is not None:
                return int(getattr(summary, "vector_count", 0) or 0)
        return 0

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        self._forget()
        if type(error).__name__ == "NotFoundError":
            return CollectionNotFoundError(
                self.datasource.redact(f"{action} failed: {error}"),
                datasource=self.datasource.name,
            )
        return super()._translate(action, error)


def score_of(metric: Metric, score: float) -> float:
    """unifydb's score from Pinecone's: euclidean is the squared distance, negated."""
    return -score + 0.0 if metric == "l2" else score
