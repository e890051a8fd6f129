"""Apache Cassandra through the DataStax driver: a ``Session`` bound to the keyspace."""

from .datasource import CassandraDatasource
from .options import CONSISTENCY_LEVELS, CassandraOptions

__all__ = ["CONSISTENCY_LEVELS", "CassandraDatasource", "CassandraOptions"]
