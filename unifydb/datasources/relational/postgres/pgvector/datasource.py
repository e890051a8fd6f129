"""pgvector: PostgreSQL (``postgresql+psycopg``) whose ``vector`` extension serves the
unified vector API.

``get_engine()`` is the SQLAlchemy engine, as for the postgres type;
``vectors()`` and ``async_vectors()`` work on tables with a ``vector(n)``
column (see :class:`~.store.PgvectorStore`). Behind a transaction pooler
(PgBouncer, Supavisor on 6543, PGlite's socket server), set
``prepared_statements = false``.
"""

from __future__ import annotations

from typing import Any

from unifydb.datasources.relational.postgres.postgres import PostgresFamily

from .options import PgvectorOptions
from .store import PgvectorStore


class PgvectorDatasource(PostgresFamily[PgvectorOptions]):
    type_name = "pgvector"

    def vector_defaults(self) -> tuple[int | None, str | None]:
        return self.options.dimension, self.options.distance

    def vectors(self) -> PgvectorStore:
        """The unified vector API on this database's vector tables (one store)."""
        store = self.__dict__.get("_vectors")
        if store is None:
            with self._lock:
                store = self.__dict__.setdefault("_vectors", PgvectorStore(self))
        return store  # type: ignore[no-any-return]

    def async_vectors(self) -> Any:
        return self.vectors().as_async()
