"""Chroma through chromadb 1.x, in one of three modes.

* ``host`` set: a Chroma server over HTTP(S) (``chromadb.HttpClient``);
  ``path`` is then ignored, so shipped settings can keep a default path and
  switch to a server by setting only the host;
* else ``path`` set: an embedded, persistent Chroma in that folder
  (``chromadb.PersistentClient``; the folder is created if missing);
* neither: in memory (``chromadb.EphemeralClient``). chromadb keeps a single
  in-memory store per process, so every in-memory client in the process,
  unifydb's or not, sees the same collections.

Telemetry is always off, and no embedding function is ever attached: vectors
are given explicitly, so chromadb never downloads its default ONNX model.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from unifydb.base import VectorDatasource
from unifydb.errors import UnifyDBError, UnsupportedOperationError

from ._compat import (
    admin_server,
    bound_async_requests,
    bounded_http_client_class,
    forget_systems,
    http_session,
    systems_of,
)
from .options import SENSITIVE_HEADER, ChromaOptions
from .store import ChromaVectorStore

if TYPE_CHECKING:
    from chromadb.config import Settings

Mode = Literal["http", "persistent", "memory"]


class ChromaDatasource(VectorDatasource[ChromaOptions]):
    """A Chroma database: native client ``chromadb.ClientAPI``, vectors through :meth:`vectors`.

    ``host`` set means a server over HTTP, and then ``path`` is ignored; else
    ``path`` is a persistent folder; neither is in memory (see the module docs).
    """

    type_name = "chroma"
    store_class = ChromaVectorStore

    def __init__(self, name: str, options: ChromaOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._async_client: Any = None

    @property
    def mode(self) -> Mode:
        options = self.options
        if options.host and options.use_local is not True:
            return "http"
        return "persistent" if options.path else "memory"

    def persist_path(self) -> Path | None:
        """The absolute folder of the persistent mode (None in the other modes)."""
        if self.mode != "persistent" or self.options.path is None:
            return None
        # absolute, because chromadb shares one System per path *string*
        return Path(os.path.abspath(os.path.expanduser(self.options.path)))

    def in_process_store(self) -> Path | None:
        return self.persist_path()

    def _target(self) -> str:
        options = self.options
        if self.mode == "http":
            host = f"[{options.host}]" if options.host and ":" in options.host else options.host
            return f"chroma+{'https' if options.ssl else 'http'}://{host}:{options.port}"
        path = self.persist_path()
        if path is not None:
            return f"chroma:///{path.as_posix().lstrip('/')}"
        return "chroma (in-memory)"

    def secrets(self) -> list[str]:
        values = super().secrets()
        values += [
            value
            for name, value in self.options.headers.items()
            if SENSITIVE_HEADER.search(name) and value
        ]
        return values

    # ------------------------------------------------------------------ client

    def _headers(self) -> dict[str, str]:
        options = self.options
        headers = dict(options.headers)
        if options.token is not None and options.token.get_secret_value():
            token = options.token.get_secret_value()
            if options.token_header == "Authorization":
                headers["Authorization"] = f"Bearer {token}"
            else:
                headers["X-Chroma-Token"] = token
        return headers

    def _settings(self) -> Settings:
        from chromadb.config import Settings

        options = self.options
        values: dict[str, Any] = {"anonymized_telemetry": False}
        if self.mode == "http":
            if options.ca_file:
                values["chroma_server_ssl_verify"] = options.ca_file
            elif not options.ssl_verify:
                values["chroma_server_ssl_verify"] = False
        return Settings(**values)

    def _tenant_database(self) -> tuple[str, str]:
        from chromadb.config import DEFAULT_DATABASE, DEFAULT_TENANT

        options = self.options
        return options.tenant or DEFAULT_TENANT, options.database or DEFAULT_DATABASE

    def _connect(self) -> Any:
        import chromadb

        tenant, database = self._tenant_database()
        settings = self._settings()
        if self.mode == "http":
            options = self.options
            assert options.host is not None
            # what chromadb.HttpClient() does, through a client that bounds each request
            settings.chroma_api_impl = "chromadb.api.fastapi.FastAPI"
            settings.chroma_server_host = options.host
            settings.chroma_server_http_port = options.port
            settings.chroma_server_ssl_enabled = options.ssl
            settings.chroma_server_headers = self._headers()
            return bounded_http_client_class()(
                timeout=self.timeout, tenant=tenant, database=database, settings=settings
            )
        path = self.persist_path()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(
                path=str(path), settings=settings, tenant=tenant, database=database
            )
        return chromadb.EphemeralClient(settings=settings, tenant=tenant, database=database)

    def _probe(self, timeout: float) -> str | None:
        client = self.get_client()
        client.heartbeat()
        return str(client.get_version())

    def _close_client(self, client: Any) -> None:
        systems = systems_of(client)
        sessions = [
            session
            for server in (getattr(client, "_server", None), admin_server(client))
            if (session := http_session(server)) is not None
        ]
        try:
            client.close()
        finally:
            # chromadb's System.stop() leaves the HTTP connection pool open
            for session in sessions:
                session.close()
            forget_systems(systems)

    def _close(self) -> None:
        async_client, self._async_client = self._async_client, None
        try:
            super()._close()
        finally:
            if async_client is not None:
                forget_systems(systems_of(async_client), release=True)

    async def get_async_client(self) -> Any:
        """chromadb's ``AsyncClientAPI`` for the server, created once per datasource.

        chromadb's async client has no ``close()`` and registers itself in a
        process-wide table, so one is kept per datasource (it serves any event
        loop) and forgotten on ``close()``. Creating it and every request it
        sends are bounded by ``timeout``.
        """
        if self.mode != "http":
            raise UnsupportedOperationError(
                f"chromadb has an asyncio client only for a Chroma server; this datasource "
                f"is {'a persistent folder' if self.mode == 'persistent' else 'in memory'}",
                datasource=self._name,
                fix="set 'host' (and 'port') to use a Chroma server, or call get_client() "
                "in a thread (asyncio.to_thread)",
            )
        client = self._async_client
        if client is not None:
            return client
        await asyncio.to_thread(self.initialize)  # imports chromadb: not on the event loop
        import chromadb

        options = self.options
        assert options.host is not None
        tenant, database = self._tenant_database()
        try:
            client = await asyncio.wait_for(
                chromadb.AsyncHttpClient(
                    host=options.host,
                    port=options.port,
                    ssl=options.ssl,
                    headers=self._headers(),
                    settings=self._settings(),
                    tenant=tenant,
                    database=database,
                ),
                self.timeout,
            )
        except UnifyDBError:
            raise
        except asyncio.TimeoutError as error:
            raise self.timeout_error("connect (asyncio)", error) from None
        except Exception as error:
            raise self.connection_error("connect (asyncio)", error) from None
        bound_async_requests(client, self.timeout)
        with self._lock:
            if self._async_client is None:
                self._async_client = client
                return client
        forget_systems(systems_of(client), release=True)  # another task was first
        return self._async_client
