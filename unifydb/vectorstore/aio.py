"""The asyncio twin of :class:`~unifydb.vectorstore.VectorStore`.

``unifydb.async_vectors(name)`` (or ``datasource.async_vectors()``) returns an
:class:`AsyncVectorStore`: the same methods, with the same arguments, checks
and errors, as coroutines. Arguments are checked before anything is awaited.

Where the backend's driver has an asyncio client and the datasource can use
it (``store.native_async``: pgvector through psycopg's async connection, Qdrant
servers through ``AsyncQdrantClient``), the operation awaits it. Otherwise
(Chroma, Milvus, Pinecone, Qdrant's local mode, whose folder one client at a time
may open) the synchronous call runs in a worker thread
(``asyncio.to_thread``), so it never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .types import Metric, Scalar, VectorHit, VectorRecord

if TYPE_CHECKING:
    from unifydb.base import Datasource

    from .store import VectorStore


class AsyncVectorStore:
    """The vector operations of one datasource, for asyncio code."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store

    def __repr__(self) -> str:
        return f"<AsyncVectorStore of {self._store!r}>"

    @property
    def sync(self) -> VectorStore:
        """The synchronous store this one mirrors."""
        return self._store

    @property
    def datasource(self) -> Datasource[Any]:
        return self._store.datasource

    @property
    def native_async(self) -> bool:
        """True when calls await the driver's asyncio client, False when they run
        the synchronous client in a worker thread."""
        return self._store.native_async

    async def create_collection(
        self,
        name: str,
        *,
        dimension: int | None = None,
        metric: Metric | None = None,
        exist_ok: bool = True,
    ) -> None:
        store = self._store
        await store._execute_async(store._plan_create(name, dimension, metric, exist_ok))

    async def drop_collection(self, name: str, *, missing_ok: bool = True) -> None:
        await self._store._execute_async(self._store._plan_drop(name, missing_ok))

    async def has_collection(self, name: str) -> bool:
        return await self._store._execute_async(self._store._plan_has(name))

    async def list_collections(self) -> list[str]:
        return await self._store._execute_async(self._store._plan_list())

    async def upsert(
        self,
        name: str,
        *,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, Scalar] | None] | None = None,
        documents: Sequence[str | None] | None = None,
        namespace: str | None = None,
    ) -> None:
        store = self._store
        plan = store._plan_upsert(name, ids, vectors, metadatas, documents, namespace=namespace)
        await store._execute_async(plan)

    async def query(
        self,
        name: str,
        *,
        vector: Sequence[float],
        top_k: int = 10,
        where: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[VectorHit]:
        store = self._store
        return await store._execute_async(store._plan_query(name, vector, top_k, where, namespace))

    async def get(
        self, name: str, *, ids: Sequence[str], namespace: str | None = None
    ) -> list[VectorRecord]:
        return await self._store._execute_async(self._store._plan_get(name, ids, namespace))

    async def delete(
        self,
        name: str,
        *,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> None:
        store = self._store
        await store._execute_async(store._plan_delete(name, ids, where, namespace))

    async def count(
        self, name: str, *, where: Mapping[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        return await self._store._execute_async(self._store._plan_count(name, where, namespace))

    async def aclose(self) -> None:
        """Release the asyncio client the native calls used (the datasource keeps the
        synchronous one); the next call opens a new one."""
        close = getattr(self._store, "_aclose", None)
        if close is not None:
            await close()
