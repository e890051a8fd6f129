"""Vector datasources: a client datasource that also serves the unified vector API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from unifydb.options import OptionsT

from .client import ClientDatasource


class VectorDatasource(ClientDatasource[OptionsT]):
    """A client datasource with :meth:`vectors`: the backend names its store class."""

    #: the :class:`~unifydb.vectorstore.VectorStore` subclass behind :meth:`vectors`
    store_class: ClassVar[type[Any]]

    def __init__(self, name: str, options: OptionsT | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._vectors: Any = None

    def vector_defaults(self) -> tuple[int | None, str | None]:
        """(dimension, metric) ``vectors().create_collection()`` uses when the caller
        gives none (from settings, e.g. Milvus's ``dim`` and ``metric_type``)."""
        return None, None

    def vectors(self) -> Any:
        """The unified vector API on this datasource (one store per datasource)."""
        store = self._vectors
        if store is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = self.store_class(self)
                store = self._vectors
        return store

    def async_vectors(self) -> Any:
        """The asyncio twin of :meth:`vectors` (see :mod:`unifydb.vectorstore.aio`)."""
        return self.vectors().as_async()
