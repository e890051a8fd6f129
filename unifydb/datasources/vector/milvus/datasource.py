"""Milvus through pymilvus's ``MilvusClient``: a server, or Milvus Lite in a local file.

``uri`` is ``http(s)://host:port`` for a server (credentials go in ``token``,
or ``user`` and ``password``), or a path ending in ``.db`` for Milvus Lite,
which needs the ``milvus_lite`` package (part of the ``milvus`` extra) and
creates the file's folder if missing.

Every datasource gets a client of its own on a dedicated gRPC channel:
pymilvus 3 no longer registers clients under a process-global connection alias,
but by default it shares one channel between clients with the same address and
token and never closes a shared channel. Every call is bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from unifydb.base import VectorDatasource, error_chain
from unifydb.errors import UnifyDBError

from .lite import acquire_lite, release_lite
from .options import METRICS, MilvusOptions, without_userinfo
from .store import MilvusVectorStore


class MilvusDatasource(VectorDatasource[MilvusOptions]):
    """A Milvus database: native client ``pymilvus.MilvusClient``, vectors through
    :meth:`vectors`."""

    type_name = "milvus"
    store_class = MilvusVectorStore

    def __init__(self, name: str, options: MilvusOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        # not self._lock: _connect runs in a worker thread while get_client() holds that one
        self._lite_lock = threading.Lock()
        self._lite_held: str | None = None

    @property
    def is_lite(self) -> bool:
        return self.options.is_lite

    def lite_path(self) -> Path | None:
        """The absolute Milvus Lite file (None for a server)."""
        if not self.is_lite:
            return None
        # absolute, because milvus_lite keeps one server per path
        return Path(os.path.abspath(os.path.expanduser(self.options.address)))

    def in_process_store(self) -> Path | None:
        return self.lite_path()

    def _target(self) -> str:
        path = self.lite_path()
        if path is not None:
            return f"milvus-lite:///{path.as_posix().lstrip('/')}"
        uri = without_userinfo(self.options.address)
        db_name = self.options.db_name
        return f"milvus+{uri.rstrip('/')}" + (f" (database {db_name})" if db_name else "")

    def secrets(self) -> list[str]:
        values = super().secrets()
        password = urlsplit(self.options.address).password if not self.is_lite else None
        if password:
            values.append(password)
        return values

    def vector_defaults(self) -> tuple[int | None, str | None]:
        options = self.options
        return options.dim, METRICS.get(options.metric_type or "")

    def is_timeout(self, error: BaseException) -> bool:
        return super().is_timeout(error) or _is_timeout(error)

    # ------------------------------------------------------------------ client

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for MilvusClient / AsyncMilvusClient."""
        options = self.options
        path = self.lite_path()
        kwargs: dict[str, Any] = {
            "uri": str(path) if path is not None else options.address,
            "timeout": self.timeout,
            # a channel of our own, closed by close(); shared ones are never closed
            "dedicated": True,
        }
        if options.token is not None and options.token.get_secret_value():
            kwargs["token"] = options.token.get_secret_value()
        if options.user and options.password is not None:
            kwargs["user"] = options.user
            kwargs["password"] = options.password.get_secret_value()
        if options.db_name:
            kwargs["db_name"] = options.db_name
        return kwargs

    def _hold_lite(self) -> None:
        """Count this datasource as a user of its Milvus Lite server (once)."""
        path = self.lite_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lite_lock:
            if self._lite_held is None:
                acquire_lite(str(path))
                self._lite_held = str(path)

    def _connect(self) -> Any:
        from pymilvus import MilvusClient

        self._hold_lite()
        return MilvusClient(**self.client_arguments())

    def _probe(self, timeout: float) -> str | None:
        version = self.get_client().get_server_version(timeout=timeout)
        return str(version) if version else None

    def _close_client(self, client: Any) -> None:
        client.close()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            with self._lite_lock:
                held, self._lite_held = self._lite_held, None
            if held is not None:
                release_lite(held)

    async def get_async_client(self) -> Any:
        """A new ``pymilvus.AsyncMilvusClient`` with the same settings; the caller
        closes it (``await client.close()``).

        It connects on first use, bounded by ``timeout``; pass ``timeout=`` to
        its calls to bound them too. For Milvus Lite it talks to the same local
        server, which stays up until this datasource is closed.
        """
        await asyncio.to_thread(self.initialize)  # imports pymilvus: not on the event loop
        from pymilvus import AsyncMilvusClient

        try:
            if self.is_lite:
                # starting the local server blocks; keep it off the event loop
                await asyncio.to_thread(self._hold_lite)
                return await asyncio.to_thread(AsyncMilvusClient, **self.client_arguments())
            return AsyncMilvusClient(**self.client_arguments())
        except UnifyDBError:
            raise
        except Exception as error:
            raise self.connection_error("create asyncio client", error) from None


def _is_timeout(error: BaseException) -> bool:
    import grpc  # type: ignore[import-untyped]  # (no stubs; pyproject's override list lacks it)

    deadline = grpc.StatusCode.DEADLINE_EXCEEDED
    for item in error_chain(error):
        if isinstance(item, (TimeoutError, grpc.FutureTimeoutError)):
            return True
        # grpc.RpcError has code(); pymilvus's MilvusException keeps the code as an attribute
        code = getattr(item, "code", None)
        if (code() if callable(code) else code) == deadline:
            return True
    return False
