"""Pinecone: a hosted vector database; one index per collection."""

from .datasource import PineconeDatasource
from .options import PineconeOptions
from .store import PineconeVectorStore

__all__ = ["PineconeDatasource", "PineconeOptions", "PineconeVectorStore"]
