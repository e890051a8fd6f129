"""Unblocking a thread stuck reading from a server that stopped answering.

A blocked C call cannot be interrupted from Python, but shutting its socket
down wakes the read: the driver then sees a disconnect and the pool drops
that connection. Only the socket of a probe or ping that overran its
deadline is shut down; nothing else shares it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def shutdown_socket(fd: int) -> None:
    """shutdown() the socket behind ``fd`` (a duplicate is used, so the owner's fd stays valid)."""
    with socket.socket(fileno=os.dup(fd)) as duplicate:
        duplicate.shutdown(socket.SHUT_RDWR)


class SocketTracker:
    """Which thread is waiting on which connection's socket, for :meth:`interrupt`.

    Recording happens on every pooled checkout (pre-ping), so it is a few dict
    operations: the entry is added without the lock (only this thread writes
    its key) and removed under it, so an interrupt never shuts down a reused
    descriptor.
    """

    def __init__(self, socket_fd: Callable[[Any], int | None]) -> None:
        self._socket_fd = socket_fd
        self._in_use: dict[int, int] = {}
        self._lock = threading.Lock()

    def call(self, dbapi_connection: Any, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` with the connection's socket recorded for :meth:`interrupt`."""
        fd = self._socket_fd(dbapi_connection)
        if fd is None:
            return call(*args)
        ident = threading.get_ident()
        self._in_use[ident] = fd
        try:
            return call(*args)
        finally:
            with self._lock:
                self._in_use.pop(ident, None)

    def interrupt(self, worker: threading.Thread) -> None:
        """Shut down the socket ``worker`` is blocked on, if it is blocked on one."""
        with self._lock:
            fd = self._in_use.pop(worker.ident or -1, None)
            if fd is not None:
                shutdown_socket(fd)


def fileno_of(dbapi_connection: Any) -> int | None:
    """The connection's socket file descriptor, where the driver exposes ``fileno()``."""
    fileno = getattr(dbapi_connection, "fileno", None)
    try:
        return int(fileno()) if fileno is not None else None
    except Exception:  # closed, or a driver that refuses: nothing to interrupt
        return None
