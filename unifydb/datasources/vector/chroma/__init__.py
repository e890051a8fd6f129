"""Chroma: a server over HTTP, an embedded persistent folder, or memory."""

from .datasource import ChromaDatasource
from .options import ChromaOptions
from .store import ChromaVectorStore

__all__ = ["ChromaDatasource", "ChromaOptions", "ChromaVectorStore"]
