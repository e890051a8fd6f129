"""The unified vector API on Qdrant collections."""

from __future__ import annotations

import asyncio
import re
import uuid
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

from .filters import qdrant_filter

if TYPE_CHECKING:
    from .datasource import QdrantDatasource

_DISTANCES: dict[Metric, str] = {"cosine": "Cosine", "l2": "Euclid", "ip": "Dot"}
#: point ids are UUIDs derived from the record id (Qdrant takes no free-form ids)
_ID_SPACE = uuid.UUID("5f1d3c1e-6a55-4b0e-9c7e-7a3f0c2d9b10")
_BATCH = 256


def point_id(record_id: str) -> str:
    return str(uuid.uuid5(_ID_SPACE, record_id))


class QdrantVectorStore(VectorStore):
    """:class:`~unifydb.vectorstore.VectorStore` on Qdrant collections.

    A record is a point whose id is a UUID derived from the record id (uuid5),
    with the payload ``{"id", "metadata", "document"}``; cosine collections
    also keep the vector's length in ``norm``, because Qdrant stores cosine
    vectors normalized and ``get()`` returns what was upserted. Qdrant
    reports the cosine similarity for Cosine, the inner product for Dot and
    the Euclidean distance for Euclid (squared and negated here).
    """

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
    name_rule: ClassVar[str] = (
        "1-255 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'"
    )
    no_namespace_reason: ClassVar[str] = (
        "a payload filter would slow every query of the default namespace"
    )

    def __init__(self, datasource: Any) -> None:
        super().__init__(datasource)
        self._async_client: Any = None
        self._async_loop: Any = None

    @property
    def _qdrant(self) -> QdrantDatasource:
        return self.datasource  # type: ignore[return-value]

    @property
    def native_async(self) -> bool:
        # the local mode's folder is open in the sync client already; a second
        # (async) local client would be another, empty, store
        return self._qdrant.mode == "server"

    def _client(self) -> Any:
        return self._qdrant.get_client()

    def _bad_key(self, key: str) -> VectorInputError:
        return self.input_error(
            f"the where key {key!r} holds '\"' or '\\', which Qdrant's key paths cannot address",
            fix="filter on keys without quotes or backslashes",
        )

    # ------------------------------------------------------------------ collections

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        from qdrant_client import models

        client = self._client()
        self._forget(name)
        if not client.collection_exists(name):
            params = models.VectorParams(
                size=dimension, distance=models.Distance(_DISTANCES[metric])
            )
            try:
                client.create_collection(name, vectors_config=params)
                return
            except Exception:
                if not client.collection_exists(name):
                    raise
        self._check_existing(self._describe(name), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        self._forget(name)
        return bool(self._client().delete_collection(name))

    def _has_collection(self, name: str) -> bool:
        return bool(self._client().collection_exists(name))

    def _list_collections(self) -> list[str]:
        return [item.name for item in self._client().get_collections().collections]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        if not client.collection_exists(name):
            raise self.not_found(name)
        return self._info(name, client.get_collection(name))

    def _info(self, name: str, description: Any) -> CollectionInfo:
        params = description.config.params.vectors
        if not hasattr(params, "size"):
            raise self.input_error(
                f"collection {name!r} has named vectors, which this API does not use",
                fix="create collections for this API with vectors().create_collection(), or "
                "use get_client() for other collections",
            )
        distance = str(getattr(params.distance, "value", params.distance))
        for metric, qdrant_name in _DISTANCES.items():
            if distance == qdrant_name:
                return CollectionInfo(name, int(params.size), metric)
        raise self.input_error(
            f"collection {name!r} uses the distance {distance}, which this API does not map",
            fix="use Cosine, Euclid or Dot collections",
        )

    # ------------------------------------------------------------------ requests and results

    def _points(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
    ) -> list[Any]:
        from qdrant_client import models

        norms: list[float] | None = None
        if info.metric == "cosine":
            import numpy as np

            norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1).tolist()
        points = []
        for index, record_id in enumerate(ids):
            payload: dict[str, Any] = {
                "id": record_id,
                "metadata": metadatas[index],
                "document": documents[index],
            }
            if norms is not None:
                payload["norm"] = norms[index]
            vector = vectors[index]
            points.append(
                models.PointStruct(
                    id=point_id(record_id),
                    vector=vector if isinstance(vector, list) else vector.tolist(),
                    payload=payload,
                )
            )
        return points

    def _hit(self, info: CollectionInfo, point: Any) -> VectorHit:
        payload = point.payload or {}
        score = float(point.score)
        if info.metric == "l2":
            score = -(score * score) + 0.0  # Qdrant's Euclid is the distance itself
        return VectorHit(
            id=str(payload.get("id", point.id)),
            score=score,
            metadata=dict(payload.get("metadata") or {}),
            document=self.plain_document(payload.get("document")),
        )

    def _record(self, point: Any) -> VectorRecord:
        payload = point.payload or {}
        vector = [float(x) for x in point.vector or []]
        norm = payload.get("norm")
        if isinstance(norm, (int, float)) and norm:
            vector = [x * norm for x in vector]
        return VectorRecord(
            id=str(payload.get("id", point.id)),
            vector=vector,
            metadata=dict(payload.get("metadata") or {}),
            document=self.plain_document(payload.get("document")),
        )

    def _selector(self, ids: list[str] | None, where: Filter | None) -> Any:
        from qdrant_client import models

        if ids is not None:
            return models.PointIdsList(points=[point_id(record_id) for record_id in ids])
        return models.FilterSelector(filter=qdrant_filter(where, self._bad_key))

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
        points = self._points(info, ids, vectors, metadatas, documents)
        client = self._client()
        for batch in batched(points, _BATCH):
            client.upsert(info.name, points=batch, wait=True)

    def _query(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        response = self._client().query_points(
            info.name,
            query=vector,
            limit=top_k,
            query_filter=qdrant_filter(where, self._bad_key),
            with_payload=True,
        )
        return [self._hit(info, point) for point in response.points]

    def _get(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        points = self._client().retrieve(
            info.name, ids=[point_id(i) for i in ids], with_payload=True, with_vectors=True
        )
        return [self._record(point) for point in points]

    def _delete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        self._client().delete(info.name, points_selector=self._selector(ids, where), wait=True)

    def _count(self, info: CollectionInfo, where: Filter | None, *, namespace: str | None) -> int:
        filter_ = qdrant_filter(where, self._bad_key)
        return int(self._client().count(info.name, count_filter=filter_, exact=True).count)

    # ------------------------------------------------------------------ asyncio (servers)

    async def _aclient(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._async_client is None or self._async_loop is not loop:
            # an AsyncQdrantClient belongs to the event loop it was first used on
            self._async_client = await self._qdrant.get_async_client()
            self._async_loop = loop
        return self._async_client

    async def _aclose(self) -> None:
        client, self._async_client, self._async_loop = self._async_client, None, None
        if client is not None:
            await client.close()

    async def _afetch_info(self, client: Any, name: str) -> CollectionInfo:
        if not await client.collection_exists(name):
            raise self.not_found(name)
        return self._info(name, await client.get_collection(name))

    async def _acreate_collection(
        self, name: str, dimension: int, metric: Metric, exist_ok: bool
    ) -> None:
        from qdrant_client import models

        client = await self._aclient()
        self._forget(name)
        if not await client.collection_exists(name):
            params = models.VectorParams(
                size=dimension, distance=models.Distance(_DISTANCES[metric])
            )
            try:
                await client.create_collection(name, vectors_config=params)
                return
            except Exception:
                if not await client.collection_exists(name):
                    raise
        self._check_existing(await self._adescribe(name), dimension, metric, exist_ok)

    async def _adrop_collection(self, name: str) -> bool:
        self._forget(name)
        return bool(await (await self._aclient()).delete_collection(name))

    async def _ahas_collection(self, name: str) -> bool:
        return bool(await (await self._aclient()).collection_exists(name))

    async def _alist_collections(self) -> list[str]:
        response = await (await self._aclient()).get_collections()
        return [item.name for item in response.collections]

    async def _aupsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
        *,
        namespace: str | None,
    ) -> None:
        client = await self._aclient()
        for batch in batched(self._points(info, ids, vectors, metadatas, documents), _BATCH):
            await client.upsert(info.name, points=batch, wait=True)

    async def _aquery(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        response = await (await self._aclient()).query_points(
            info.name,
            query=vector,
            limit=top_k,
            query_filter=qdrant_filter(where, self._bad_key),
            with_payload=True,
        )
        return [self._hit(info, point) for point in response.points]

    async def _aget(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        points = await (await self._aclient()).retrieve(
            info.name, ids=[point_id(i) for i in ids], with_payload=True, with_vectors=True
        )
        return [self._record(point) for point in points]

    async def _adelete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        client = await self._aclient()
        await client.delete(info.name, points_selector=self._selector(ids, where), wait=True)

    async def _acount(
        self, info: CollectionInfo, where: Filter | None, *, namespace: str | None
    ) -> int:
        filter_ = qdrant_filter(where, self._bad_key)
        result = await (await self._aclient()).count(info.name, count_filter=filter_, exact=True)
        return int(result.count)

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        message = str(error).lower()
        self._forget()
        if "not found" in message and "collection" in message:
            return CollectionNotFoundError(
                self.datasource.redact(f"{action} failed: {error}"),
                datasource=self.datasource.name,
            )
        return super()._translate(action, error)
