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
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from unifydb.base import Category, ClientDatasource
from unifydb.errors import UnifyDBError, UnsupportedOperationError
from unifydb.options import BaseOptions
from unifydb.vectorstore import (
    CollectionInfo,
    CollectionNotFoundError,
    Metric,
    Scalar,
    VectorHit,
    VectorInputError,
    VectorRecord,
    Vectors,
    VectorStore,
    batched,
)

if TYPE_CHECKING:
    from chromadb.config import Settings

Mode = Literal["http", "persistent", "memory"]
TokenHeader = Literal["Authorization", "X-Chroma-Token"]

#: header names whose values are credentials: hidden in describe() and error messages
_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|password|cookie", re.IGNORECASE)
#: collection metadata key holding the dimension given to create_collection
_DIMENSION_KEY = "unifydb:dimension"
#: chroma's own default space when a collection names none
_DEFAULT_SPACE: Metric = "l2"


class ChromaOptions(BaseOptions):
    path: str | None = Field(
        None,
        description="Folder of an embedded, persistent Chroma; created if missing. "
        "Ignored when host is set.",
    )
    host: str | None = Field(
        None, description="Chroma server host; when set, unifydb talks HTTP and ignores path."
    )
    port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    ssl: bool = Field(False, description="Talk HTTPS to the server.")
    ssl_verify: bool = Field(True, description="Verify the server's TLS certificate.")
    ca_file: str | None = Field(
        None, description="CA bundle to verify the server's TLS certificate with."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent with every request."
    )
    token: SecretStr | None = Field(None, description="Token for a server with token auth.")
    token_header: TokenHeader = Field(
        "Authorization",
        description="'Authorization' sends 'Bearer <token>' (Chroma's default); "
        "'X-Chroma-Token' sends the bare token (Chroma Cloud).",
    )
    tenant: str | None = Field(None, description="Chroma tenant (chromadb's default if unset).")
    database: str | None = Field(None, description="Chroma database (chromadb's default if unset).")

    secret_fields: ClassVar[tuple[str, ...]] = ("token",)

    @field_validator("host", "path")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("token")
    @classmethod
    def _ascii_token(cls, value: SecretStr | None) -> SecretStr | None:
        # HTTP header values are Latin-1 at most; refused here rather than failing
        # (with the value in the error) inside the HTTP client
        if value is not None and not value.get_secret_value().isascii():
            raise ValueError("must be ASCII text (it is sent in an HTTP header)")
        return value

    @field_validator("headers")
    @classmethod
    def _ascii_headers(cls, value: dict[str, str]) -> dict[str, str]:
        if not all(name.isascii() and item.isascii() for name, item in value.items()):
            raise ValueError("header names and values must be ASCII text")
        return value

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if self.headers:
            data["headers"] = {
                name: "***" if _SENSITIVE_HEADER.search(name) else value
                for name, value in self.headers.items()
            }
        return data


