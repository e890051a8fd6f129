"""Milvus: a server over gRPC, or Milvus Lite in a local file."""

from .datasource import MilvusDatasource
from .options import MilvusOptions
from .store import MilvusVectorStore

__all__ = ["MilvusDatasource", "MilvusOptions", "MilvusVectorStore"]
