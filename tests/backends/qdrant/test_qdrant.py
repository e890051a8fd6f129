"""Qdrant: the local mode live (qdrant-client runs it in-process); a server offline:
options, a silent listener (bounded health check) and a refused port. No Qdrant
server binary is installed here, so the server mode's network calls are only
observed against those fakes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import registry_for
from unifydb.datasources.vector.qdrant import QdrantDatasource, QdrantVectorStore
from unifydb.errors import (
    ConfigurationError,
    DatasourceTimeoutError,
    DriverNotInstalledError,
    UnsupportedOperationError,
)

API_KEY = "qd-Api-Key-secret-value"


def test_local_folder_is_shared_within_the_process(tmp_path: Path) -> None:
    first = QdrantDatasource("one", {"path": str(tmp_path / "q")})
    second = QdrantDatasource("two", {"path": str(tmp_path / "q")})
    try:
        assert first.health_check().status == "ok"
        assert second.health_check().status == "ok"  # the folder's lock is not taken twice
        assert first.get_client() is second.get_client()
        first.vectors().create_collection("shared", dimension=2)
        first.vectors().upsert("shared", ids=["a"], vectors=[[1.0, 0.0]])
        assert second.vectors().count("shared") == 1
        first.close()
        assert second.vectors().count("shared") == 1  # still open for the other one
    finally:
        first.close()
        second.close()
    reopened = QdrantDatasource("three", {"path": str(tmp_path / "q")})
    try:
        assert reopened.vectors().count("shared") == 1  # persisted in the folder
        assert reopened.target().startswith("qdrant-local:///")
        assert reopened.in_process_store() == (tmp_path / "q").resolve()
    finally:
        reopened.close()


def test_memory_mode_and_registry() -> None:
    registry = registry_for(vec={"type": "qdrant", "path": ":memory:"})
    try:
        datasource = registry.get_datasource("vec")
        assert isinstance(datasource, QdrantDatasource)
        assert isinstance(registry.vectors("vec"), QdrantVectorStore)
        assert registry.async_vectors("vec").sync is registry.vectors("vec")
        from qdrant_client import QdrantClient

        assert isinstance(registry.get_client("vec"), QdrantClient)
        assert datasource.mode == "memory"
        status = datasource.health_check()
        assert status.status == "ok" and status.server_version is None
        # the local mode has no asyncio client of its own: threads, said so
        assert registry.vectors("vec").native_async is False
        with pytest.raises(UnsupportedOperationError, match="asyncio"):
            asyncio.run(datasource.get_async_client())
    finally:
        registry.close_all()


def test_cosine_vectors_read_back_as_upserted() -> None:
    """Qdrant stores cosine vectors normalized; get() restores their length."""
    datasource = QdrantDatasource("vec", {"path": ":memory:"})
    try:
        store = datasource.vectors()
        store.create_collection("c", dimension=3, metric="cosine")
        store.upsert("c", ids=["a"], vectors=[[3.0, 0.0, 4.0]])
        raw = datasource.get_client().retrieve("c", ids=[store_point_id("a")], with_vectors=True)
        assert raw[0].vector == pytest.approx([0.6, 0.0, 0.8])
        (record,) = store.get("c", ids=["a"])
        assert record.vector == pytest.approx([3.0, 0.0, 4.0], rel=1e-6)
    finally:
        datasource.close()


def store_point_id(record_id: str) -> str:
    from unifydb.datasources.vector.qdrant.store import point_id

    return point_id(record_id)


def test_a_key_qdrant_cannot_address_is_refused() -> None:
    datasource = QdrantDatasource("vec", {"path": ":memory:"})
    try:
        store = datasource.vectors()
        store.create_collection("c", dimension=2)
        with pytest.raises(ValueError, match="cannot address") as caught:
            store.query("c", vector=[1.0, 0.0], where={'a"b': 1})
        assert "vec" in str(caught.value)
    finally:
        datasource.close()


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({}, "path", "required"),
        ({"url": "http://h:6333", "host": "h"}, None, "not both"),
        ({"url": "ftp://h"}, "url", "http"),
        ({"url": "http://u:p@h:6333"}, "url", "credentials"),
        ({"url": "http://h:port"}, "url", "numeric port"),
        ({"url": 0, "path": ":memory:"}, "url", "http"),  # as "0" from the environment
        ({"host": "h", "port": 0}, "port", None),
        ({"path": " ", "host": ""}, "path", "required"),
        ({"host": "h", "api_key": "clé"}, "api_key", "ASCII"),
    ],
)
def test_bad_options(options: dict[str, object], key: str | None, message: str | None) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        QdrantDatasource("bad", options)
    assert caught.value.datasource == "bad"
    if key:
        assert caught.value.key == key


def test_orbit_shaped_settings_load_unchanged() -> None:
    registry = registry_for(
        qdrant={
            "host": "localhost",
            "port": "6333",
            "timeout": 5,
            "prefer_grpc": "false",
            "https": False,
            "embedding_provider": "ollama",
            "collection_name": "orbit",
            "api_key": API_KEY,
        }
    )
    datasource = registry.build("qdrant")
    assert isinstance(datasource, QdrantDatasource)
    options = datasource.options
    assert (options.host, options.port, options.timeout, options.prefer_grpc) == (
        "localhost",
        6333,
        5.0,
        False,
    )
    assert datasource.settings == {"embedding_provider": "ollama", "collection_name": "orbit"}
    arguments = datasource.client_arguments()
    assert arguments["host"] == "localhost" and arguments["timeout"] == 5
    assert arguments["api_key"] == API_KEY
    assert API_KEY not in repr(datasource.options) and API_KEY not in str(datasource.describe())


def test_a_server_wins_over_path() -> None:
    """As in the shipped settings: path has a default, the server's url is optional."""
    server = QdrantDatasource("q", {"path": ".unifydb/qdrant", "url": "http://h:6333"})
    assert server.mode == "server" and server.in_process_store() is None
    local = QdrantDatasource("q", {"path": ".unifydb/qdrant", "url": ""})
    assert local.mode == "local"


