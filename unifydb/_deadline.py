"""A deadline of our own around calls that may block in a driver.

Drivers' own timeouts are not enough: against a listener that accepts and never
answers, oracledb with ``tcp_connect_timeout=5`` and pyodbc/FreeTDS with a 5 s
login timeout were both still blocked after minutes. A blocked C call cannot be
interrupted from Python, so the call runs in a daemon thread and the caller
stops waiting when the deadline passes. ``interrupt`` (for example shutting
down the socket underneath) lets the abandoned thread finish early, and
``discard`` cleans up a result that arrives after the caller gave up, so a late
connection is closed rather than leaked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import ConfigurationError, DatasourceTimeoutError

T = TypeVar("T")

#: seconds a datasource has to connect and answer a health check, unless it says otherwise
DEFAULT_TIMEOUT = 10.0
#: the longest timeout anything accepts: an hour is already far beyond any check
MAX_TIMEOUT = 3600.0


def checked_timeout(value: float | None, *, datasource: str | None = None) -> float | None:
    """A timeout given to a call: None stays None, a finite positive number is
    capped at :data:`MAX_TIMEOUT`; anything else is a :class:`ConfigurationError`."""
    import math

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"timeout must be a number of seconds, not {type(value).__name__}",
            datasource=datasource,
            key="timeout",
            fix="pass e.g. timeout=5",
        )
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"timeout must be a positive, finite number of seconds, not {value!r}",
            datasource=datasource,
            key="timeout",
            fix="pass e.g. timeout=5",
        )
    return min(float(value), MAX_TIMEOUT)


def call_with_deadline(
    fn: Callable[[], T],
    timeout: float | None,
    *,
    datasource: str,
    action: str,
    interrupt: Callable[[threading.Thread], Any] | None = None,
    discard: Callable[[T], Any] | None = None,
) -> T:
    """Return ``fn()``, or raise :class:`DatasourceTimeoutError` after ``timeout`` seconds.

    ``interrupt(worker_thread)`` is called once the caller has given up.
    """
    if timeout is None:
        return fn()
    outcome: list[Any] = []
    finished = threading.Event()
    guard = threading.Lock()
    abandoned = False

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as error:  # re-raised in the caller's thread
            outcome.append((False, error))
        with guard:
            late = abandoned
            finished.set()
        if late and discard is not None and outcome[0][0]:
            _quietly(discard, outcome[0][1])

    worker = threading.Thread(target=run, name=f"unifydb:{datasource}:{action}", daemon=True)
    worker.start()
    if not finished.wait(timeout):
        with guard:
            if not finished.is_set():
                abandoned = True
        if abandoned:
            if interrupt is not None:
                _quietly(interrupt, worker)
            raise DatasourceTimeoutError(
                f"{action} did not finish within {timeout:g} s",
                datasource=datasource,
                key="timeout",
                fix="check that the server is reachable and answering, "
                "or raise this datasource's 'timeout' setting",
            )
    succeeded, value = outcome[0]
    if succeeded:
        return value  # type: ignore[no-any-return]
    raise value


def _quietly(callback: Callable[..., Any], *args: Any) -> None:
    # cleanup of something already abandoned: its own failure must not mask the timeout
    try:
        callback(*args)
    except Exception as error:
        logging.getLogger("unifydb").debug("cleanup after a timeout failed: %r", error)
