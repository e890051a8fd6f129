"""A small vector API that works the same on every vector datasource.

``datasource.vectors()`` returns the datasource's :class:`VectorStore`: create
and drop collections, upsert records (id, vector, metadata, document), query
by vector with a metadata filter (:mod:`unifydb.vectorstore.filters`), get,
delete (by ids or by filter) and count, optionally in a namespace.
``datasource.async_vectors()`` is its asyncio twin
(:class:`~unifydb.vectorstore.aio.AsyncVectorStore`). Backend modules
(``unifydb.datasources.*``) implement the underscore hooks
(:mod:`unifydb.vectorstore.backend`); the checks every backend needs
(lengths, dimensions, finite numbers, scalar metadata, collection names,
filters, namespaces) live here, so a user mistake is the same clear error
everywhere and never a driver's KeyError or TypeError.

Scores follow one convention: **higher is more similar**.

* ``cosine``: the cosine similarity, ``1 - cosine distance`` (1.0 for the same direction);
* ``ip``: the inner product ``a . b``;
* ``l2``: minus the squared Euclidean distance, ``-|a - b|^2`` (0.0 for the same vector).

Upserting replaces a record as a whole: keys missing from the new metadata
are gone afterwards, and a document of None clears the stored document. An
empty document reads back as None on every backend.

Namespaces keep records of one collection apart (the same id may live in
two); ``namespace=None`` is the default namespace, never "all of them".
Backends without namespaces raise :class:`~unifydb.errors.UnsupportedOperationError`
when one is given.

Importing this module imports no driver.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .aio import AsyncVectorStore
from .backend import BackendHooks, Plan
from .checks import InputChecks
from .types import (
    METRICS,
    CollectionInfo,
    Metric,
    Scalar,
    UnsupportedFilterError,
    VectorHit,
    VectorRecord,
)

if TYPE_CHECKING:
    from unifydb.base import Datasource


class VectorStore(BackendHooks, InputChecks, ABC):
    """The vector operations of one datasource.

    Built once per datasource (``datasource.vectors()``); every call asks the
    datasource for its client, so the store keeps working after
    ``datasource.close()`` (the next call connects again). Thread-safe as far as
    the driver's client is.
    """

    #: the largest ``top_k`` the backend serves (None: no limit)
    max_top_k: ClassVar[int | None] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} datasource={self._datasource.name!r}>"

    @property
    def datasource(self) -> Datasource[Any]:
        return self._datasource

    def as_async(self) -> AsyncVectorStore:
        """The asyncio twin of this store (one per store)."""
        twin = self.__dict__.get("_async_twin")
        if twin is None:
            with self._lock:
                twin = self.__dict__.setdefault("_async_twin", AsyncVectorStore(self))
        return twin  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ collections

    def create_collection(
        self,
        name: str,
        *,
        dimension: int | None = None,
        metric: Metric | None = None,
        exist_ok: bool = True,
    ) -> None:
        """Create ``name`` for vectors of ``dimension`` floats, compared by ``metric``.

        Without them, the datasource's defaults from settings apply (Milvus's
        ``dim`` and ``metric_type``); the metric defaults to cosine. With
        ``exist_ok`` an existing collection of the same dimension and metric is
        fine; one with another dimension or metric raises
        :class:`CollectionExistsError` either way.
        """
        self._execute(self._plan_create(name, dimension, metric, exist_ok))

    def drop_collection(self, name: str, *, missing_ok: bool = True) -> None:
        self._execute(self._plan_drop(name, missing_ok))

    def has_collection(self, name: str) -> bool:
        return self._execute(self._plan_has(name))

    def list_collections(self) -> list[str]:
        """Collection names, sorted."""
        return self._execute(self._plan_list())

    def _plan_create(
        self, name: str, dimension: int | None, metric: Metric | None, exist_ok: bool
    ) -> Plan[None]:
        self._check_name(name)
        defaults = getattr(self._datasource, "vector_defaults", lambda: (None, None))()
        if dimension is None:
            dimension = defaults[0]
            if dimension is None:
                raise self.input_error(
                    "no dimension given, and the datasource sets no default",
                    fix="pass dimension=<length of your vectors>, or set a default "
                    "dimension in settings",
                )
        if metric is None:
            metric = defaults[1] or "cosine"
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise self.input_error(
                f"dimension must be a positive whole number, not {dimension!r}",
                fix="pass dimension=<length of your vectors>, e.g. dimension=384",
            )
        if metric not in METRICS:
            raise self.input_error(
                f"unknown metric {metric!r}", fix=f"use one of {', '.join(METRICS)}"
            )
        size, space = dimension, metric
        return Plan(
            f"create collection {name!r}",
            lambda: self._create_collection(name, size, space, exist_ok),
            lambda: self._acreate_collection(name, size, space, exist_ok),
        )

    def _plan_drop(self, name: str, missing_ok: bool) -> Plan[None]:
        self._check_name(name)

        def checked(dropped: bool) -> None:
            if not dropped and not missing_ok:
                raise self.not_found(name)

        async def native() -> None:
            checked(await self._adrop_collection(name))

        return Plan(
            f"drop collection {name!r}", lambda: checked(self._drop_collection(name)), native
        )

    def _plan_has(self, name: str) -> Plan[bool]:
        self._check_name(name)
        return Plan(
            f"look up collection {name!r}",
            lambda: self._has_collection(name),
            lambda: self._ahas_collection(name),
        )

    def _plan_list(self) -> Plan[list[str]]:
        async def native() -> list[str]:
            return sorted(await self._alist_collections())

        return Plan("list collections", lambda: sorted(self._list_collections()), native)

    # ------------------------------------------------------------------ records

    def upsert(
        self,
        name: str,
        *,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, Scalar] | None] | None = None,
        documents: Sequence[str | None] | None = None,
        namespace: str | None = None,
    ) -> None:
        """Insert records, or replace the records with these ids as a whole."""
        self._execute(
            self._plan_upsert(name, ids, vectors, metadatas, documents, namespace=namespace)
        )

    def query(
        self,
        name: str,
        *,
        vector: Sequence[float],
        top_k: int = 10,
        where: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> list[VectorHit]:
        """The ``top_k`` records most similar to ``vector``, best first, among those
        that match ``where`` (see :mod:`unifydb.vectorstore.filters`)."""
        return self._execute(self._plan_query(name, vector, top_k, where, namespace))

    def get(
        self, name: str, *, ids: Sequence[str], namespace: str | None = None
    ) -> list[VectorRecord]:
        """The records with these ids, in the order of ``ids``; missing ids are left out
        (and an id given twice is returned once)."""
        return self._execute(self._plan_get(name, ids, namespace))

    def delete(
        self,
        name: str,
        *,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
        namespace: str | None = None,
    ) -> None:
        """Delete the records with these ids (ids that do not exist are ignored), or
        every record that matches ``where``: give one of the two."""
        self._execute(self._plan_delete(name, ids, where, namespace))

    def count(
        self, name: str, *, where: Mapping[str, Any] | None = None, namespace: str | None = None
    ) -> int:
        """How many records ``name`` holds (that match ``where``, when given)."""
        return self._execute(self._plan_count(name, where, namespace))

    # ------------------------------------------------------------------ plans (sync and async)

    def _plan_upsert(
        self,
        name: str,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, Scalar] | None] | None,
        documents: Sequence[str | None] | None,
        *,
        namespace: str | None,
    ) -> Plan[None]:
        self._check_name(name)
        id_list = self._check_ids(ids, unique=True)
        count = len(id_list)
        vector_list = self._check_vectors(vectors, count)
        metadata_list = self._check_metadatas(metadatas, count)
        document_list = self._check_documents(documents, count)
        space = self._check_namespace(namespace)
        args = (id_list, vector_list, metadata_list, document_list)

        def checked(info: CollectionInfo) -> CollectionInfo:
            self._check_dimension(info, len(vector_list[0]), "vectors")
            return info

        async def native() -> None:
            await self._aupsert(checked(await self._adescribe(name)), *args, namespace=space)

        def run() -> None:
            self._upsert(checked(self._describe(name)), *args, namespace=space)

        return Plan(f"upsert into {name!r}", run, native)

    def _plan_query(
        self,
        name: str,
        vector: Sequence[float],
        top_k: int,
        where: Mapping[str, Any] | None,
        namespace: str | None,
    ) -> Plan[list[VectorHit]]:
        self._check_name(name)
        query_vector = self._check_vector(vector, "vector")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise self.input_error(
                f"top_k must be a positive whole number, not {top_k!r}", fix="pass e.g. top_k=10"
            )
        if self.max_top_k is not None and top_k > self.max_top_k:
            raise self.input_error(
                f"top_k {top_k} is above the {self._datasource.type_name} limit of "
                f"{self.max_top_k}",
                fix=f"pass top_k <= {self.max_top_k}",
            )
        tree = self._check_where(where)
        space = self._check_namespace(namespace)

        def checked(info: CollectionInfo) -> CollectionInfo:
            self._check_dimension(info, len(query_vector), "vector")
            return info

        def best_first(hits: list[VectorHit]) -> list[VectorHit]:
            return sorted(hits, key=lambda hit: hit.score, reverse=True)

        async def native() -> list[VectorHit]:
            info = checked(await self._adescribe(name))
            return best_first(await self._aquery(info, query_vector, top_k, tree, namespace=space))

        return Plan(
            f"query {name!r}",
            lambda: best_first(
                self._query(
                    checked(self._describe(name)), query_vector, top_k, tree, namespace=space
                )
            ),
            native,
        )

    def _plan_get(
        self, name: str, ids: Sequence[str], namespace: str | None
    ) -> Plan[list[VectorRecord]]:
        self._check_name(name)
        id_list = list(dict.fromkeys(self._check_ids(ids, unique=False)))
        space = self._check_namespace(namespace)

        def in_order(records: list[VectorRecord]) -> list[VectorRecord]:
            found = {record.id: record for record in records}
            return [found[record_id] for record_id in id_list if record_id in found]

        async def native() -> list[VectorRecord]:
            return in_order(await self._aget(await self._adescribe(name), id_list, namespace=space))

        return Plan(
            f"get from {name!r}",
            lambda: in_order(self._get(self._describe(name), id_list, namespace=space)),
            native,
        )

    def _plan_delete(
        self,
        name: str,
        ids: Sequence[str] | None,
        where: Mapping[str, Any] | None,
        namespace: str | None,
    ) -> Plan[None]:
        self._check_name(name)
        if (ids is None) == (where is None):
            raise self.input_error(
                "delete takes ids or where, one of the two",
                fix="pass ids=[...] to delete records by id, or where={...} to delete the "
                "records that match (drop_collection() deletes everything)",
            )
        id_list = None if ids is None else list(dict.fromkeys(self._check_ids(ids, unique=False)))
        tree = None
        if where is not None:
            tree = self._check_where(where)
            if tree is None:
                raise self.input_error(
                    "delete with an empty where would delete every record",
                    fix="pass a filter, or use drop_collection()",
                )
        space = self._check_namespace(namespace)

        async def native() -> None:
            await self._adelete(await self._adescribe(name), id_list, tree, namespace=space)

        return Plan(
            f"delete from {name!r}",
            lambda: self._delete(self._describe(name), id_list, tree, namespace=space),
            native,
        )

    def _plan_count(
        self, name: str, where: Mapping[str, Any] | None, namespace: str | None
    ) -> Plan[int]:
        self._check_name(name)
        tree = self._check_where(where)
        if tree is not None and not self.counts_with_filter:
            raise UnsupportedFilterError(
                f"the {self._datasource.type_name} backend counts whole namespaces only, so "
                "count() takes no where",
                datasource=self._datasource.name,
                fix="count without where, or query with the filter and a large top_k",
            )
        space = self._check_namespace(namespace)

        async def native() -> int:
            return await self._acount(await self._adescribe(name), tree, namespace=space)

        return Plan(
            f"count {name!r}",
            lambda: self._count(self._describe(name), tree, namespace=space),
            native,
        )
