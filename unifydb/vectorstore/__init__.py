"""A small vector API that works the same on every vector datasource.

``datasource.vectors()`` (or ``unifydb.vectors(name)``) returns the
datasource's :class:`VectorStore`; see :mod:`unifydb.vectorstore.store`.
``unifydb.async_vectors(name)`` is its asyncio twin (:mod:`unifydb.vectorstore.aio`),
and :mod:`unifydb.vectorstore.filters` the filter language of ``where=``.
Importing this package imports no driver.
"""

from .aio import AsyncVectorStore
from .filters import ALL_OPERATORS, And, Condition, Filter, Or, parse_filter
from .store import VectorStore
from .types import (
    METRICS,
    CollectionExistsError,
    CollectionInfo,
    CollectionNotFoundError,
    Metric,
    Scalar,
    UnsupportedFilterError,
    VectorHit,
    VectorInputError,
    VectorRecord,
    Vectors,
    batched,
)

__all__ = [
    "ALL_OPERATORS",
    "METRICS",
    "And",
    "AsyncVectorStore",
    "CollectionExistsError",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Condition",
    "Filter",
    "Metric",
    "Or",
    "Scalar",
    "UnsupportedFilterError",
    "VectorHit",
    "VectorInputError",
    "VectorRecord",
    "VectorStore",
    "Vectors",
    "batched",
    "parse_filter",
]
