"""The filter tree (:mod:`unifydb.vectorstore.filters`) as a Pinecone metadata filter.

Pinecone's filter language is MongoDB's subset, so operators map one to one,
except that its ``$in``/``$nin`` take strings and numbers only: lists of
booleans become ``$or`` of ``$eq`` (``$and`` of ``$ne``).
"""

from __future__ import annotations

from typing import Any

from unifydb.vectorstore import And, Condition, Filter


def pinecone_filter(tree: Filter | None) -> dict[str, Any] | None:
    if tree is None:
        return None
    if isinstance(tree, Condition):
        values = tree.values
        if tree.op in ("$in", "$nin") and isinstance(values[0], bool):
            op, join = ("$eq", "$or") if tree.op == "$in" else ("$ne", "$and")
            parts = [{tree.key: {op: value}} for value in values]
            return parts[0] if len(parts) == 1 else {join: parts}
        value: Any = list(values) if isinstance(tree.value, tuple) else tree.value
        return {tree.key: {tree.op: value}}
    op = "$and" if isinstance(tree, And) else "$or"
    return {op: [pinecone_filter(item) for item in tree.items]}
