"""Connecting again: after a transient failure (with backoff), and once after a
rejected login (with the credentials resolved again).

``connect_retries`` transient failures are retried, ``retry_backoff`` seconds
after the first, then twice as long each time, with jitter (half the pause is
random, so restarted replicas do not reconnect in lockstep); every attempt and
pause together stay within the datasource's ``timeout``. A rejected login is
never retried blindly: when the datasource has credentials that can change, it
is retried once after they were resolved again (a password file that changed,
a command's fresh output, a new token); otherwise it fails at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from unifydb.errors import ConfigurationError, DatasourceConnectionError, DatasourceTimeoutError

from .secrets import error_chain

if TYPE_CHECKING:
    from .datasource import Datasource

T = TypeVar("T")
_log = logging.getLogger("unifydb.retry")

#: SQLSTATEs of a rejected login (28000 invalid authorization, 28P01 bad password)
_AUTH_SQLSTATES = frozenset({"28000", "28P01"})
#: MySQL/MariaDB: access denied (1045), user without access (1044 is the database's),
#: plugin refused (1251, 1698); SQL Server: login failed (18456); Oracle: ORA-01017
_AUTH_CODES = frozenset({1045, 1251, 1698, 18456, 1017})
_AUTH_TEXT = re.compile(
    r"password authentication failed|authentication\b[^.;]{0,80}\bfailed|access denied for user|"
    r"login failed for user|ORA-01017|invalid username/password|"
    r"bad credentials|unauthori[sz]ed|\b401\b",
    re.IGNORECASE,
)
#: SQLSTATE classes/codes worth trying again: connection exceptions (08...), the
#: server starting up or shutting down (57P03, 57P01), too many connections (53300)
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
#: MySQL/MariaDB client errors: can't connect (2002, 2003), gone away / lost (2006,
#: 2013), unknown host (2005), too many connections (1040), server shutting down (1053)
_TRANSIENT_CODES = frozenset({2002, 2003, 2005, 2006, 2013, 1040, 1053})
_TRANSIENT_TEXT = re.compile(
    r"connection refused|could not connect|can't connect|cannot connect|"
    r"connection reset|connection aborted|no route to host|network is unreachable|"
    r"is starting up|shutting down|server closed the connection|lost connection|"
    r"timed out|timeout expired|name or service not known|temporary failure in name "
    r"resolution|could not translate host name|nodename nor servname|"
    r"unable to connect|failed to connect|server has gone away|no host available|"
    r"connect call failed|ECONNREFUSED|unavailable",
    re.IGNORECASE,
)
_TRANSIENT_TYPES = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError)


def _codes(error: BaseException) -> tuple[str | None, int | None]:
    """(SQLSTATE, numeric driver code) where the driver exposes them."""
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    code = getattr(error, "errno", None)
    if not isinstance(code, int):
        code = next((arg for arg in getattr(error, "args", ())[:1] if isinstance(arg, int)), None)
    if state is None and getattr(error, "args", None):
        first = error.args[0]
        if isinstance(first, str) and re.fullmatch(r"[0-9A-Z]{5}", first):
            state = first  # pyodbc: (sqlstate, message)
    return (state if isinstance(state, str) else None), code


def is_authentication_failure(error: BaseException) -> bool:
    """Whether a driver error (or one in its chain) is a rejected login."""
    for item in error_chain(error):
        state, code = _codes(item)
        if state in _AUTH_SQLSTATES or code in _AUTH_CODES:
            return True
        if type(item).__name__ in ("AuthenticationFailed", "AuthenticationError"):
            return True
        if _AUTH_TEXT.search(str(item)):
            return True
    return False


def is_transient_failure(error: BaseException) -> bool:
    """Whether a failed connect may work when tried again: nothing answered yet, the
    server is starting, or it has no room right now. A rejected login, a missing
    database or a bad option are not."""
    if isinstance(error, (DatasourceTimeoutError, ConfigurationError)):
        return False
    if is_authentication_failure(error):
        return False
    for item in error_chain(error):
        if isinstance(item, _TRANSIENT_TYPES):
            return True
        state, code = _codes(item)
        if state is not None and state.startswith(_TRANSIENT_SQLSTATES):
            return True
        if code in _TRANSIENT_CODES:
            return True
        if _TRANSIENT_TEXT.search(str(item)):
            return True
    return isinstance(error, DatasourceConnectionError) and isinstance(error.__cause__, OSError)


class Attempts:
    """The state of one connect with retries: what is left of the budget, and
    what the next failure allows."""

    def __init__(self, datasource: Datasource[Any], budget: float | None = None) -> None:
        options = datasource.options
        self.datasource = datasource
        self.deadline = time.monotonic() + (datasource.timeout if budget is None else budget)
        self.retries_left: int = options.connect_retries
        self.pause: float = options.retry_backoff
        self.reauthenticated = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def after_failure(self, error: BaseException) -> float | None:
        """Seconds to wait before trying again, or None: give up (raise ``error``)."""
        datasource = self.datasource
        if isinstance(error, DatasourceTimeoutError):
            return None  # the budget is spent
        if datasource.is_authentication_failure(error):
            if self.reauthenticated or not datasource.refresh_credentials():
                return None
            self.reauthenticated = True
            _log.debug("%s: login rejected; retrying once with fresh credentials", datasource.name)
            return 0.0
        if self.retries_left <= 0 or not datasource.is_transient_failure(error):
            return None
        # "equal jitter": half the pause fixed, half random
        pause = self.pause / 2 + random.uniform(0, self.pause / 2)
        if pause >= self.remaining():
            return None
        self.retries_left -= 1
        self.pause *= 2
        _log.debug(
            "%s: connect failed (%s); retrying in %.2f s (%d retries left)",
            datasource.name,
            type(error).__name__,
            pause,
            self.retries_left,
        )
        return pause


def with_retries(datasource: Datasource[Any], attempt: Callable[[float], T]) -> T:
    """``attempt(seconds left)`` until it succeeds or :class:`Attempts` gives up."""
    attempts = Attempts(datasource)
    while True:
        try:
            return attempt(max(attempts.remaining(), 0.001))
        except Exception as error:
            pause = attempts.after_failure(error)
            if pause is None:
                raise
        if pause:
            time.sleep(pause)


async def with_retries_async(
    datasource: Datasource[Any], attempt: Callable[[float], Awaitable[T]]
) -> T:
    """:func:`with_retries` for a coroutine; credentials are resolved in a thread."""
    attempts = Attempts(datasource)
    while True:
        try:
            return await attempt(max(attempts.remaining(), 0.001))
        except Exception as error:
            pause = await asyncio.to_thread(attempts.after_failure, error)
            if pause is None:
                raise
        if pause:
            await asyncio.sleep(pause)
