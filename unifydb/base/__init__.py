"""The datasource base classes.

* :class:`Datasource` (``datasource.py``): settings to typed options, the
  lifecycle (``initialize``, ``health_check``, ``close``), redaction;
* :class:`SQLDatasource` (``sql.py``): a SQLAlchemy engine (built in
  ``sql_engines.py``), with URL handling (``sql_url.py``), connection errors
  (``sql_errors.py``) and read replicas: their settings (``replicas.py``),
  checks and health (``sql_replicas.py``) and which one serves a read
  (``routing.py``);
* :class:`ClientDatasource` (``client.py``): a native client, for NoSQL,
  search and key-value stores;
* :class:`VectorDatasource` (``vector.py``): a client datasource with the
  unified vector API.

Secret files (``secret_files.py``), socket interruption (``sockets.py``) and
masking secrets in drivers' own logs (``driver_logs.py``) have modules of
their own. A backend imports from here, never from another
backend.
"""

from unifydb.catalog import Category, TypeInfo

from .client import ClientDatasource, store_lock
from .datasource import BUILD_LOCK, Datasource
from .driver_logs import scrub_driver_logs
from .secrets import error_chain
from .sockets import shutdown_socket
from .sql import SQLDatasource
from .vector import VectorDatasource

__all__ = [
    "BUILD_LOCK",
    "Category",
    "ClientDatasource",
    "Datasource",
    "SQLDatasource",
    "TypeInfo",
    "VectorDatasource",
    "error_chain",
    "scrub_driver_logs",
    "shutdown_socket",
    "store_lock",
]
