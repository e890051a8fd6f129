"""The filter tree (:mod:`unifydb.vectorstore.filters`) as a Chroma ``where``."""

from __future__ import annotations

from typing import Any

from unifydb.vectorstore import And, Condition, Filter


def chroma_where(tree: Filter | None) -> dict[str, Any] | None:
    """Chroma's ``where`` for ``tree``: the same operators, one per clause.

    Chroma's ``$ne``/``$nin`` match records without the key, as unifydb's do; its
    ``$in`` lists must hold one type, so a list mixing ints and floats is sent as
    floats (Chroma compares numbers by value either way).
    """
    if tree is None:
        return None
    if isinstance(tree, Condition):
        value: Any = tree.value
        if isinstance(value, tuple):
            numbers = [item for item in value if not isinstance(item, (str, bool))]
            mixed = {type(item) for item in numbers} == {int, float}
            value = [float(item) for item in value] if mixed else list(value)
        return {tree.key: {tree.op: value}}
    op = "$and" if isinstance(tree, And) else "$or"
    return {op: [chroma_where(item) for item in tree.items]}
