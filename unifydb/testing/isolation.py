"""Per-test isolation: every session of the test joins one outer transaction
per datasource, rolled back when the test ends.

This is SQLAlchemy's "Joining a Session into an External Transaction" recipe:
the test holds a connection with a transaction and a SAVEPOINT begun; every
ORM session unifydb makes (``db_session``, ``unifydb.session(...)``,
``unifydb.async_session(...)`` in the code under test) gets that connection
as its bind (:meth:`unifydb.orm.RoutingSession.get_bind` asks the registry's
``joined_connection``) and joins it by SAVEPOINT: its ``commit()`` releases
its own savepoint, and nothing reaches the database for good.

Async sessions join a connection of the datasource's async engine, opened on
the test's event loop and rolled back on it as soon as the test function
returns (before the loop is closed).
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

    from unifydb.registry import Registry


class JoinedTransactions:
    """The outer transactions of one test, one per datasource (sync and async apart)."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._sync: dict[str, Connection] = {}
        self._async: dict[str, tuple[Connection, AsyncEngine, asyncio.AbstractEventLoop]] = {}
        self._async_sessions: list[Any] = []

    def connection(self, name: str, *, asynchronous: bool = False) -> Connection:
        """The test's connection to ``name``, in a transaction and a SAVEPOINT
        (opened on first use)."""
        key = name.lower()
        with self._lock:
            if asynchronous:
                found = self._async.get(key)
                if found is None:
                    # called from an AsyncSession's greenlet, on the test's event loop
                    loop = asyncio.get_running_loop()
                    engine = self._registry.get_async_engine(key)
                    found = (_begin(engine.sync_engine.connect()), engine, loop)
                    self._async[key] = found
                return found[0]
            connection = self._sync.get(key)
            if connection is None:
                connection = _begin(self._registry.get_engine(key).connect())
                self._sync[key] = connection
            return connection

    def track_async_session(self, session: Any) -> None:
        """An AsyncSession the fixture made: closed on its loop with the rest."""
        self._async_sessions.append(session)

    def end_async(self) -> None:
        """Roll back the async transactions on their event loops (call between the
        test function's return and the closing of its loop)."""
        with self._lock:
            joined, self._async = self._async, {}
            sessions, self._async_sessions = self._async_sessions, []
        loops: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for connection, engine, loop in joined.values():
            loops.setdefault(loop, []).append((connection, engine))
        for loop, pairs in loops.items():
            if loop.is_closed() or loop.is_running():
                # the loop is gone: the server drops the transaction with the socket
                continue
            loop.run_until_complete(_roll_back_async(pairs, sessions))

    def end(self) -> None:
        """Roll back every transaction of the test and return the connections."""
        self.end_async()
        with self._lock:
            joined, self._sync = self._sync, {}
        for connection in joined.values():
            try:
                connection.rollback()
            finally:
                connection.close()


def _begin(connection: Connection) -> Connection:
    connection.begin()
    # sessions in the default join mode ("conservative_savepoint") join a
    # connection that is inside a SAVEPOINT by SAVEPOINT of their own
    connection.begin_nested()
    return connection


async def _roll_back_async(
    pairs: list[tuple[Connection, AsyncEngine]], sessions: list[Any]
) -> None:
    from sqlalchemy.ext.asyncio import AsyncConnection

    for session in sessions:
        await session.close()
    for connection, engine in pairs:
        wrapped = AsyncConnection(engine, connection)
        try:
            await wrapped.rollback()
        finally:
            await wrapped.close()
