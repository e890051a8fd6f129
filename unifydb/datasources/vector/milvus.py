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
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from unifydb.base import Category, ClientDatasource, error_chain
from unifydb.errors import UnifyDBError
from unifydb.options import BaseOptions
from unifydb.vectorstore import (
    CollectionInfo,
    CollectionNotFoundError,
    Metric,
    Scalar,
    VectorHit,
    VectorRecord,
    Vectors,
    VectorStore,
    batched,
)

T = TypeVar("T")

_SERVER_SCHEMES = ("http", "https", "tcp", "unix")


class MilvusOptions(BaseOptions):
    uri: str = Field(
        ...,
        description="http(s)://host:port of a Milvus server, or a local file path ending "
        "in .db for Milvus Lite.",
    )
    token: SecretStr | None = Field(
        None, description="API key, or 'user:password' (instead of user and password)."
    )
    user: str | None = Field(None, description="User name (with password, instead of token).")
    password: SecretStr | None = Field(None, description="Password of user.")
    db_name: str | None = Field(
        None, description="Milvus database (the server's default if unset)."
    )

    secret_fields: ClassVar[tuple[str, ...]] = ("token", "password")

    @field_validator("uri")
    @classmethod
    def _server_or_lite(cls, value: str) -> str:
        value = value.strip()
        if value.endswith(".db"):
            return value
        parts = urlsplit(value)
        if parts.scheme.lower() not in _SERVER_SCHEMES:
            raise ValueError(
                "must be http(s)://host:port for a server, or a file path ending in .db "
                "for Milvus Lite"
            )
        after_netloc = value.split("://", 1)[1][len(parts.netloc) :]
        if "@" in after_netloc or parts.netloc.count("@") > 1:
            # urllib would cut the URL inside the password and print the rest
            raise ValueError(
                "has '@', '/', '?' or '#' unescaped in its user or password: percent-encode "
                "them, or give user and password (or token) as separate keys"
            )
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ValueError("must have a numeric port, e.g. http://host:19530") from None
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> MilvusOptions:
        if self.token is not None and (self.user or self.password is not None):
            raise ValueError("give either 'token' or 'user' and 'password', not both")
        if bool(self.user) != (self.password is not None):
            raise ValueError("'user' and 'password' go together")
        return self

    @property
    def is_lite(self) -> bool:
        return self.uri.endswith(".db")

    def redacted(self) -> dict[str, Any]:
        data = super().redacted()
        if not self.is_lite:
            data["uri"] = _without_password(self.uri)
        return data


