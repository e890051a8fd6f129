"""The filter tree (:mod:`unifydb.vectorstore.filters`) as a Qdrant ``Filter``.

Metadata lives in the payload under ``metadata``, so key ``k`` is the path
``metadata."k"`` (quoted: a key may hold dots or brackets). Qdrant matches
strings, integers and booleans exactly and numbers through ranges, so a number
is compared with ``Range`` (1 then equals 1.0, as on the other backends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unifydb.vectorstore import And, Condition, Filter, Scalar

#: characters a quoted Qdrant payload key cannot hold
UNQUOTABLE_KEY_CHARACTERS = ('"', "\\")


def key_path(key: str) -> str:
    return f'metadata."{key}"'


def qdrant_filter(tree: Filter | None, bad_key: Callable[[str], Exception]) -> Any:
    """``models.Filter`` for ``tree`` (None for no filter); ``bad_key(key)`` is raised
    for a key Qdrant's key syntax cannot address."""
    from qdrant_client import models

    if tree is None:
        return None
    if isinstance(tree, Condition):
        return _condition(models, tree, bad_key)
    parts = [qdrant_filter(item, bad_key) for item in tree.items]
    return models.Filter(must=parts) if isinstance(tree, And) else models.Filter(should=parts)


def _condition(models: Any, condition: Condition, bad_key: Callable[[str], Exception]) -> Any:
    if any(char in condition.key for char in UNQUOTABLE_KEY_CHARACTERS):
        raise bad_key(condition.key)
    path = key_path(condition.key)
    op = condition.op
    if op in ("$gt", "$gte", "$lt", "$lte"):
        bounds = {op[1:]: condition.value}
        return models.Filter(must=[models.FieldCondition(key=path, range=models.Range(**bounds))])
    matches = _any_of(models, path, condition.values)
    if op in ("$eq", "$in"):
        return models.Filter(must=[matches])
    # $ne / $nin: must_not also keeps the records without the key
    return models.Filter(must_not=[matches])


def _any_of(models: Any, path: str, values: tuple[Scalar, ...]) -> Any:
    """A condition true when the value at ``path`` is one of ``values``."""
    if isinstance(values[0], str):
        if len(values) == 1:
            return models.FieldCondition(key=path, match=models.MatchValue(value=values[0]))
        return models.FieldCondition(key=path, match=models.MatchAny(any=list(values)))
    options = [_one(models, path, value) for value in values]
    return options[0] if len(options) == 1 else models.Filter(should=options)


def _one(models: Any, path: str, value: Scalar) -> Any:
    if isinstance(value, bool):
        return models.FieldCondition(key=path, match=models.MatchValue(value=value))
    return models.FieldCondition(key=path, range=models.Range(gte=value, lte=value))
