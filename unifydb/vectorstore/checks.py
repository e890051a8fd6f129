"""The checks every vector backend needs, so a user mistake is the same clear
error everywhere and never a driver's KeyError or TypeError."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from unifydb.errors import UnsupportedOperationError

from .filters import Filter, FilterSyntaxError, check_supported, parse_filter, plain_scalar
from .types import CollectionInfo, Scalar, UnsupportedFilterError, VectorInputError, Vectors

if TYPE_CHECKING:
    from unifydb.base import Datasource


class InputChecks:
    """Validation of the arguments of vector operations (mixed into VectorStore)."""

    #: collection names the backend accepts, and how to say so in an error
    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_]{1,255}$")
    name_rule: ClassVar[str] = "1-255 letters, digits or underscores"
    #: the ``where`` operators the backend can express (see :mod:`.filters`)
    filter_operators: ClassVar[frozenset[str]] = frozenset(
        ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$and", "$or")
    )
    #: whether the backend's filters take True for 1 and False for 0 (Milvus does)
    booleans_match_numbers: ClassVar[bool] = False
    #: whether count() takes a where (Pinecone counts whole namespaces only)
    counts_with_filter: ClassVar[bool] = True
    #: whether records can be kept apart in namespaces (partitions) of one collection
    supports_namespaces: ClassVar[bool] = False
    #: what the backend calls its namespaces, and why it has none (for errors)
    namespace_word: ClassVar[str] = "namespace"
    no_namespace_reason: ClassVar[str] = ""
    _datasource: Datasource[Any]

    def input_error(self, message: str, *, fix: str | None = None) -> VectorInputError:
        return VectorInputError(message, datasource=self._datasource.name, fix=fix)

    def _check_name(self, name: object) -> None:
        if not isinstance(name, str) or not self.name_pattern.fullmatch(name):
            raise self.input_error(
                f"{name!r} is not a valid {self._datasource.type_name} collection name",
                fix=f"use {self.name_rule}",
            )

    def _check_ids(self, ids: object, *, unique: bool) -> list[str]:
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise self.input_error(
                f"ids must be a list of strings, not {type(ids).__name__}",
                fix='pass ids=["a", "b"] (a single id goes in a list too)',
            )
        if not ids:
            raise self.input_error("ids is empty", fix="pass at least one id")
        id_list = list(ids)
        for index, record_id in enumerate(id_list):
            if not isinstance(record_id, str) or not record_id:
                raise self.input_error(
                    f"ids[{index}] must be a non-empty string, not {record_id!r}",
                    fix="convert ids to strings, e.g. str(n)",
                )
        if unique and len(set(id_list)) != len(id_list):
            duplicates = sorted({i for i in id_list if id_list.count(i) > 1})[:3]
            raise self.input_error(
                f"ids contain duplicates: {', '.join(map(repr, duplicates))}",
                fix="give each record once per call",
            )
        return id_list

    def _check_length(self, values: object, count: int, label: str) -> list[Any]:
        if isinstance(values, (str, bytes, Mapping)) or not _is_sequence(values):
            raise self.input_error(
                f"{label} must be a list with one entry per id, not {type(values).__name__}"
            )
        items = list(cast(Sequence[Any], values))
        if len(items) != count:
            raise self.input_error(
                f"{label} has {len(items)} entries but ids has {count}",
                fix=f"pass one entry of {label} per id",
            )
        return items

    def _check_vectors(self, vectors: object, count: int) -> Vectors:
        rows = self._check_length(vectors, count, "vectors")
        fast = _plain_float_rows(vectors, rows)
        if fast is not None:
            return fast
        checked = [self._check_vector(row, f"vectors[{index}]") for index, row in enumerate(rows)]
        dimension = len(checked[0])
        for index, row in enumerate(checked):
            if len(row) != dimension:
                raise self.input_error(
                    f"vectors[{index}] has {len(row)} values but vectors[0] has {dimension}",
                    fix="give every vector the collection's dimension",
                )
        return checked

    def _check_vector(self, vector: object, label: str) -> list[float]:
        shape = getattr(vector, "shape", None)
        as_matrix = vector.reshape(1, -1) if shape is not None and len(shape) == 1 else None  # type: ignore[attr-defined]
        fast = _plain_float_rows(as_matrix, [vector])
        if fast is not None:
            row = fast[0]
            return row if isinstance(row, list) else row.tolist()
        if isinstance(vector, (str, bytes, Mapping)) or not _is_sequence(vector):
            raise self.input_error(
                f"{label} must be a list of numbers, not {type(vector).__name__}"
            )
        values: list[float] = []
        for value in cast(Sequence[Any], vector):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise self.input_error(
                    f"{label} holds {value!r}, which is not a number",
                    fix="pass floats, e.g. a list or a 1-D numpy array",
                )
            number = float(value)
            if not math.isfinite(number):
                raise self.input_error(f"{label} holds {number}, which is not finite")
            values.append(number)
        if not values:
            raise self.input_error(f"{label} is empty")
        return values

    def _check_dimension(self, info: CollectionInfo, dimension: int, label: str) -> None:
        if info.dimension is not None and dimension != info.dimension:
            raise self.input_error(
                f"dimension mismatch: {label} of dimension {dimension}, but collection "
                f"{info.name!r} holds vectors of dimension {info.dimension}",
                fix=f"pass vectors of dimension {info.dimension}",
            )

    def _check_metadatas(self, metadatas: object, count: int) -> list[dict[str, Scalar]]:
        if metadatas is None:
            return [{} for _ in range(count)]
        items = self._check_length(metadatas, count, "metadatas")
        return [
            self._check_scalars(item, f"metadatas[{index}]", allow_none=True)
            for index, item in enumerate(items)
        ]

    def _check_where(self, where: object) -> Filter | None:
        try:
            tree = parse_filter(where)
        except FilterSyntaxError as error:
            raise self.input_error(error.message, fix=error.fix) from None
        check_supported(tree, self.filter_operators, self.unsupported_filter)
        return tree

    def unsupported_filter(self, operator: str, context: str = "") -> UnsupportedFilterError:
        """The error for a filter operator this backend cannot express."""
        where = f" in {context}" if context else ""
        return UnsupportedFilterError(
            f"the {self._datasource.type_name} backend cannot express the filter operator "
            f"{operator!r}{where}",
            datasource=self._datasource.name,
            fix="rewrite the filter without it (unifydb never filters on the client side)",
        )

    def _check_namespace(self, namespace: object) -> str | None:
        """The namespace to use (None: the default one); "" means the default too."""
        if namespace is None:
            namespace = self._default_namespace()
        if namespace is None or namespace == "":
            return None
        if not isinstance(namespace, str):
            raise self.input_error(f"namespace must be a string, not {type(namespace).__name__}")
        if not self.supports_namespaces:
            reason = f" ({self.no_namespace_reason})" if self.no_namespace_reason else ""
            raise UnsupportedOperationError(
                f"the {self._datasource.type_name} backend has no namespaces{reason}",
                datasource=self._datasource.name,
                fix="leave namespace out, or use one collection per namespace",
            )
        if len(namespace) > 255 or any(ord(char) < 32 for char in namespace):
            raise self.input_error(
                f"namespace {namespace[:40]!r} is not valid",
                fix="use at most 255 printable characters",
            )
        return namespace

    def _default_namespace(self) -> str | None:
        default = getattr(self._datasource, "default_namespace", None)
        return default if isinstance(default, str) else None

    def _check_scalars(self, data: object, label: str, *, allow_none: bool) -> dict[str, Scalar]:
        if data is None and allow_none:
            return {}
        if not isinstance(data, Mapping):
            raise self.input_error(
                f"{label} must be a mapping of names to values, not {type(data).__name__}"
            )
        checked: dict[str, Scalar] = {}
        for key, value in data.items():
            if not isinstance(key, str) or not key:
                raise self.input_error(
                    f"{label} has the key {key!r}; keys must be non-empty strings"
                )
            if isinstance(value, numbers.Real) and not math.isfinite(float(value)):
                raise self.input_error(f"{label}[{key!r}] is {value}, which is not finite")
            plain = plain_scalar(value)
            if plain is None:
                raise self.input_error(
                    f"{label}[{key!r}] is a {type(value).__name__}; values must be "
                    "str, int, float or bool",
                    fix="store other data as a JSON string, or leave the key out",
                )
            checked[key] = plain
        return checked

    def _check_documents(self, documents: object, count: int) -> list[str | None]:
        if documents is None:
            return [None] * count
        items = self._check_length(documents, count, "documents")
        for index, document in enumerate(items):
            if document is not None and not isinstance(document, str):
                raise self.input_error(
                    f"documents[{index}] must be a string or None, not {type(document).__name__}"
                )
        return items


def _plain_float_rows(given: object, rows: list[Any]) -> Vectors | None:
    """The common, certainly valid cases, checked in C: a 2-D numpy array of
    numbers (returned as a float32 array, the caller's own when it is one), or lists
    holding only floats, all of one length, all finite. None means "check one
    value at a time" (which also words the error).

    Checking 10,000 x 384 values one by one took 2 s; this takes a tenth of that.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - both vector drivers depend on numpy
        return None
    if isinstance(given, np.ndarray):
        if given.ndim != 2 or given.dtype.kind not in "fiu" or not given.shape[1]:
            return None
        # float32 is what both backends store (pymilvus accepts no other array)
        matrix = given.astype(np.float32, copy=False)
    else:
        if not rows or not all(type(row) is list and row for row in rows):
            return None
        if not all(set(map(type, row)) == {float} for row in rows):
            return None
        try:
            matrix = np.array(rows, dtype=np.float64)
        except ValueError:  # rows of different lengths
            return None
        if matrix.ndim != 2:
            return None
    if not np.isfinite(matrix).all():
        return None
    return rows if not isinstance(given, np.ndarray) else matrix


def _is_sequence(value: object) -> bool:
    # numpy arrays are not registered as Sequence but behave like one here
    return isinstance(value, Sequence) or (
        hasattr(value, "__len__") and hasattr(value, "__getitem__") and hasattr(value, "__iter__")
    )