class MilvusDatasource(ClientDatasource):
    """A Milvus database: native client ``pymilvus.MilvusClient``, vectors through
    :meth:`vectors`."""

    type_name = "milvus"
    category: ClassVar[Category] = "vector"
    options_model: ClassVar[type[BaseOptions]] = MilvusOptions
    extra = "milvus"
    driver_modules = ("pymilvus",)

    def __init__(self, name: str, options: BaseOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self._vectors: MilvusVectorStore | None = None
        # not self._lock: _connect runs in a worker thread while get_client() holds that one
        self._lite_lock = threading.Lock()
        self._lite_held: str | None = None

    @property
    def milvus_options(self) -> MilvusOptions:
        assert isinstance(self._options, MilvusOptions)
        return self._options

    @property
    def is_lite(self) -> bool:
        return self.milvus_options.is_lite

    def lite_path(self) -> Path | None:
        """The absolute Milvus Lite file (None for a server)."""
        if not self.is_lite:
            return None
        # absolute, because milvus_lite keeps one server per path
        return Path(os.path.abspath(os.path.expanduser(self.milvus_options.uri)))

    def in_process_store(self) -> Path | None:
        return self.lite_path()

    def required_modules(self) -> tuple[str, ...]:
        return (*self.driver_modules, "milvus_lite") if self.is_lite else self.driver_modules

    def _target(self) -> str:
        path = self.lite_path()
        if path is not None:
            return f"milvus-lite:///{path.as_posix().lstrip('/')}"
        uri = _without_userinfo(self.milvus_options.uri)
        db_name = self.milvus_options.db_name
        return f"milvus+{uri.rstrip('/')}" + (f" (database {db_name})" if db_name else "")

    def secrets(self) -> list[str]:
        values = super().secrets()
        password = urlsplit(self.milvus_options.uri).password if not self.is_lite else None
        if password:
            values.append(password)
        return values

    def is_timeout(self, error: BaseException) -> bool:
        return super().is_timeout(error) or _is_timeout(error)

    # ------------------------------------------------------------------ client

    def client_arguments(self) -> dict[str, Any]:
        """Keyword arguments for MilvusClient / AsyncMilvusClient."""
        options = self.milvus_options
        path = self.lite_path()
        kwargs: dict[str, Any] = {
            "uri": str(path) if path is not None else options.uri,
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
                _acquire_lite(str(path))
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
                _release_lite(held)

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

    # ------------------------------------------------------------------ vectors

    def vectors(self) -> MilvusVectorStore:
        """The unified vector API on this datasource (one store per datasource)."""
        store = self._vectors
        if store is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = MilvusVectorStore(self)
                store = self._vectors
        return store


# ---------------------------------------------------------------------------- Milvus Lite

#: milvus_lite runs one in-process server per file and stops it only when told
#: (or at exit), whoever else uses it; so unifydb counts its own users per file
_LITE_LOCK = threading.Lock()
_LITE_USERS: dict[str, int] = {}
#: files whose server was already running when unifydb first used it: not ours to stop
_LITE_FOREIGN: set[str] = set()


def _acquire_lite(path: str) -> None:
    with _LITE_LOCK:
        if path not in _LITE_USERS:
            if path in _lite_servers():
                _LITE_FOREIGN.add(path)
            else:
                _LITE_FOREIGN.discard(path)
        _LITE_USERS[path] = _LITE_USERS.get(path, 0) + 1


def _release_lite(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
        if path in _LITE_FOREIGN:
            _LITE_FOREIGN.discard(path)
            return
        # under the lock, so that a new user cannot pick up the port being stopped
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


def _lite_servers() -> Mapping[str, Any]:
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return {}
    servers = getattr(server_manager_instance, "_servers", None)
    return servers if isinstance(servers, Mapping) else {}


# ---------------------------------------------------------------------------- vector store

_METRIC_NAMES: dict[Metric, str] = {"cosine": "COSINE", "l2": "L2", "ip": "IP"}
_ID_MAX_BYTES = 512
_DOCUMENT_MAX_BYTES = 65_535
#: rows and approximate bytes per upsert request (gRPC messages are capped at 64 MB)
_BATCH_ROWS = 1000
_BATCH_BYTES = 16 * 1024 * 1024
#: control characters a Milvus string literal cannot hold (\t \n \r are escaped)
_UNQUOTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class MilvusVectorStore(VectorStore):
    """:class:`~unifydb.vectorstore.VectorStore` on Milvus collections.

    A collection has an explicit schema, ``id`` VARCHAR(512) primary key,
    ``vector`` FLOAT_VECTOR(dimension), ``metadata`` JSON and ``document``
    VARCHAR(65535) (nullable), an AUTOINDEX on ``vector`` with the metric, and
    Strong consistency so that reads see the writes before them. Milvus reports
    the cosine similarity for COSINE, the inner product for IP and the squared
    Euclidean distance for L2 (negated here, so higher is better).
    """

    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
    name_rule: ClassVar[str] = "1-255 letters, digits or underscores, not starting with a digit"
    max_top_k: ClassVar[int | None] = 16_384

    @property
    def _milvus(self) -> MilvusDatasource:
        datasource = self.datasource
        assert isinstance(datasource, MilvusDatasource)
        return datasource

    @property
    def _timeout(self) -> float:
        return self._milvus.timeout

    def _client(self) -> Any:
        return self._milvus.get_client()

    # ------------------------------------------------------------------ collections

    def _create_collection(self, name: str, dimension: int, metric: Metric, exist_ok: bool) -> None:
        from pymilvus import DataType

        client = self._client()
        self._forget(name)
        if not client.has_collection(name, timeout=self._timeout):
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=_ID_MAX_BYTES)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field("metadata", DataType.JSON)
            schema.add_field(
                "document", DataType.VARCHAR, max_length=_DOCUMENT_MAX_BYTES, nullable=True
            )
            index = client.prepare_index_params()
            index.add_index(
                field_name="vector", metric_type=_METRIC_NAMES[metric], index_type="AUTOINDEX"
            )
            try:
                # with index_params, Milvus also loads the collection
                client.create_collection(
                    name,
                    schema=schema,
                    index_params=index,
                    consistency_level="Strong",
                    timeout=self._timeout,
                )
                return
            except Exception:
                if not client.has_collection(name, timeout=self._timeout):
                    raise
                # another client created it meanwhile
        self._check_existing(self._describe(name), dimension, metric, exist_ok)

    def _drop_collection(self, name: str) -> bool:
        client = self._client()
        self._forget(name)
        if not client.has_collection(name, timeout=self._timeout):
            return False
        client.drop_collection(name, timeout=self._timeout)
        return True

    def _has_collection(self, name: str) -> bool:
        return bool(self._client().has_collection(name, timeout=self._timeout))

    def _list_collections(self) -> list[str]:
        return [str(name) for name in self._client().list_collections(timeout=self._timeout)]

    def _fetch_info(self, client: Any, name: str) -> CollectionInfo:
        if not client.has_collection(name, timeout=self._timeout):
            raise self.not_found(name)
        description = client.describe_collection(name, timeout=self._timeout)
        fields = {field["name"]: field for field in description.get("fields", [])}
        vector = fields.get("vector", {})
        dimension = (vector.get("params") or {}).get("dim")
        if not {"id", "metadata", "document"} <= set(fields) or dimension is None:
            raise self.input_error(
                f"collection {name!r} does not have the fields unifydb uses (id, vector, "
                "metadata, document)",
                fix="create collections for this API with vectors().create_collection(), or "
                "use get_client() for other collections",
            )
        metric = self._metric_of(client, name)
        self._load(client, name)
        return CollectionInfo(name, int(dimension), metric)

    def _metric_of(self, client: Any, name: str) -> Metric:
        for index_name in client.list_indexes(name, field_name="vector", timeout=self._timeout):
            index = client.describe_index(name, index_name=index_name, timeout=self._timeout)
            metric_type = str(index.get("metric_type", "")).upper()
            for metric, milvus_name in _METRIC_NAMES.items():
                if metric_type == milvus_name:
                    return metric
        raise self.input_error(
            f"collection {name!r} has no COSINE, L2 or IP index on its vector field",
            fix="create an index on 'vector', or recreate the collection with create_collection()",
        )

    def _load(self, client: Any, name: str) -> None:
        # Milvus Lite forgets loaded collections when its server restarts (close and reopen)
        state = client.get_load_state(name, timeout=self._timeout)
        if "Loaded" not in str(state.get("state") if isinstance(state, Mapping) else state):
            client.load_collection(name, timeout=self._timeout)

    def _call(self, info: CollectionInfo, fn: Callable[[Any], T]) -> T:
        """``fn(client)``; a collection released meanwhile is loaded and the call retried once."""
        client = self._client()
        try:
            return fn(client)
        except Exception as error:
            self._forget(info.name)
            if not _not_loaded(error):
                raise
        self._load(client, info.name)
        return fn(client)

    # ------------------------------------------------------------------ records

    def _upsert(
        self,
        info: CollectionInfo,
        ids: list[str],
        vectors: Vectors,
        metadatas: list[dict[str, Scalar]],
        documents: list[str | None],
    ) -> None:
        for index, record_id in enumerate(ids):
            self._check_milvus_id(record_id, f"ids[{index}]")
            if len(record_id.encode()) > _ID_MAX_BYTES:
                raise self.input_error(
                    f"ids[{index}] is longer than {_ID_MAX_BYTES} bytes",
                    fix="use shorter ids (e.g. a hash of the long key)",
                )
        for index, document in enumerate(documents):
            if document is not None and len(document.encode()) > _DOCUMENT_MAX_BYTES:
                raise self.input_error(
                    f"documents[{index}] is longer than {_DOCUMENT_MAX_BYTES} bytes, the "
                    "Milvus VARCHAR limit",
                    fix="store long texts elsewhere and keep a reference in the metadata",
                )
        rows = [
            {"id": record_id, "vector": vector, "metadata": metadata, "document": document}
            for record_id, vector, metadata, document in zip(
                ids, vectors, metadatas, documents, strict=True
            )
        ]
        for batch in _row_batches(rows):
            self._call(
                info,
                lambda client, batch=batch: client.upsert(  # type: ignore[misc]
                    info.name, data=batch, timeout=self._timeout
                ),
            )

    def _query(
        self, info: CollectionInfo, vector: list[float], top_k: int, where: dict[str, Scalar]
    ) -> list[VectorHit]:
        expression = " and ".join(
            f"metadata[{self._literal(key, 'where key')}] == {self._literal(value, 'where')}"
            for key, value in where.items()
        )
        results = self._call(
            info,
            lambda client: client.search(
                info.name,
                data=[vector],
                limit=top_k,
                filter=expression,
                output_fields=["metadata", "document"],
                anns_field="vector",
                search_params={"metric_type": _METRIC_NAMES[info.metric]},
                timeout=self._timeout,
            ),
        )
        hits: list[VectorHit] = []
        for hit in results[0] if results else []:
            entity = hit.get("entity") or {}
            distance = float(hit["distance"])
            hits.append(
                VectorHit(
                    id=str(hit["id"]),
                    # Milvus L2 is already squared; COSINE and IP are similarities
                    score=-distance + 0.0 if info.metric == "l2" else distance,
                    metadata=dict(entity.get("metadata") or {}),
                    document=self.plain_document(entity.get("document")),
                )
            )
        return hits

    def _ids_expression(self, ids: list[str]) -> str:
        # pymilvus's own get(ids=)/delete(ids=) quote string ids without escaping
        return f"id in [{', '.join(self._literal(record_id, 'ids') for record_id in ids)}]"

    def _get(self, info: CollectionInfo, ids: list[str]) -> list[VectorRecord]:
        records: list[VectorRecord] = []
        for batch in batched(ids, _BATCH_ROWS):
            expression = self._ids_expression(batch)
            rows = self._call(
                info,
                lambda client, expression=expression: client.query(  # type: ignore[misc]
                    info.name,
                    filter=expression,
                    output_fields=["id", "vector", "metadata", "document"],
                    timeout=self._timeout,
                ),
            )
            records += [
                VectorRecord(
                    id=str(row["id"]),
                    vector=[float(x) for x in row["vector"]],
                    metadata=dict(row.get("metadata") or {}),
                    document=self.plain_document(row.get("document")),
                )
                for row in rows
            ]
        return records

    def _delete(self, info: CollectionInfo, ids: list[str]) -> None:
        for batch in batched(ids, _BATCH_ROWS):
            expression = self._ids_expression(batch)
            self._call(
                info,
                lambda client, expression=expression: client.delete(  # type: ignore[misc]
                    info.name, filter=expression, timeout=self._timeout
                ),
            )

    def _count(self, info: CollectionInfo) -> int:
        rows = self._call(
            info,
            lambda client: client.query(
                info.name, filter="", output_fields=["count(*)"], timeout=self._timeout
            ),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _translate(self, action: str, error: Exception) -> UnifyDBError:
        message = str(getattr(error, "message", "") or error).lower()
        if "collection" in message and ("not found" in message or "not exist" in message):
            return CollectionNotFoundError(
                self.datasource.redact(f"{action} failed: {getattr(error, 'message', error)}"),
                datasource=self.datasource.name,
            )
        return super()._translate(action, error)

    # ------------------------------------------------------------------ expressions

    def _check_milvus_id(self, record_id: str, label: str) -> None:
        if _UNQUOTABLE.search(record_id):
            raise self.input_error(
                f"{label} contains a control character, which Milvus filter expressions "
                "cannot hold",
                fix="use printable ids",
            )

    def _literal(self, value: Scalar, label: str) -> str:
        """``value`` as a Milvus expression literal (never pasted in raw)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if _UNQUOTABLE.search(value):
            raise self.input_error(
                f"a {label} value contains a control character Milvus expressions cannot hold",
                fix="match on printable text",
            )
        # JSON string syntax is Milvus's (double quotes, backslash escapes); non-ASCII
        # stays as is because Milvus Lite does not read \\u escapes
        return json.dumps(value, ensure_ascii=False)


def _row_batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        row_size = (
            4 * len(row["vector"])
            + len(row["id"])
            + len(row["document"] or "") * 4
            + sum(len(str(key)) + len(str(value)) + 8 for key, value in row["metadata"].items())
        )
        if batch and (len(batch) >= _BATCH_ROWS or size + row_size > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def _not_loaded(error: BaseException) -> bool:
    message = str(getattr(error, "message", "") or error).lower()
    return getattr(error, "code", None) == 101 or "not loaded" in message or "released" in message


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


def _without_userinfo(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _without_password(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
