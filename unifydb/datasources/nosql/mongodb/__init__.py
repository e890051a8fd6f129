"""MongoDB through pymongo: ``MongoClient`` (and ``AsyncMongoClient`` for asyncio)."""

from .datasource import MongoDBDatasource
from .options import MongoDBOptions

__all__ = ["MongoDBDatasource", "MongoDBOptions"]