class ChromaDatasource(ClientDatasource):
    """A Chroma database: native client ``chromadb.ClientAPI``, vectors through :meth:`vectors`.

    ``host`` set means a server over HTTP, and then ``path`` is ignored; else
    ``path`` is a persistent folder; neither is in memory (see the module docs).
    """

    type_name = "chroma"
    category: ClassVar[Category] = "vector"
    options_model: ClassVar[type[BaseOptions]] = ChromaOptions
    extra = "chroma"
    driver_modules = ("chromadb",)

    def __init__(self, name: str, options: BaseOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._vectors: ChromaVectorStore | None = None
        self._async_client: Any = None

    @property
    def chroma_options(self) -> ChromaOptions:
        assert isinstance(self._options, ChromaOptions)
        return self._options

    @property
    def mode(self) -> Mode:
        options = self.chroma_options
        if options.host:
            return "http"
        return "persistent" if options.path else "memory"

    def persist_path(self) -> Path | None:
        """The absolute folder of the persistent mode (None in the other modes)."""
        if self.mode != "persistent" or self.chroma_options.path is None:
            return None
        # absolute, because chromadb shares one System per path *string*
        return Path(os.path.abspath(os.path.expanduser(self.chroma_options.path)))

    def in_process_store(self) -> Path | None:
        return self.persist_path()

    def _target(self) -> str:
        options = self.chroma_options
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
            for name, value in self.chroma_options.headers.items()
            if _SENSITIVE_HEADER.search(name) and value
        ]
        return values

    # ------------------------------------------------------------------ client

    def _headers(self) -> dict[str, str]:
        options = self.chroma_options
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

        options = self.chroma_options
        values: dict[str, Any] = {"anonymized_telemetry": False}
        if self.mode == "http":
            if options.ca_file:
                values["chroma_server_ssl_verify"] = options.ca_file
            elif not options.ssl_verify:
                values["chroma_server_ssl_verify"] = False
        return Settings(**values)

    def _tenant_database(self) -> tuple[str, str]:
        from chromadb.config import DEFAULT_DATABASE, DEFAULT_TENANT

        options = self.chroma_options
        return options.tenant or DEFAULT_TENANT, options.database or DEFAULT_DATABASE

    def _connect(self) -> Any:
        import chromadb

        tenant, database = self._tenant_database()
        settings = self._settings()
        if self.mode == "http":
            options = self.chroma_options
            assert options.host is not None
            # what chromadb.HttpClient() does, through a client that bounds each request
            settings.chroma_api_impl = "chromadb.api.fastapi.FastAPI"
            settings.chroma_server_host = options.host
            settings.chroma_server_http_port = options.port
            settings.chroma_server_ssl_enabled = options.ssl
            settings.chroma_server_headers = self._headers()
            return _bounded_http_client_class()(
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
        systems = _systems_of(client)
        sessions = [
            session
            for server in (getattr(client, "_server", None), _admin_server(client))
            if (session := _http_session(server)) is not None
        ]
        try:
            client.close()
        finally:
            # chromadb's System.stop() leaves the HTTP connection pool open
            for session in sessions:
                session.close()
            _forget_systems(systems)

    def _close(self) -> None:
        async_client, self._async_client = self._async_client, None
        try:
            super()._close()
        finally:
            if async_client is not None:
                _forget_systems(_systems_of(async_client), release=True)

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

        options = self.chroma_options
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
        _bound_async_requests(client, self.timeout)
        with self._lock:
            if self._async_client is None:
                self._async_client = client
                return client
        _forget_systems(_systems_of(client), release=True)  # another task was first
        return self._async_client

    # ------------------------------------------------------------------ vectors

    def vectors(self) -> ChromaVectorStore:
        """The unified vector API on this datasource (one store per datasource)."""
        store = self._vectors
        if store is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = ChromaVectorStore(self)
                store = self._vectors
        return store


class ChromaVectorStore(VectorStore):
    """:class:`~unifydb.vectorstore.VectorStore` on Chroma collections.

    The metric is the collection's HNSW space and the dimension is kept in the
    collection metadata under ``unifydb:dimension``. Chroma reports distances:
    ``cosine`` is ``1 - cos``, ``ip`` is ``1 - a.b`` and ``l2`` is the squared
    Euclidean distance, converted here to unifydb's higher-is-better scores.
    """

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(
        r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$"
    )
    name_rule: ClassVar[str] = (
        "3-512 letters, digits, '.', '_' or '-', starting and ending with a letter or "
        "digit, without '..'"
    )

    @property
    def _chroma(self) -> ChromaDatasource:
        datasource = self.datasource
        assert isinstance(datasource, ChromaDatasource)
        return datasource

    def _client(self) -> Any:
        return self._chroma.get_client()

    def _find(self, name: str) -> Any:
        from chromadb.errors import NotFoundError

        try:
            return self._client().get_collection(name, embedding_function=None)
        except NotFoundError:
            return None

    def _info(self, collection: Any) -> CollectionInfo:
        config = getattr(collection, "configuration_json", None) or {}
        metadata = collection.metadata or {}
        space: Any = None
        for index in ("hnsw", "spann"):
            section = config.get(index)
            if isinstance(section, dict) and section.get("space"):
                space = section["space"]
                break
        space = space or metadata.get("hnsw:space") or _DEFAULT_SPACE
        metric: Metric = space if space in ("cosine", "l2", "ip") else _DEFAULT_SPACE
        dimension = metadata.get(_DIMENSION_KEY)
        if not isinstance(dimension, int) or isinstance(dimension, bool):
            dimension = getattr(collection.get_model(), "dimension", None)
        return CollectionInfo(collection.name, dimension, metric, collection)

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        self._forget(name)
        existing = self._find(name)
        if existing is None:
            try:
                self._client().create_collection(
                    name,
                    configuration={"hnsw": {"space": metric}},
                    metadata={_DIMENSION_KEY: dimension},
                    embedding_function=None,
                )
                return
            except Exception:
                existing = self._find(name)  # another client created it meanwhile
                if existing is None:
                    raise
        self._check_existing(self._info(existing), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        from chromadb.errors import NotFoundError

        self._forget(name)
        try:
            self._client().delete_collection(name)
        except NotFoundError:
            return False
        return True

    def _has_collection(self, name: str) -> bool:
        return self._find(name) is not None

    def _list_collections(self) -> list[str]:
        return [collection.name for collection in self._client().list_collections()]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        collection = self._find(name)
        if collection is None:
            raise self.not_found(name)
        return self._info(collection)

    def _batch_size(self) -> int:
        size = int(self._client().get_max_batch_size())
        return size if size > 0 else 1000

    def _upsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
    ) -> None:
        collection = info.handle
        size = self._batch_size()
        for start in range(0, len(ids), size):
            batch = ids[start : start + size]
            # Chroma's upsert merges into an existing record (old metadata keys and
            # the old document stay); unifydb's replaces it, so stale keys are
            # removed explicitly (a None value deletes a key) and an old document
            # is cleared to "" (which reads back as None).
            old = collection.get(ids=batch, include=["metadatas", "documents"])
            previous = {
                record_id: (meta or {}, doc)
                for record_id, meta, doc in zip(
                    old["ids"], old["metadatas"] or [], old["documents"] or [], strict=False
                )
            }
            batch_metadatas: list[dict[str, Any] | None] = []
            batch_documents: list[str | None] = []
            for offset, record_id in enumerate(batch):
                metadata: dict[str, Any] = dict(metadatas[start + offset])
                document = documents[start + offset]
                if record_id in previous:
                    old_metadata, old_document = previous[record_id]
                    metadata.update({key: None for key in old_metadata if key not in metadata})
                    if document is None and old_document:
                        document = ""
                # Chroma rejects an empty metadata dict; None means "none"
                batch_metadatas.append(metadata or None)
                batch_documents.append(document)
            collection.upsert(
                ids=batch,
                embeddings=vectors[start : start + size],
                metadatas=batch_metadatas,
                documents=batch_documents,
            )

    def _query(
        self, info: CollectionInfo, vector: list[float], top_k: int, where: dict[str, Scalar]
    ) -> list[VectorHit]:
        clause: dict[str, Any] | None = None
        if len(where) == 1:
            clause = dict(where)
        elif where:
            clause = {"$and": [{key: value} for key, value in where.items()]}
        result = info.handle.query(
            query_embeddings=[vector],
            n_results=top_k,
            where=clause,
            include=["metadatas", "documents", "distances"],
        )
        ids = result["ids"][0]
        distances = (result.get("distances") or [[]])[0]
        metadatas = (result.get("metadatas") or [[None] * len(ids)])[0]
        documents = (result.get("documents") or [[None] * len(ids)])[0]
        return [
            VectorHit(
                id=record_id,
                score=_score(info.metric, float(distance)),
                metadata=dict(metadata or {}),
                document=self.plain_document(document),
            )
            for record_id, distance, metadata, document in zip(
                ids, distances, metadatas, documents, strict=True
            )
        ]

    def _get(self, info: CollectionInfo, ids: list[str]) -> list[VectorRecord]:
        records: list[VectorRecord] = []
        for batch in batched(ids, self._batch_size()):
            result = info.handle.get(ids=batch, include=["embeddings", "metadatas", "documents"])
            found = result["ids"]
            embeddings = result.get("embeddings")
            metadatas = result.get("metadatas") or [None] * len(found)
            documents = result.get("documents") or [None] * len(found)
            for index, record_id in enumerate(found):
                vector = [] if embeddings is None else [float(x) for x in embeddings[index]]
                records.append(
                    VectorRecord(
                        id=record_id,
                        vector=vector,
                        metadata=dict(metadatas[index] or {}),
                        document=self.plain_document(documents[index]),
                    )
                )
        return records

    def _delete(self, info: CollectionInfo, ids: list[str]) -> None:
        for batch in batched(ids, self._batch_size()):
            info.handle.delete(ids=batch)

    def _count(self, info: CollectionInfo) -> int:
        return int(info.handle.count())

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        from chromadb.errors import InvalidArgumentError, NotFoundError

        self._forget()  # the collection may have been dropped or recreated elsewhere
        message = self.datasource.redact(f"{action} failed: {error}")
        if isinstance(error, NotFoundError):
            return CollectionNotFoundError(message, datasource=self.datasource.name)
        if isinstance(error, InvalidArgumentError):
            return VectorInputError(message, datasource=self.datasource.name)
        return super()._translate(action, error)


def _score(metric: Metric, distance: float) -> float:
    if metric == "l2":
        return -distance + 0.0  # + 0.0: an exact match scores 0.0, not -0.0
    # cosine: 1 - cosine similarity; ip: 1 - inner product
    return 1.0 - distance


@functools.cache
def _bounded_http_client_class() -> type[Any]:
    """A chromadb ``Client`` whose HTTP requests time out.

    chromadb builds its ``httpx.Client(timeout=None)`` itself and its Settings
    have no timeout, so requests to a server that accepts and never answers
    would wait forever. The constructor already sends requests (user identity,
    then tenant and database through an admin client with a System and session
    of its own), so the timeout is set just before each of those.
    """
    from chromadb.api.client import Client

    class BoundedHttpClient(Client):  # type: ignore[misc]
        def __init__(self, *, timeout: float, **kwargs: Any) -> None:
            self._unifydb_timeout = timeout
            super().__init__(**kwargs)

        def get_user_identity(self) -> Any:
            _bound_session(getattr(self, "_server", None), self._unifydb_timeout)
            return super().get_user_identity()

        def _validate_tenant_database(self, tenant: str, database: str) -> None:
            _bound_session(_admin_server(self), self._unifydb_timeout)
            super()._validate_tenant_database(tenant=tenant, database=database)

        # chromadb's classes refuse overriding methods not marked by the
        # `overrides` package, whose decorator cannot see this class's bases
        for _method in (get_user_identity, _validate_tenant_database):
            setattr(_method, "__override__", True)  # noqa: B010
        del _method

    return BoundedHttpClient


def _admin_server(client: Any) -> Any:
    return getattr(getattr(client, "_admin_client", None), "_server", None)


def _http_session(server: Any) -> Any:
    import httpx

    session = getattr(server, "_session", None)
    return session if isinstance(session, httpx.Client) else None


def _bound_session(server: Any, timeout: float) -> None:
    session = _http_session(server)
    if session is not None:
        session.timeout = timeout  # httpx turns a number into Timeout(connect=read=write=pool)


def _bound_async_requests(client: Any, timeout: float) -> None:
    """Give the httpx.AsyncClient chromadb creates per event loop a timeout."""
    for server in (getattr(client, "_server", None), _admin_server(client)):
        make = getattr(server, "_get_client", None)
        if server is None or make is None:
            continue

        def bounded(make: Any = make) -> Any:
            http = make()
            http.timeout = timeout
            return http

        server._get_client = bounded


def _systems_of(client: Any) -> set[int]:
    """ids of the chromadb Systems a client (and its admin client) uses."""
    from chromadb.api.shared_system_client import SharedSystemClient

    table = getattr(SharedSystemClient, "_identifier_to_system", {})
    systems: set[int] = set()
    for owner in (client, getattr(client, "_admin_client", None)):
        system = table.get(getattr(owner, "_identifier", None))
        if system is not None:
            systems.add(id(system))
    return systems


def _forget_systems(systems: set[int], *, release: bool = False) -> None:
    """Drop chromadb's table entries for these Systems that no client holds any more
    (``release``: drop them even if held, for clients that cannot be closed).

    ``SharedSystemClient`` keeps every System in a class-level table. Closing
    a client stops its System once the reference count reaches zero, but HTTP
    clients also register an extra, uncounted alias (``from_system``), and the
    async client has no ``close()`` at all; without this those Systems, and
    their connection pools, would live as long as the process. The async
    client's Systems are not stopped: stopping one runs chromadb's
    ``async_to_sync`` cleanup, which needs an event loop we do not have here;
    its pooled connections go with the garbage collector.
    """
    if not systems:
        return
    from chromadb.api.shared_system_client import SharedSystemClient

    table = getattr(SharedSystemClient, "_identifier_to_system", None)
    counts = getattr(SharedSystemClient, "_identifier_to_refcount", None)
    lock = getattr(SharedSystemClient, "_refcount_lock", None)
    if not isinstance(table, dict) or not isinstance(counts, dict) or lock is None:
        return
    with lock:
        held = set() if release else {id(table[key]) for key in counts if key in table}
        for key, system in list(table.items()):
            if id(system) in systems and id(system) not in held:
                del table[key]
                counts.pop(key, None)
