"""Closing datasources that were removed or replaced while they may be in use.

A retired datasource refuses new work at once; it is closed by one background
thread as soon as nothing is checked out of it, or when its drain timeout
passes, whichever comes first. One thread serves every registry, and only
while something is draining.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unifydb.base import Datasource

_logger = logging.getLogger("unifydb.registry")

#: seconds between looks at what is still checked out
POLL_INTERVAL = 0.05


class Drainer:
    """Datasources waiting to be closed, and the thread that closes them."""

    def __init__(self) -> None:
        self._pending: dict[int, tuple[Datasource[Any], float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def retire(self, datasource: Datasource[Any], timeout: float) -> None:
        """Refuse new work on ``datasource`` now; close it once idle, or after ``timeout``."""
        datasource.retire()
        if datasource.in_use() is False or timeout <= 0:
            _close(datasource)
            return
        with self._lock:
            self._pending[id(datasource)] = (datasource, time.monotonic() + timeout)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="unifydb-drain", daemon=True)
                self._thread.start()
        self._wake.set()

    def pending(self) -> list[Datasource[Any]]:
        with self._lock:
            return [datasource for datasource, _ in self._pending.values()]

    def close_now(self) -> None:
        """Close everything still draining (``Registry.close_all``)."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for datasource, _ in pending:
            _close(datasource)

    def _run(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                due = [
                    key
                    for key, (datasource, deadline) in self._pending.items()
                    if now >= deadline or datasource.in_use() is False
                ]
                closing = [self._pending.pop(key)[0] for key in due]
                if not self._pending and not closing:
                    self._thread = None
                    return
            for datasource in closing:
                _close(datasource)
            self._wake.wait(POLL_INTERVAL)
            self._wake.clear()


def _close(datasource: Datasource[Any]) -> None:
    try:
        datasource.close()
    except Exception as error:  # the next one must still be closed
        problem = datasource.redact(f"{type(error).__name__}: {error}")
        _logger.warning("closing removed datasource %s failed: %s", datasource.name, problem)
    else:
        _logger.debug("closed removed datasource %s", datasource.name)
