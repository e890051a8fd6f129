"""The adapter protocol for NoSQL, vector, search and key-value datasources."""

from __future__ import annotations

import contextlib
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unifydb._deadline import call_with_deadline
from unifydb.errors import DatasourceConnectionError, UnifyDBError, UnsupportedOperationError
from unifydb.options import OptionsT

from .credentials import rotating_secrets
from .datasource import Datasource, probe_limit

#: seconds a client replaced after a credential change stays open for the
#: operations already running on it
RETIRE_AFTER = 60.0

_store_locks: dict[Path, threading.Lock] = {}
_store_locks_guard = threading.Lock()


def store_lock(store: Path | None) -> threading.Lock | contextlib.nullcontext[None]:
    """One lock per in-process store: chromadb and milvus_lite each keep one
    server per path, and two datasources opening the same path at the same
    moment raced (chromadb: KeyError, Milvus Lite: "Open local milvus failed")."""
    if store is None:
        return contextlib.nullcontext()
    with _store_locks_guard:
        return _store_locks.setdefault(store, threading.Lock())


class ClientDatasource(Datasource[OptionsT]):
    """The parallel path to :class:`~unifydb.base.SQLDatasource`.

    ``initialize()`` validates and checks the driver without connecting;
    ``get_client()`` builds the native client once, bounded by the
    datasource's ``timeout``; ``health_check()`` talks to the server under the
    same deadline; ``close()`` releases the client. A backend implements
    ``_connect`` (build the client), ``_probe`` (one round trip, returns the
    server version) and, where the client needs more than ``.close()``,
    ``_close_client``.
    """

    def __init__(self, name: str, options: OptionsT | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._client: Any = None
        self._rotating = rotating_secrets(self._options)
        #: the rotating secrets' values the client was built with
        self._built_with: tuple[str, ...] = ()

    def get_client(self) -> Any:
        """The native client, built on first call (connecting, bounded by ``timeout``).

        When the datasource's credentials can change (a password file, command,
        token or secret manager) and they did, a new client is built with the
        new ones; the previous client is closed ``RETIRE_AFTER`` seconds later,
        so operations running on it can finish.
        """
        client = self._client
        if (
            client is not None
            and not self._retired
            and not (self._rotating and self._credentials_changed())
        ):
            return client
        with self._lock:
            if self._retired:
                raise self.removed_error()
            if self._client is not None and self._rotating and self._credentials_changed():
                self._close_later(self._client)
                self._client = None
            if self._client is None:
                self.initialize()
                with store_lock(self.in_process_store()):
                    self._client = self.timed_connect(self._connect_with_retries)
            return self._client

    def _connect_with_retries(self) -> Any:
        """``_connect`` under the deadline, retried per ``connect_retries`` (and once
        after a rejected login, with the credentials resolved again)."""
        from .retry import with_retries

        def attempt(seconds: float) -> Any:
            built_with = tuple(secret.get_secret_value() for secret in self._rotating)
            client = self.guarded(
                "connect", self._connect, discard=self._close_client, timeout=seconds
            )
            self._built_with = built_with
            return client

        return with_retries(self, attempt)

    def _credentials_changed(self) -> bool:
        """Whether a rotating secret now resolves to another value than the client's
        (cheap unless one is due: a ``stat()`` of a password file)."""
        return tuple(secret.get_secret_value() for secret in self._rotating) != self._built_with

    def _close_later(self, client: Any) -> None:
        timer = threading.Timer(RETIRE_AFTER, self._close_quietly, (client,))
        timer.daemon = True
        timer.start()

    def _close_quietly(self, client: Any) -> None:
        with contextlib.suppress(Exception):
            self._close_client(client)

    def _probe_within(self, limit: float) -> str | None:
        # a rejected login is tried once more, with fresh credentials and a new client
        started = time.monotonic()
        try:
            return super()._probe_within(limit)
        except Exception as error:
            if not (self.is_authentication_failure(error) and self.refresh_credentials()):
                raise
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._close_quietly(client)
        return super()._probe_within(max(limit - (time.monotonic() - started), 0.001))

    def guarded(
        self, action: str, fn: Any, *, discard: Any = None, timeout: float | None = None
    ) -> Any:
        """Run ``fn`` under the deadline (``timeout``, default the datasource's);
        driver errors become scrubbed unifydb errors."""
        failure: DatasourceConnectionError | None = None
        limit = getattr(probe_limit, "seconds", None)
        timeout = self.timeout if timeout is None else timeout
        timeout = timeout if limit is None else min(timeout, limit)
        try:
            return call_with_deadline(
                fn, timeout, datasource=self._name, action=action, discard=discard
            )
        except UnifyDBError:
            raise
        except Exception as error:
            failure = self.connection_error(action, error)
        # raised outside the except block, so the driver's error (which may quote
        # a secret, e.g. a header value it could not encode) is not kept as context
        raise failure

    @abstractmethod
    def _connect(self) -> Any:
        """Build the native client; may contact the server. Runs under a deadline."""

    def _close_client(self, client: Any) -> None:
        client.close()

    def after_fork(self) -> None:
        # the parent's client owns sockets and driver threads that do not exist
        # (or must not be touched) in the child: forget it, and build anew on use
        self._client = None

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._close_client(client)

    async def get_async_client(self) -> Any:
        """The driver's asyncio client, where it has one."""
        raise UnsupportedOperationError(
            f"the {self.type_name} driver has no asyncio client",
            datasource=self._name,
            fix="use get_client() in a thread (asyncio.to_thread)",
        )
