"""The values of the vector API: hits, records, collection info and errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, get_args

from unifydb.errors import UnifyDBError, UnsupportedOperationError

if TYPE_CHECKING:
    from numpy.typing import NDArray

Metric = Literal["cosine", "l2", "ip"]
METRICS: tuple[Metric, ...] = get_args(Metric)
Scalar = str | int | float | bool
#: validated vectors as the backends get them: float lists, or a 2-D float32
#: array (both clients take arrays; converting one to Python floats and back
#: cost Milvus a fifth of an upsert)
Vectors: TypeAlias = "list[list[float]] | NDArray[Any]"

T = TypeVar("T")


class VectorInputError(UnifyDBError, ValueError):
    """Arguments to a vector operation are invalid (lengths, dimension, types, names)."""


class UnsupportedFilterError(UnsupportedOperationError):
    """The backend cannot express a filter operator (never filtered client-side instead)."""


class CollectionNotFoundError(UnifyDBError, LookupError):
    """The named collection does not exist."""


class CollectionExistsError(VectorInputError):
    """The collection exists already (``exist_ok=False``), or exists with another
    dimension or metric."""


@dataclass(frozen=True)
class VectorHit:
    """One query result. ``score``: higher is more similar (see the module docs)."""

    id: str
    score: float
    metadata: dict[str, Any]
    document: str | None


@dataclass(frozen=True)
class VectorRecord:
    """One stored record, as ``get()`` returns it."""

    id: str
    vector: list[float]
    metadata: dict[str, Any]
    document: str | None


@dataclass(frozen=True)
class CollectionInfo:
    """What a store knows about a collection; ``handle`` is the backend's own object."""

    name: str
    dimension: int | None
    metric: Metric
    handle: Any = None


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``."""
    step = max(1, size)
    for start in range(0, len(items), step):
        yield list(items[start : start + step])
