"""The unified vector API on Chroma collections."""

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
    VectorInputError,
    VectorRecord,
    Vectors,
    VectorStore,
    batched,
)

from .filters import chroma_where

if TYPE_CHECKING:
    from .datasource import ChromaDatasource

#: collection metadata key holding the dimension given to create_collection
_DIMENSION_KEY = "unifydb:dimension"
#: chroma's own default space when a collection names none
_DEFAULT_SPACE: Metric = "l2"


class ChromaVectorStore(VectorStore):
    """:class:`~unifydb.vectorstore.VectorStore` on Chroma collections.

    The metric is the collection's HNSW space and the dimension is kept in the
    collection metadata under ``unifydb:dimension``. Chroma reports distances:
    ``cosine`` is ``1 - cos``, ``ip`` is ``1 - a.b`` and ``l2`` is the squared
    Euclidean distance, converted here to unifydb's higher-is-better scores.
    """

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(
        r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$"
    )
    name_rule: ClassVar[str] = (
        "3-512 letters, digits, '.', '_' or '-', starting and ending with a letter or "
        "digit, without '..'"
    )
    no_namespace_reason: ClassVar[str] = (
        "Chroma keeps tenants and databases apart per client, not per call"
    )

    @property
    def _chroma(self) -> ChromaDatasource:
        return self.datasource  # type: ignore[return-value]

    def _client(self) -> Any:
        return self._chroma.get_client()

    def _find(self, name: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            return self._client().get_collection(name, embedding_function=None)
        except NotFoundError:
            return None

    def _info(self, collection: Any) -> CollectionInfo:
        config = getattr(collection, "configuration_json", None) or {}
        metadata = collection.metadata or {}
        space: Any = None
        for index in ("hnsw", "spann"):
            section = config.get(index)
            if isinstance(section, dict) and section.get("space"):
                space = section["space"]
                break
        space = space or metadata.get("hnsw:space") or _DEFAULT_SPACE
        metric: Metric = space if space in ("cosine", "l2", "ip") else _DEFAULT_SPACE
        dimension = metadata.get(_DIMENSION_KEY)
        if not isinstance(dimension, int) or isinstance(dimension, bool):
            dimension = getattr(collection.get_model(), "dimension", None)
        return CollectionInfo(collection.name, dimension, metric, collection)

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        self._forget(name)
        existing = self._find(name)
        if existing is None:
            try:
                self._client().create_collection(
                    name,
                    configuration={"hnsw": {"space": metric}},
                    metadata={_DIMENSION_KEY: dimension},
                    embedding_function=None,
                )
                return
            except Exception:
                existing = self._find(name)  # another client created it meanwhile
                if existing is None:
                    raise
        self._check_existing(self._info(existing), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        from chromadb.errors import NotFoundError

        self._forget(name)
        try:
            self._client().delete_collection(name)
        except NotFoundError:
            return False
        return True

    def _has_collection(self, name: str) -> bool:
        return self._find(name) is not None

    def _list_collections(self) -> list[str]:
        return [collection.name for collection in self._client().list_collections()]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        collection = self._find(name)
        if collection is None:
            raise self.not_found(name)
        return self._info(collection)

    def _batch_size(self) -> int:
        size = int(self._client().get_max_batch_size())
        return size if size > 0 else 1000

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
        collection = info.handle
        size = self._batch_size()
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            # Chroma's upsert merges into an existing record (old metadata keys and
            # the old document stay); unifydb's replaces it, so stale keys are
            # removed explicitly (a None value deletes a key) and an old document
            # is cleared to "" (which reads back as None).
            old = collection.get(ids=batch, include=["metadatas", "documents"])
            previous = {
                record_id: (meta or {}, doc)
                for record_id, meta, doc in zip(
                    old["ids"], old["metadatas"] or [], old["documents"] or [], strict=False
                )
            }
            batch_metadatas: list[dict[str, Any] | None] = []
            batch_documents: list[str | None] = []
            for offset, record_id in enumerate(batch):
                metadata: dict[str, Any] = dict(metadatas[start + offset])
                document = documents[start + offset]
                if record_id in previous:
                    old_metadata, old_document = previous[record_id]
                    metadata.update({key: None for key in old_metadata if key not in metadata})
                    if document is None and old_document:
                        document = ""
                # Chroma rejects an empty metadata dict; None means "none"
                batch_metadatas.append(metadata or None)
                batch_documents.append(document)
            collection.upsert(
                ids=batch,
                embeddings=vectors[start : start + size],
                metadatas=batch_metadatas,
                documents=batch_documents,
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
        result = info.handle.query(
            query_embeddings=[vector],
            n_results=top_k,
            where=chroma_where(where),
            include=["metadatas", "documents", "distances"],
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        metadatas = (result.get("metadatas") or [[None] * len(ids)])[0]
        documents = (result.get("documents") or [[None] * len(ids)])[0]
        return [
            VectorHit(
                id=record_id,
                score=_score(info.metric, float(distance)),
                metadata=dict(metadata or {}),
                document=self.plain_document(document),
            )
            for record_id, distance, metadata, document in zip(
                ids, distances, metadatas, documents, strict=True
            )
        ]

    def _get(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        records: list[VectorRecord] = []
        for batch in batched(ids, self._batch_size()):
            result = info.handle.get(ids=batch, include=["embeddings", "metadatas", "documents"])
            found = result["ids"]
            embeddings = result.get("embeddings")
            metadatas = result.get("metadatas") or [None] * len(found)
            documents = result.get("documents") or [None] * len(found)
            for index, record_id in enumerate(found):
                vector = [] if embeddings is None else [float(x) for x in embeddings[index]]
                records.append(
                    VectorRecord(
                        id=record_id,
                        vector=vector,
                        metadata=dict(metadatas[index] or {}),
                        document=self.plain_document(documents[index]),
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
        if ids is None:
            info.handle.delete(where=chroma_where(where))
            return
        for batch in batched(ids, self._batch_size()):
            info.handle.delete(ids=batch)

    def _count(self, info: CollectionInfo, where: Filter | None, *, namespace: str | None) -> int:
        if where is None:
            return int(info.handle.count())
        return len(info.handle.get(where=chroma_where(where), include=[])["ids"])

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        from chromadb.errors import InvalidArgumentError, NotFoundError

        self._forget()  # the collection may have been dropped or recreated elsewhere
        message = self.datasource.redact(f"{action} failed: {error}")
        if isinstance(error, NotFoundError):
            return CollectionNotFoundError(message, datasource=self.datasource.name)
        if isinstance(error, InvalidArgumentError):
            return VectorInputError(message, datasource=self.datasource.name)
        return super()._translate(action, error)


def _score(metric: Metric, distance: float) -> float:
    if metric == "l2":
        return -distance + 0.0  # + 0.0: an exact match scores 0.0, not -0.0
    # cosine: 1 - cosine similarity; ip: 1 - inner product
    return 1.0 - distance
