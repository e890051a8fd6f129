"""Alembic on any configured SQL datasource.

In an Alembic ``env.py`` written for unifydb, two lines are enough::

    from unifydb.migrations import run_migrations
    run_migrations(target_metadata=Base.metadata)

and ``unifydb migrate --directory DIR --datasource NAME upgrade head`` runs any
project's ``env.py`` unchanged (see :mod:`.runner`).

* ``env.py``: :func:`run_migrations`, offline SQL for any dialect;
* ``runner.py``: :func:`migrate` (foreign env.py files, per-revision
  transactions where DDL commits, several targets with one report);
* ``locks.py``: one migration at a time per database;
* ``state.py``: :func:`status` and :func:`drift`.
"""

from .env import (
    DATASOURCE_ENV_VAR,
    assume_server_version,
    commits_ddl,
    datasource_name,
    offline_url,
    run_migrations,
)
from .runner import DEFAULT_LOCK_TIMEOUT, TargetResult, find_directory, migrate, sql_datasources
from .state import Status, drift, load_metadata, metadata_spec, status

__all__ = [
    "DATASOURCE_ENV_VAR",
    "DEFAULT_LOCK_TIMEOUT",
    "Status",
    "TargetResult",
    "assume_server_version",
    "commits_ddl",
    "datasource_name",
    "drift",
    "find_directory",
    "load_metadata",
    "metadata_spec",
    "migrate",
    "offline_url",
    "run_migrations",
    "sql_datasources",
    "status",
]
