"""A small vector API that works the same on every vector datasource.

``datasource.vectors()`` (or ``unifydb.vectors(name)``) returns the
datasource's :class:`VectorStore`; see :mod:`unifydb.vectorstore.store`.
Importing this package imports no driver.
"""

from .store import VectorStore
from .types import (
    METRICS,
    CollectionExistsError,
    CollectionInfo,
    CollectionNotFoundError,
    Metric,
    Scalar,
    VectorHit,
    VectorInputError,
    VectorRecord,
    Vectors,
    batched,
)

__all__ = [
    "METRICS",
    "CollectionExistsError",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Metric",
    "Scalar",
    "VectorHit",
    "VectorInputError",
    "VectorRecord",
    "VectorStore",
    "Vectors",
    "batched",
]
