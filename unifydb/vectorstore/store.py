"""A small vector API that works the same on every vector datasource.

``datasource.vectors()`` returns the datasource's :class:`VectorStore`: create
and drop collections, upsert records (id, vector, metadata, document), query
by vector with an equality filter on metadata, get, delete and count. Backend
modules (``unifydb.datasources.vector.*``) implement the underscore hooks; the
checks every backend needs (lengths, dimensions, finite numbers, scalar
metadata, collection names) live here, so a user mistake is the same clear
error everywhere and never a driver's KeyError or TypeError.

Scores follow one convention: **higher is more similar**.

* ``cosine``: the cosine similarity, ``1 - cosine distance`` (1.0 for the same direction);
* ``ip``: the inner product ``a . b``;
* ``l2``: minus the squared Euclidean distance, ``-|a - b|^2`` (0.0 for the same vector).

Upserting replaces a record as a whole: keys missing from the new metadata
are gone afterwards, and a document of None clears the stored document. An
empty document reads back as None on every backend.

Importing this module imports no driver.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from unifydb.errors import UnifyDBError

from .checks import InputChecks
from .types import (
    METRICS,
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


class VectorStore(InputChecks, ABC):
    """The vector operations of one datasource.

    Built once per datasource (``datasource.vectors()``); every call asks the
    datasource for its client, so the store keeps working after
    ``datasource.close()`` (the next call connects again). Thread-safe as far as
    the driver's client is.
    """

    #: the largest ``top_k`` the backend serves (None: no limit)
    max_top_k: ClassVar[int | None] = None

    def __init__(self, datasource: Datasource[Any]) -> None:
        self._datasource = datasource
        self._lock = threading.RLock()
        # collection name -> info, valid for one client (a reconnect starts afresh):
        # fetching it is a round trip on every call otherwise
        self._infos: dict[str, CollectionInfo] = {}
        self._infos_client: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} datasource={self._datasource.name!r}>"

    @property
    def datasource(self) -> Datasource[Any]:
        return self._datasource

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
        self._check_name(name)
        defaults = getattr(self._datasource, "vector_defaults", lambda: (None, None))()
        if dimension is None:
            dimension = defaults[0]
            if dimension is None:
                raise self.input_error(
                    "no dimension given, and the datasource sets no default",
                    fix="pass dimension=<length of your vectors>, or set 'dim' in settings",
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
        self._run(
            f"create collection {name!r}",
            lambda: self._create_collection(name, dimension, metric, exist_ok),
        )

    def drop_collection(self, name: str, *, missing_ok: bool = True) -> None:
        self._check_name(name)

        def drop() -> None:
            if not self._drop_collection(name) and not missing_ok:
                raise self.not_found(name)

        self._run(f"drop collection {name!r}", drop)

    def has_collection(self, name: str) -> bool:
        self._check_name(name)
        return self._run(f"look up collection {name!r}", lambda: self._has_collection(name))

    def list_collections(self) -> list[str]:
        """Collection names, sorted."""
        return sorted(self._run("list collections", self._list_collections))

    # ------------------------------------------------------------------ records

    def upsert(
        self,
        name: str,
        *,
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]],
        metadatas: Sequence[Mapping[str, Scalar] | None] | None = None,
        documents: Sequence[str | None] | None = None,
    ) -> None:
        """Insert records, or replace the records with these ids as a whole."""
        self._check_name(name)
        id_list = self._check_ids(ids, unique=True)
        count = len(id_list)
        vector_list = self._check_vectors(vectors, count)
        metadata_list = self._check_metadatas(metadatas, count)
        document_list = self._check_documents(documents, count)

        def upsert() -> None:
            info = self._describe(name)
            self._check_dimension(info, len(vector_list[0]), "vectors")
            self._upsert(info, id_list, vector_list, metadata_list, document_list)

        self._run(f"upsert into {name!r}", upsert)

    def query(
        self,
        name: str,
        *,
        vector: Sequence[float],
        top_k: int = 10,
        where: Mapping[str, Scalar] | None = None,
    ) -> list[VectorHit]:
        """The ``top_k`` records most similar to ``vector``, best first.

        ``where`` keeps only records whose metadata equals every given key's value.
        """
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
        filters = self._check_where(where)

        def query() -> list[VectorHit]:
            info = self._describe(name)
            self._check_dimension(info, len(query_vector), "vector")
            hits = self._query(info, query_vector, top_k, filters)
            return sorted(hits, key=lambda hit: hit.score, reverse=True)

        return self._run(f"query {name!r}", query)

    def get(self, name: str, *, ids: Sequence[str]) -> list[VectorRecord]:
        """The records with these ids, in the order of ``ids``; missing ids are left out
        (and an id given twice is returned once)."""
        self._check_name(name)
        id_list = list(dict.fromkeys(self._check_ids(ids, unique=False)))

        def get() -> list[VectorRecord]:
            found = {record.id: record for record in self._get(self._describe(name), id_list)}
            return [found[record_id] for record_id in id_list if record_id in found]

        return self._run(f"get from {name!r}", get)

    def delete(self, name: str, *, ids: Sequence[str]) -> None:
        """Delete the records with these ids; ids that do not exist are ignored."""
        self._check_name(name)
        id_list = list(dict.fromkeys(self._check_ids(ids, unique=False)))
        self._run(f"delete from {name!r}", lambda: self._delete(self._describe(name), id_list))

    def count(self, name: str) -> int:
        """How many records ``name`` holds."""
        self._check_name(name)
        return self._run(f"count {name!r}", lambda: self._count(self._describe(name)))

    # ------------------------------------------------------------------ backend hooks

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

    def _describe(self, name: str) -> CollectionInfo:
        """Dimension and metric of ``name``, fetched once per client;
        :meth:`not_found` when it does not exist."""
        client = self._client()
        with self._lock:
            if client is not self._infos_client:
                self._infos, self._infos_client = {}, client
            info = self._infos.get(name)
        if info is None:
            info = self._fetch_info(client, name)
            with self._lock:
                if client is self._infos_client:
                    self._infos[name] = info
        return info

    def _forget(self, name: str | None = None) -> None:
        """Drop what :meth:`_describe` keeps of ``name`` (None: of every collection)."""
        with self._lock:
            if name is None:
                self._infos.clear()
            else:
                self._infos.pop(name, None)

    @abstractmethod
    def _client(self) -> Any:
        """The driver's client, from the datasource (connecting again after a close)."""

    @abstractmethod
    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        """Dimension and metric of ``name`` from the backend; :meth:`not_found` when
        it does not exist."""

    @abstractmethod
    def _upsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
    ) -> None: ...

    @abstractmethod
    def _query(
        self,
        info: CollectionInfo,
        vector: list[float],
        top_k: int,
        where: dict[str, Scalar],
    ) -> list[VectorHit]: ...

    @abstractmethod
    def _get(self, info: CollectionInfo, ids: list[str]) -> list[VectorRecord]: ...

    @abstractmethod
    def _delete(self, info: CollectionInfo, ids: list[str]) -> None: ...

    @abstractmethod
    def _count(self, info: CollectionInfo) -> int: ...

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        """Hook: a driver exception as a unifydb error (default: a connection error)."""
        return self._datasource.connection_error(action, error)

    # ------------------------------------------------------------------ helpers for backends

    def _run(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except UnifyDBError:
            raise
        except Exception as error:
            # `from None`: a driver's traceback can carry the URI or token it was given
            raise self._translate(action, error) from None

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
