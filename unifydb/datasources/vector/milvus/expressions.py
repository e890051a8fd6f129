"""Milvus filter expressions and upsert batches: values are quoted, never pasted in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

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
