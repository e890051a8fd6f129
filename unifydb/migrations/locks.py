"""One migration at a time per database.

Two deploys running ``unifydb migrate`` on the same database at once would
interleave their revisions; each run takes a lock of the database's own for
its whole length, on a connection of its own:

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``), polled;
* MySQL / MariaDB: ``GET_LOCK`` (server-wide, so the name carries the database);
* SQL Server: ``sp_getapplock`` on the session;
* Oracle: ``DBMS_LOCK`` (the user needs EXECUTE on it);
* SQLite, DuckDB: an exclusive ``flock`` on a file in the temporary folder named
  after the database file's real path;
* Athena: none (it has no locks; see :mod:`.dialects`).

The lock ends with its connection (or file), so a killed run never leaves it
behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifydb.errors import DatasourceTimeoutError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: the lock's name: per database (what one lock guards is the version table)
LOCK_NAME = "unifydb_migrate"
_POLL = 0.25


@contextlib.contextmanager
def migration_lock(engine: Engine, *, datasource: str, timeout: float) -> Iterator[None]:
    """Hold the database's migration lock, waiting up to ``timeout`` seconds for it."""
    dialect = engine.dialect.name
    if dialect in ("sqlite", "duckdb"):
        with _file_lock(engine, datasource=datasource, timeout=timeout):
            yield
        return
    if dialect == "awsathena":
        yield  # Athena has nothing to lock with
        return
    with engine.connect() as plain:
        connection = plain.execution_options(isolation_level="AUTOCOMMIT")
        acquire, release = _statements(dialect, connection)
        deadline = time.monotonic() + timeout
        while not acquire(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise _held(datasource, timeout)
            time.sleep(_POLL)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # the connection's end releases it anyway
                release()


def _statements(dialect: str, connection: Any) -> tuple[Any, Any]:
    from sqlalchemy import text

    database = str(connection.engine.url.database or "")
    if dialect == "postgresql":
        key = zlib.crc32(f"{LOCK_NAME}".encode())

        def acquire(wait: float) -> bool:
            return bool(connection.execute(text(f"SELECT pg_try_advisory_lock({key})")).scalar())

        return acquire, lambda: connection.execute(text(f"SELECT pg_advisory_unlock({key})"))
    if dialect in ("mysql", "mariadb"):
        name = f"{LOCK_NAME}:{database}"[:64]

        def acquire(wait: float) -> bool:
            got = connection.execute(
                text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": int(wait)}
            ).scalar()
            return bool(got == 1)

        return acquire, lambda: connection.execute(
            text("SELECT RELEASE_LOCK(:name)"), {"name": name}
        )
    if dialect == "mssql":

        def acquire(wait: float) -> bool:
            result = connection.execute(
                text(
                    "DECLARE @r int; EXEC @r = sp_getapplock @Resource = :name, "
                    "@LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = :ms; "
                    "SELECT @r"
                ),
                {"name": LOCK_NAME, "ms": int(wait * 1000)},
            ).scalar()
            return result is not None and int(result) >= 0

        return acquire, lambda: connection.execute(
            text("EXEC sp_releaseapplock @Resource = :name, @LockOwner = 'Session'"),
            {"name": LOCK_NAME},
        )
    if dialect == "oracle":
        # python-oracledb's cursor: DBMS_LOCK takes an OUT handle and returns codes
        cursor = connection.connection.dbapi_connection.cursor()
        handle = cursor.var(str)
        cursor.execute(
            "BEGIN DBMS_LOCK.ALLOCATE_UNIQUE(:name, :handle); END;",
            name=LOCK_NAME.upper(),
            handle=handle,
        )
        exclusive = 6

        def acquire(wait: float) -> bool:
            code = cursor.callfunc(
                "DBMS_LOCK.REQUEST", int, [handle.getvalue(), exclusive, int(wait), False]
            )
            return code in (0, 4)  # 0: granted, 4: this session holds it already

        return acquire, lambda: cursor.callfunc("DBMS_LOCK.RELEASE", int, [handle.getvalue()])
    raise NotImplementedError(f"no migration lock for the {dialect} dialect")


def lock_path(database: str) -> Path:
    """The lock file of a database file: in the temporary folder, keyed by the
    database's real path, so nothing is left beside the database and every
    process migrating it meets the same file."""
    key = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"unifydb-migrate-{key}.lock"


@contextlib.contextmanager
def _file_lock(engine: Engine, *, datasource: str, timeout: float) -> Iterator[None]:
    import fcntl

    database = engine.url.database
    if not database or database.startswith(":memory:") or database.startswith("md:"):
        yield  # an in-memory database is this process's alone
        return
    path = lock_path(database)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _held(datasource, timeout) from None
                time.sleep(_POLL)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _held(datasource: str, timeout: float) -> DatasourceTimeoutError:
    return DatasourceTimeoutError(
        f"another migration holds this database's migration lock (waited {timeout:g} s)",
        datasource=datasource,
        key="--lock-timeout",
        fix="wait for the other run to finish, or raise --lock-timeout",
    )
