"""One metadata filter language for every vector backend.

``where=`` takes a Mongo-style mapping, parsed and checked here once into a
small tree (:class:`Condition`, :class:`And`, :class:`Or`) that each backend
translates into its own filter; no backend ever sees the user's mapping.

* ``{"lang": "en"}`` is equality, like ``{"lang": {"$eq": "en"}}``;
* ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``: ``{"year": {"$gte": 2020}}``;
  the range operators take numbers only;
* ``$in`` / ``$nin`` take a non-empty list of values of one kind (strings,
  numbers or booleans): ``{"lang": {"$in": ["en", "de"]}}``;
* several keys, or several operators on one key, must all hold;
* ``{"$and": [...]}`` and ``{"$or": [...]}`` take a non-empty list of filters.

Values are str, int, float or bool (numbers compare as numbers: 1 equals 1.0;
True is not 1). ``$ne`` and ``$nin`` also match records that lack the key, as in
MongoDB; every other operator needs the key to be there.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

from .types import Scalar

Operator = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"]
OPERATORS: tuple[Operator, ...] = get_args(Operator)
RANGE_OPERATORS: frozenset[str] = frozenset({"$gt", "$gte", "$lt", "$lte"})
LIST_OPERATORS: frozenset[str] = frozenset({"$in", "$nin"})
#: every operator a ``where`` may use, in the order the README lists them
ALL_OPERATORS: tuple[str, ...] = (*OPERATORS, "$and", "$or")


@dataclass(frozen=True)
class Condition:
    """``key <op> value``; for ``$in``/``$nin`` the value is a tuple of values."""

    key: str
    op: Operator
    value: Scalar | tuple[Scalar, ...]

    @property
    def values(self) -> tuple[Scalar, ...]:
        """The value(s) as a tuple (one for the single-value operators)."""
        return self.value if isinstance(self.value, tuple) else (self.value,)


@dataclass(frozen=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Filter, ...]


Filter: TypeAlias = "Condition | And | Or"


class FilterSyntaxError(ValueError):
    """A ``where`` the language does not allow (the store words it for the user)."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def parse_filter(where: object) -> Filter | None:
    """The tree for ``where`` (None for no filter, or an empty mapping);
    :class:`FilterSyntaxError` when it is not valid."""
    if where is None:
        return None
    if not isinstance(where, Mapping):
        raise FilterSyntaxError(
            f"where must be a mapping, not {type(where).__name__}",
            fix='pass e.g. where={"lang": "en"} or where={"year": {"$gte": 2020}}',
        )
    if not where:
        return None
    return _parse_mapping(where, "where")


def _parse_mapping(where: Mapping[object, object], label: str) -> Filter:
    items: list[Filter] = []
    for key, value in where.items():
        if not isinstance(key, str) or not key:
            raise FilterSyntaxError(f"{label} has the key {key!r}; keys must be non-empty strings")
        if key in ("$and", "$or"):
            items.append(_parse_logical(key, value, f"{label}[{key!r}]"))
        elif key.startswith("$"):
            raise FilterSyntaxError(
                f"{label} uses the unknown operator {key!r} at the top level",
                fix="use $and or $or here; comparisons go under a key, e.g. "
                '{"year": {"$gt": 2020}}',
            )
        else:
            items.append(_parse_key(key, value, f"{label}[{key!r}]"))
    return items[0] if len(items) == 1 else And(tuple(items))


def _parse_logical(op: str, value: object, label: str) -> Filter:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
        raise FilterSyntaxError(
            f"{label} must be a non-empty list of filters",
            fix=f'pass e.g. {{"{op}": [{{"lang": "en"}}, {{"year": 2024}}]}}',
        )
    parts: list[Filter] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not item:
            raise FilterSyntaxError(f"{label}[{index}] must be a non-empty mapping")
        parts.append(_parse_mapping(item, f"{label}[{index}]"))
    if len(parts) == 1:
        return parts[0]
    return And(tuple(parts)) if op == "$and" else Or(tuple(parts))


def _parse_key(key: str, value: object, label: str) -> Filter:
    if not isinstance(value, Mapping):
        return Condition(key, "$eq", _scalar(value, label))
    if not value:
        raise FilterSyntaxError(f"{label} is an empty mapping", fix='use e.g. {"$eq": "en"}')
    conditions: list[Filter] = []
    for op, operand in value.items():
        where = f"{label}[{op!r}]"
        if op not in OPERATORS:
            raise FilterSyntaxError(
                f"{label} uses the unknown operator {op!r}",
                fix=f"use one of {', '.join(OPERATORS)}",
            )
        if op in LIST_OPERATORS:
            conditions.append(Condition(key, op, _scalar_list(operand, where)))
        elif op in RANGE_OPERATORS:
            conditions.append(Condition(key, op, _number(operand, where)))
        else:
            conditions.append(Condition(key, op, _scalar(operand, where)))
    return conditions[0] if len(conditions) == 1 else And(tuple(conditions))


def _scalar(value: object, label: str) -> Scalar:
    plain = plain_scalar(value)
    if plain is None:
        raise FilterSyntaxError(
            f"{label} is {value!r}; filter values must be str, int, float or bool",
            fix="compare with one plain value (lists go under $in or $nin)",
        )
    return plain


def _number(value: object, label: str) -> int | float:
    plain = plain_scalar(value)
    if isinstance(plain, bool) or not isinstance(plain, (int, float)):
        raise FilterSyntaxError(
            f"{label} is {value!r}; $gt, $gte, $lt and $lte compare numbers only",
            fix="compare a number, or match strings with $eq / $in",
        )
    return plain


def _scalar_list(value: object, label: str) -> tuple[Scalar, ...]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
        raise FilterSyntaxError(
            f"{label} must be a non-empty list of values", fix='pass e.g. ["en", "de"]'
        )
    values = tuple(_scalar(item, f"{label}[{index}]") for index, item in enumerate(value))
    if len({kind_of(item) for item in values}) > 1:
        raise FilterSyntaxError(
            f"{label} mixes kinds of values ({', '.join(sorted({kind_of(v) for v in values}))})",
            fix="list values of one kind: all strings, all numbers or all booleans",
        )
    return values


def kind_of(value: Scalar) -> str:
    """ "string", "number" or "boolean"."""
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


def plain_scalar(value: object) -> Scalar | None:
    """``value`` as a plain str/int/float/bool (numpy scalars included); None if not one."""
    if isinstance(value, (bool, str)):
        return value
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)  # type: ignore[call-overload]  # numpy's bool is no int
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def conditions(tree: Filter | None) -> Iterator[Condition]:
    """Every condition of ``tree``, depth first."""
    if tree is None:
        return
    if isinstance(tree, Condition):
        yield tree
        return
    for item in tree.items:
        yield from conditions(item)


def check_supported(
    tree: Filter | None,
    supported: frozenset[str],
    fail: Callable[[str], Exception],
) -> None:
    """Raise ``fail(operator)`` for the first operator of ``tree`` not in ``supported``."""
    if tree is None:
        return
    if isinstance(tree, (And, Or)):
        op = "$and" if isinstance(tree, And) else "$or"
        if op not in supported:
            raise fail(op)
        for item in tree.items:
            check_supported(item, supported, fail)
    elif tree.op not in supported:
        raise fail(tree.op)
