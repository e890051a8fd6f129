"""Where a rotating secret's value comes from.

A secret that can change while the process runs is a
:class:`~unifydb.options.RotatingSecret` whose source is one of these:

* :class:`~unifydb.base.secret_files.FileSource` (``password_file`` and every
  other ``<secret>_file``): re-read only when the file's modification time,
  size or inode changed;
* :class:`CommandSource` (``password_command``): the command's output, reused
  for ``credential_ttl`` seconds, the run bounded by ``timeout``;
* :class:`TokenSource` (``auth``): a token provider's token, renewed before it
  expires (:mod:`unifydb.base.tokens`);
* :class:`ReferenceSource` (a ``${secret:...}`` value of a secret key): the
  secret manager's value, reused for ``credential_ttl`` seconds.

Each keeps its value until it must resolve again, so a pooled checkout
resolves nothing, and a new connection costs at most a ``stat()``. Concurrent
connects that find the value stale resolve it once, not once each.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from unifydb.errors import ConfigurationError, DatasourceTimeoutError, UnifyDBError
from unifydb.options import NUL_MESSAGE
from unifydb.redaction import mask_credentials

_log = logging.getLogger("unifydb.credentials")
#: values remembered per source for scrubbing messages (old ones may still be quoted)
_REMEMBERED = 8


class CachedSource:
    """What every source shares: the cached value, single-flight resolution, and
    the values seen so far (for scrubbing)."""

    #: the settings key a failure names
    key: str = "password"

    def __init__(self, datasource: str) -> None:
        self.datasource = datasource
        self._value: str | None = None
        self._valid_until = 0.0
        self._generation = 0
        self._lock = threading.Lock()
        self._seen: deque[str] = deque(maxlen=_REMEMBERED)
        #: how many times the value was resolved (read, run, fetched)
        self.resolutions = 0

    # ------------------------------------------------------------------ what sources provide

    def _resolve(self, force: bool) -> tuple[str, float]:
        """(the value, monotonic time until which it may be reused); ``force``: no
        cache of the source's own may answer."""
        raise NotImplementedError

    def _changed(self) -> bool:
        """Hook: whether the underlying value may have changed although still valid."""
        return False

    # ------------------------------------------------------------------ the shared cache

    def stale(self) -> bool:
        return self._value is None or time.monotonic() >= self._valid_until or self._changed()

    def current(self) -> str:
        value = self._value
        if value is not None and not self.stale():
            return value
        return self._resolve_once(self._generation)

    def refresh(self) -> str:
        return self._resolve_once(self._generation, force=True)

    def known(self) -> list[str]:
        return list(self._seen)

    def configure(self, *, datasource: str, timeout: float, ttl: float) -> None:
        """Hook: the datasource's name, ``timeout`` and ``credential_ttl``."""
        self.datasource = datasource

    def _resolve_once(self, generation: int, *, force: bool = False) -> str:
        with self._lock:
            if self._generation != generation and self._value is not None:
                return self._value  # another thread resolved it while this one waited
            if not force and self._value is not None and not self.stale():
                return self._value
            value, valid_until = self._resolve(force)
            self.resolutions += 1
            if value not in self._seen:
                self._seen.append(value)
            if value != self._value:
                _log.debug("%s: %s resolved to a new value", self.datasource, self.key)
            self._value, self._valid_until = value, valid_until
            self._generation += 1
            return value

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class CommandSource(CachedSource):
    """``password_command``: its standard output, reused for ``credential_ttl``.

    Its error output is never shown (a failing secret helper may print the
    secret, or part of it, there); a failure names the exit status only.
    """

    key = "password_command"

    def __init__(self, argv: list[str], *, datasource: str, timeout: float, ttl: float) -> None:
        super().__init__(datasource)
        self.argv = list(argv)
        self.timeout = timeout
        self.ttl = ttl

    def configure(self, *, datasource: str, timeout: float, ttl: float) -> None:
        super().configure(datasource=datasource, timeout=timeout, ttl=ttl)
        self.timeout, self.ttl = timeout, ttl

    def _resolve(self, force: bool) -> tuple[str, float]:
        # the program's name only, credentials masked: a value pasted into the wrong key
        program = mask_credentials(os.path.basename(self.argv[0])) if self.argv else ""
        problem: UnifyDBError | None = None
        try:
            result = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            problem = DatasourceTimeoutError(
                f"password_command {program!r} did not finish within {self.timeout:g} s",
                datasource=self.datasource,
                key=self.key,
                fix="make the command answer faster, or raise this datasource's 'timeout'",
            )
        except OSError as error:
            problem = self._error(f"password_command {program!r} could not run: {error.strerror}")
        if problem is not None:
            raise problem
        if result.returncode != 0:
            raise self._error(
                f"password_command {program!r} exited with status {result.returncode} (its "
                "error output is not shown: it may hold the secret)"
            )
        try:
            text = result.stdout.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        value = _one_secret(text)
        if value is None:
            raise self._error(f"password_command {program!r} printed no usable password")
        if "\x00" in value:
            raise self._error(f"the output of password_command {program!r} {NUL_MESSAGE}")
        return value, time.monotonic() + self.ttl

    def _error(self, message: str) -> ConfigurationError:
        return ConfigurationError(
            message,
            datasource=self.datasource,
            key=self.key,
            fix="run the command yourself: it must exit 0 and print only the password "
            "(a trailing newline is fine)",
        )


class ReferenceSource(CachedSource):
    """A secret key's ``${secret:...}`` value, fetched again after ``credential_ttl``."""

    def __init__(
        self,
        render: Callable[[float, float, bool], str],
        *,
        datasource: str,
        key: str,
        timeout: float,
        ttl: float,
    ) -> None:
        super().__init__(datasource)
        self.render = render
        self.key = key
        self.timeout = timeout
        self.ttl = ttl

    def configure(self, *, datasource: str, timeout: float, ttl: float) -> None:
        super().configure(datasource=datasource, timeout=timeout, ttl=ttl)
        self.timeout, self.ttl = timeout, ttl

    def _resolve(self, force: bool) -> tuple[str, float]:
        return self.render(self.timeout, self.ttl, force), time.monotonic() + self.ttl


def _one_secret(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.removeprefix("\ufeff")
    text = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    return text or None
