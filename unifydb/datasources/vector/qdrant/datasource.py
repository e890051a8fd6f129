"""Qdrant through qdrant-client: a server, or the client's local mode.

The local mode (``path``: a folder, or ``:memory:``) runs inside the process,
in pure Python and numpy: fine for tests, notebooks and small sets. A folder
may be opened by one client at a time, so datasources naming the same folder
in one process share one client (counted, closed with the last of them).
Every server call is bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from pathlib import Path
from typing import Any

from unifydb.base import VectorDatasource

from .options import MEMORY, QdrantOptions
from .store import QdrantVectorStore

#: folder -> [client, users]: qdrant-client's local mode locks its folder
_LOCAL: dict[str, list[Any]] = {}
_LOCAL_LOCK = threading.Lock()


class QdrantDatasource(VectorDatasource[QdrantOptions]):
    """A Qdrant database: native client ``qdrant_client.QdrantClient``, vectors through
    :meth:`vectors`."""

    type_name = "qdrant"
    store_class = QdrantVectorStore

    @property
    def mode(self) -> str:
        """ "server", "local" (a folder) or "memory"."""
        return self.options.mode

    def local_path(self) -> Path | None:
        if self.mode != "local":
            return None
        return Path(os.path.abspath(os.path.expanduser(self.options.path or "")))

    def in_process_store(self) -> Path | None:
        return self.local_path()

    def _target(self) -> str:
        path = self.local_path()
        if path is not None:
            return f"qdrant-local:///{path.as_posix().lstrip('/')}"
        if self.mode == "memory":
            return "qdrant-local://:memory:"
        return self.server_address()

    def server_address(self) -> str:
        options = self.options
        if options.url:
            return options.url
        host = f"[{options.host}]" if options.host and ":" in options.host else options.host
        scheme = "https" if options.https else "http"
        return f"{scheme}://{host}:{options.port}"

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for QdrantClient / AsyncQdrantClient (server mode)."""
        options = self.options
        kwargs: dict[str, Any] = {
            "port": options.port,
            "grpc_port": options.grpc_port,
            "prefer_grpc": options.prefer_grpc,
            # qdrant-client takes whole seconds; never round a short limit down to 0
            "timeout": max(1, math.ceil(self.timeout)),
            # the version check is one more round trip on every new client
            "check_compatibility": False,
        }
        if options.url:
            kwargs["url"] = options.url
        else:
            kwargs["host"] = options.host
        if options.https is not None:
            kwargs["https"] = options.https
        if options.api_key is not None and options.api_key.get_secret_value():
            kwargs["api_key"] = options.api_key.get_secret_value()
        if options.prefix:
            kwargs["prefix"] = options.prefix
        return kwargs

    def _connect(self) -> Any:
        from qdrant_client import QdrantClient

        if self.mode == "memory":
            return QdrantClient(location=MEMORY)
        path = self.local_path()
        if path is None:
            return QdrantClient(**self.client_arguments())
        key = str(path)
        with _LOCAL_LOCK:
            shared = _LOCAL.get(key)
            if shared is None:
                path.mkdir(parents=True, exist_ok=True)
                shared = _LOCAL[key] = [QdrantClient(path=key), 0]
            shared[1] += 1
            return shared[0]

    def _close_client(self, client: Any) -> None:
        path = self.local_path()
        if path is None:
            client.close()
            return
        with _LOCAL_LOCK:
            shared = _LOCAL.get(str(path))
            if shared is None or shared[0] is not client:
                client.close()
                return
            shared[1] -= 1
            if shared[1] <= 0:
                del _LOCAL[str(path)]
                client.close()

    def _probe(self, timeout: float) -> str | None:
        client = self.get_client()
        if self.mode != "server":
            client.get_collections()
            return None
        info = client.info()
        return str(getattr(info, "version", "") or "") or None

    async def get_async_client(self) -> Any:
        """A new ``qdrant_client.AsyncQdrantClient`` for a server; the caller closes it
        (``await client.close()``). The local mode has none here: its folder is
        already open in this datasource's synchronous client."""
        if self.mode != "server":
            return await super().get_async_client()
        await asyncio.to_thread(self.initialize)  # imports qdrant_client: not on the loop
        from qdrant_client import AsyncQdrantClient

        return AsyncQdrantClient(**self.client_arguments())
