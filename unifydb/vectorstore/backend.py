"""What a vector backend implements (the underscore hooks), and the helpers it gets.

Every hook has a synchronous form; a backend whose driver has an asyncio client
also implements the ``_a``-prefixed twins and sets :attr:`BackendHooks.native_async`
(per datasource, e.g. Qdrant only for a server). Without them the async store
runs the synchronous hook in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from unifydb.errors import UnifyDBError

from .filters import Filter
from .types import (
    CollectionExistsError,
    CollectionInfo,
    CollectionNotFoundError,
    Metric,
    Scalar,
    VectorHit,
    VectorRecord,
    Vectors,
)

if TYPE_CHECKING:
    from unifydb.base import Datasource

T = TypeVar("T")


@dataclass(frozen=True)
class Plan(Generic[T]):
    """One checked operation, ready to run synchronously or natively async."""

    action: str
    sync: Callable[[], T]
    native: Callable[[], Awaitable[T]]


class BackendHooks:
    """The hooks of :class:`~unifydb.vectorstore.VectorStore` (mixed into it)."""

    _datasource: Datasource[Any]

    def __init__(self, datasource: Datasource[Any]) -> None:
        self._datasource = datasource
        self._lock = threading.RLock()
        # collection name -> info, valid for one client (a reconnect starts afresh):
        # fetching it is a round trip on every call otherwise
        self._infos: dict[str, CollectionInfo] = {}
        self._infos_client: Any = None

    @property
    def native_async(self) -> bool:
        """Whether the ``_a*`` hooks talk to the driver's asyncio client (else: threads)."""
        return False

    # ------------------------------------------------------------------ collections

    @abstractmethod
    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        """Create it; when it exists, raise unless ``exist_ok`` and it matches
        (see :meth:`_check_existing`)."""

    @abstractmethod
    def _drop_collection(self, name: str) -> bool:
        """Drop it; False when there was nothing to drop."""

    @abstractmethod
    def _has_collection(self, name: str) -> bool: ...

    @abstractmethod
    def _list_collections(self) -> list[str]: ...

    @abstractmethod
    def _client(self) -> Any:
        """The driver's client, from the datasource (connecting again after a close)."""

    @abstractmethod
    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        """Dimension and metric of ``name`` from the backend; :meth:`not_found` when
        it does not exist."""

    # ------------------------------------------------------------------ records

    @abstractmethod
    def _upsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
        *,
        namespace: str | None,
    ) -> None: ...

    @abstractmethod
    def _query(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]: ...

    @abstractmethod
    def _get(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]: ...

    @abstractmethod
    def _delete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        """Delete by ``ids``, or every record matching ``where`` (exactly one is given)."""

    @abstractmethod
    def _count(
        self, info: CollectionInfo, where: Filter | None, *, namespace: str | None
    ) -> int: ...

    # ------------------------------------------------------------------ asyncio twins
    # (used only when native_async is True; the defaults say which hook is missing)

    async def _aclient(self) -> Any:
        raise NotImplementedError("_aclient")

    async def _afetch_info(self, client: Any, name: str) -> CollectionInfo:
        raise NotImplementedError("_afetch_info")

    async def _acreate_collection(
        self, name: str, dimension: int, metric: Metric, exist_ok: bool
    ) -> None:
        raise NotImplementedError("_acreate_collection")

    async def _adrop_collection(self, name: str) -> bool:
        raise NotImplementedError("_adrop_collection")

    async def _ahas_collection(self, name: str) -> bool:
        raise NotImplementedError("_ahas_collection")

    async def _alist_collections(self) -> list[str]:
        raise NotImplementedError("_alist_collections")

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
        raise NotImplementedError("_aupsert")

    async def _aquery(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> list[VectorHit]:
        raise NotImplementedError("_aquery")

    async def _aget(
        self, info: CollectionInfo, ids: list[str], *, namespace: str | None
    ) -> list[VectorRecord]:
        raise NotImplementedError("_aget")

    async def _adelete(
        self,
        info: CollectionInfo,
        ids: list[str] | None,
        where: Filter | None,
        *,
        namespace: str | None,
    ) -> None:
        raise NotImplementedError("_adelete")

    async def _acount(
        self, info: CollectionInfo, where: Filter | None, *, namespace: str | None
    ) -> int:
        raise NotImplementedError("_acount")

    # ------------------------------------------------------------------ collection infos

    def _describe(self, name: str) -> CollectionInfo:
        """Dimension and metric of ``name``, fetched once per client;
        :meth:`not_found` when it does not exist."""
        client = self._client()
        info = self._cached_info(client, name)
        if info is None:
            info = self._fetch_info(client, name)
            self._keep_info(client, info)
        return info

    async def _adescribe(self, name: str) -> CollectionInfo:
        client = await self._aclient()
        info = self._cached_info(client, name)
        if info is None:
            info = await self._afetch_info(client, name)
            self._keep_info(client, info)
        return info

    def _cached_info(self, client: Any, name: str) -> CollectionInfo | None:
        with self._lock:
            if client is not self._infos_client:
                self._infos, self._infos_client = {}, client
            return self._infos.get(name)

    def _keep_info(self, client: Any, info: CollectionInfo) -> None:
        with self._lock:
            if client is self._infos_client:
                self._infos[info.name] = info

    def _forget(self, name: str | None = None) -> None:
        """Drop what :meth:`_describe` keeps of ``name`` (None: of every collection)."""
        with self._lock:
            if name is None:
                self._infos.clear()
            else:
                self._infos.pop(name, None)

    # ------------------------------------------------------------------ running

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        """Hook: a driver exception as a unifydb error (default: a connection error)."""
        return self._datasource.connection_error(action, error)

    def _run(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except UnifyDBError:
            raise
        except Exception as error:
            # `from None`: a driver's traceback can carry the URI or token it was given
            raise self._translate(action, error) from None

    def _execute(self, plan: Plan[T]) -> T:
        return self._run(plan.action, plan.sync)

    async def _execute_async(self, plan: Plan[T]) -> T:
        if not self.native_async:
            return await asyncio.to_thread(self._execute, plan)
        failure: UnifyDBError | None = None
        try:
            return await plan.native()
        except UnifyDBError:
            raise
        except Exception as error:
            failure = self._translate(plan.action, error)
        raise failure

    # ------------------------------------------------------------------ helpers for backends

    def not_found(self, name: str) -> CollectionNotFoundError:
        return CollectionNotFoundError(
            f"collection {name!r} does not exist",
            datasource=self._datasource.name,
            fix=f"create it first: vectors().create_collection({name!r}, dimension=...)",
        )

    def _check_existing(
        self, existing: CollectionInfo, dimension: int, metric: Metric, exist_ok: bool
    ) -> None:
        """What ``create_collection`` does when the collection is already there."""
        name = existing.name
        if not exist_ok:
            raise CollectionExistsError(
                f"collection {name!r} already exists",
                datasource=self._datasource.name,
                fix="pass exist_ok=True, or drop it first",
            )
        if existing.metric != metric or existing.dimension not in (None, dimension):
            shown = existing.dimension if existing.dimension is not None else "?"
            raise CollectionExistsError(
                f"collection {name!r} already exists with dimension {shown} and metric "
                f"{existing.metric!r}, not dimension {dimension} and metric {metric!r}",
                datasource=self._datasource.name,
                fix="use another name, or drop the collection first",
            )

    @staticmethod
    def plain_document(document: str | None) -> str | None:
        """Backends store "no document" differently; every read goes through this."""
        return document or None