def test_api_key_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text(API_KEY + "\n")
    datasource = registry_for(
        q={"type": "qdrant", "url": "https://h:6333", "api_key_file": str(secret)}
    ).build("q")
    assert datasource.client_arguments()["api_key"] == API_KEY
    assert datasource.target() == "https://h:6333"


def test_silent_server_times_out(silent_port: int) -> None:
    datasource = QdrantDatasource(
        "silent", {"host": "127.0.0.1", "port": silent_port, "timeout": 2, "api_key": API_KEY}
    )
    started = time.monotonic()
    status = datasource.health_check()
    assert status.status == "timeout", status.detail
    assert time.monotonic() - started < 6.0
    assert isinstance(status.error, DatasourceTimeoutError)
    assert API_KEY not in str(status.error) and API_KEY not in (status.detail or "")
    datasource.close()


def test_silent_server_times_out_async(silent_port: int) -> None:
    """The native asyncio path against a silent server: bounded by qdrant-client's timeout."""
    datasource = QdrantDatasource(
        "silent", {"url": f"http://127.0.0.1:{silent_port}", "timeout": 1}
    )
    twin = datasource.async_vectors()
    assert twin.native_async is True

    async def scenario() -> None:
        try:
            with pytest.raises(DatasourceTimeoutError):
                await asyncio.wait_for(twin.list_collections(), 10)
        finally:
            await twin.aclose()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 8.0
    datasource.close()


def test_refused_port_is_an_error(closed_port: int) -> None:
    datasource = QdrantDatasource(
        "refused", {"host": "127.0.0.1", "port": closed_port, "timeout": 3}
    )
    status = datasource.health_check()
    assert status.status == "error", status.detail
    datasource.close()


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # as if not installed
    datasource = QdrantDatasource("noq", {"path": ":memory:"})
    with pytest.raises(DriverNotInstalledError, match="qdrant_client") as caught:
        datasource.initialize()
    assert caught.value.extra == "qdrant"
    assert "unifydb[qdrant]" in str(caught.value)
    assert datasource.health_check().status == "driver_missing"
