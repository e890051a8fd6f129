"""The SQL behind the vector API on pgvector: every key and value a bound parameter.

Table names are checked against a strict pattern and quoted as identifiers;
metadata keys, values, ids and vectors are never part of the SQL text. The
filter tree (:mod:`unifydb.vectorstore.filters`) becomes a condition over the
JSONB ``metadata`` column: equality is containment (``metadata @> {"k": v}``,
so numbers compare by value and true is not 1), ``$ne``/``$nin`` are its
negation (records without the key match too), and ranges compare JSON numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from unifydb.vectorstore import And, Condition, Filter, Metric, Scalar

#: pgvector's distance operator and operator class per metric
OPERATORS: dict[Metric, str] = {"cosine": "<=>", "l2": "<->", "ip": "<#>"}
OPCLASSES: dict[Metric, str] = {
    "cosine": "vector_cosine_ops",
    "l2": "vector_l2_ops",
    "ip": "vector_ip_ops",
}
#: the table comment that marks a unifydb vector table and names its metric
COMMENT_PREFIX = "unifydb vectors; metric="
_RANGES = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def vector_literal(vector: Any) -> str:
    """pgvector's text form, ``[1.0,2.5,...]``."""
    values = vector if isinstance(vector, list) else vector.tolist()
    return "[" + ",".join(map(repr, values)) + "]"


def parse_vector(text: str) -> list[float]:
    return [float(x) for x in json.loads(text)]


def score_of(metric: Metric, distance: float) -> float:
    """unifydb's score from pgvector's operator result."""
    if metric == "cosine":
        return 1.0 - distance  # <=> is the cosine distance
    if metric == "ip":
        return -distance + 0.0  # <#> is the negative inner product
    return -(distance * distance) + 0.0  # <-> is the Euclidean distance


class Params:
    """Bound parameters, named p0, p1, ... in the order they are added."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def where_sql(tree: Filter | None, params: Params) -> str:
    """The SQL condition for ``tree`` (``TRUE`` for no filter)."""
    if tree is None:
        return "TRUE"
    if isinstance(tree, Condition):
        return _condition(tree, params)
    word = " AND " if isinstance(tree, And) else " OR "
    return "(" + word.join(where_sql(item, params) for item in tree.items) + ")"


def _condition(condition: Condition, params: Params) -> str:
    if condition.op in _RANGES:
        key = params.add(condition.key)
        bound = params.add(json.dumps(condition.value))
        return (
            f"(jsonb_typeof(metadata -> {key}) = 'number' AND "
            f"metadata -> {key} {_RANGES[condition.op]} CAST({bound} AS jsonb))"
        )
    matches = _any_of(condition.key, condition.values, params)
    return matches if condition.op in ("$eq", "$in") else f"(NOT {matches})"


def _any_of(key: str, values: Sequence[Scalar], params: Params) -> str:
    parts = [
        f"metadata @> CAST({params.add(json.dumps({key: value}))} AS jsonb)" for value in values
    ]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def table_sql(
    table: str,
    dimension: int,
    metric: Metric,
    index: str,
    *,
    index_options: dict[str, int],
    quote: Callable[[str], str],
) -> list[str]:
    """CREATE TABLE, its comment and its indexes (``table`` is quoted already)."""
    statements = [
        f"CREATE TABLE {table} ("
        "namespace text NOT NULL DEFAULT '', "
        "id text NOT NULL, "
        f"embedding vector({int(dimension)}) NOT NULL, "
        "metadata jsonb NOT NULL DEFAULT '{}'::jsonb, "
        "document text, "
        "PRIMARY KEY (namespace, id))",
        f"COMMENT ON TABLE {table} IS '{COMMENT_PREFIX}{metric}'",
        f"CREATE INDEX ON {table} USING gin (metadata jsonb_path_ops)",
    ]
    if index != "none":
        with_clause = ", ".join(
            f"{quote(key)} = {int(value)}" for key, value in index_options.items()
        )
        statements.append(
            f"CREATE INDEX ON {table} USING {index} (embedding {OPCLASSES[metric]})"
            + (f" WITH ({with_clause})" if with_clause else "")
        )
    return statements


INFO_SQL = """
SELECT a.atttypmod, obj_description(c.oid, 'pg_class'),
       (SELECT array_agg(o.opcname::text) FROM pg_index i
          JOIN pg_opclass o ON o.oid = i.indclass[0]
         WHERE i.indrelid = c.oid),
       (SELECT array_agg(attname::text) FROM pg_attribute
         WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding'
  JOIN pg_type t ON t.oid = a.atttypid AND t.typname = 'vector'
 WHERE n.nspname = :schema AND c.relname = :name AND c.relkind IN ('r', 'p')
"""

LIST_SQL = """
SELECT c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'embedding'
  JOIN pg_type t ON t.oid = a.atttypid AND t.typname = 'vector'
 WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')
"""

EXISTS_SQL = """
SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :schema AND c.relname = :name AND c.relkind IN ('r', 'p')
"""
