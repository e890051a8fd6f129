"""The adapter protocol for NoSQL, vector, search and key-value datasources."""

from __future__ import annotations

import contextlib
import threading
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unifydb._deadline import call_with_deadline
from unifydb.errors import DatasourceConnectionError, UnifyDBError, UnsupportedOperationError
from unifydb.options import OptionsT

from .datasource import Datasource, probe_limit

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

    def get_client(self) -> Any:
        """The native client, built on first call (connecting, bounded by ``timeout``)."""
        client = self._client
        if client is not None and not self._retired:
            return client
        with self._lock:
            if self._retired:
                raise self.removed_error()
            if self._client is None:
                self.initialize()
                with store_lock(self.in_process_store()):
                    self._client = self.timed_connect(
                        lambda: self.guarded("connect", self._connect, discard=self._close_client)
                    )
            return self._client

    def guarded(self, action: str, fn: Any, *, discard: Any = None) -> Any:
        """Run ``fn`` under the deadline; driver errors become scrubbed unifydb errors."""
        failure: DatasourceConnectionError | None = None
        limit = getattr(probe_limit, "seconds", None)
        timeout = self.timeout if limit is None else min(self.timeout, limit)
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
