"""Qdrant: a server over HTTP or gRPC, or qdrant-client's local mode (a folder, or memory)."""

from .datasource import QdrantDatasource
from .options import QdrantOptions
from .store import QdrantVectorStore

__all__ = ["QdrantDatasource", "QdrantOptions", "QdrantVectorStore"]
