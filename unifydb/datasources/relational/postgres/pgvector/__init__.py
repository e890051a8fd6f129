"""pgvector: PostgreSQL with the ``vector`` extension, as a SQL datasource and a vector store."""

from .datasource import PgvectorDatasource
from .options import PgvectorOptions
from .store import PgvectorStore

__all__ = ["PgvectorDatasource", "PgvectorOptions", "PgvectorStore"]
