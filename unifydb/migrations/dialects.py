"""Alembic and the dialects that register no implementation with it: DuckDB, Athena.

Alembic finds the implementation of a dialect by its name; duckdb_engine and
PyAthena register none, so Alembic would stop at a bare ``KeyError``. Importing
this module registers them (Alembic does so when a subclass is defined).

* DuckDB speaks PostgreSQL's DDL (duckdb_engine's dialect is PostgreSQL's),
  with transactional DDL, so Alembic works on it, within what DuckDB's DDL has
  (no identity or SERIAL columns: use a Sequence; no ON DELETE CASCADE; no
  ALTER of a table another table references).
* Athena cannot hold Alembic's version table: its tables live in S3 (each
  needs a location), and a Hive table cannot be UPDATEd, which is how Alembic
  records a revision; it has no transactions, keys or indexes either. Its impl
  refuses to start, saying so, before anything is written or generated.
"""

from __future__ import annotations

from typing import Any

from alembic.ddl.impl import DefaultImpl
from alembic.ddl.postgresql import PostgresqlImpl

from unifydb.errors import UnsupportedOperationError


class DuckDBImpl(PostgresqlImpl):
    __dialect__ = "duckdb"
    transactional_ddl = True


class AthenaImpl(DefaultImpl):
    __dialect__ = "awsathena"
    transactional_ddl = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UnsupportedOperationError(
            "Alembic cannot migrate Athena: its version table would need an S3 location "
            "and UPDATE (which Hive tables lack), and Athena has no transactions, keys or "
            "indexes",
            key="type",
            fix="create Athena tables with their S3 location in your own DDL (SQLAlchemy's "
            "CreateTable compiles for Athena: pass awsathena_location='s3://...' to the Table)",
        )
