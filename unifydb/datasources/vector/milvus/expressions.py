"""Milvus filter expressions and upsert batches: keys and values are quoted, never
pasted in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from unifydb.vectorstore import And, Condition, Filter, Scalar

#: rows and approximate bytes per upsert request (gRPC messages are capped at 64 MB)
BATCH_ROWS = 1000
_BATCH_BYTES = 16 * 1024 * 1024
#: control characters a Milvus string literal cannot hold (\t \n \r are escaped)
UNQUOTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def row_batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        row_size = (
            4 * len(row["vector"])
            + len(row["id"])
            + len(row["document"] or "") * 4
            + sum(len(str(key)) + len(str(value)) + 8 for key, value in row["metadata"].items())
        )
        if batch and (len(batch) >= BATCH_ROWS or size + row_size > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def milvus_filter(tree: Filter | None, literal: Callable[[Scalar, str], str]) -> str:
    """The Milvus boolean expression for ``tree`` over the ``metadata`` JSON field.

    ``literal`` quotes every key and value (never pasted in raw). ``$in`` becomes
    a chain of ``==`` (Milvus's ``in`` takes no JSON path on its left), and
    ``$ne``/``$nin`` also match records without the key, as unifydb's filters do.
    """
    if tree is None:
        return ""
    if isinstance(tree, Condition):
        field = f"metadata[{literal(tree.key, 'where key')}]"
        values = [literal(value, "where") for value in tree.values]
        if tree.op in ("$eq", "$in"):
            return _joined([f"{field} == {value}" for value in values], "or")
        if tree.op in ("$ne", "$nin"):
            unequal = _joined([f"{field} != {value}" for value in values], "and")
            return f"(not exists {field} or {unequal})"
        return f"{field} {_COMPARISONS[tree.op]} {values[0]}"
    word = "and" if isinstance(tree, And) else "or"
    return _joined([milvus_filter(item, literal) for item in tree.items], word)


_COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _joined(parts: list[str], word: str) -> str:
    return parts[0] if len(parts) == 1 else "(" + f" {word} ".join(parts) + ")"
