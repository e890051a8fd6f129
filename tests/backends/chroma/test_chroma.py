"""Chroma datasource: modes, lifecycle, timeouts and secrets, against real chromadb."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import unifydb
from tests.helpers import unique
from unifydb.datasources.vector.chroma import ChromaDatasource, ChromaVectorStore
from unifydb.errors import DatasourceTimeoutError, UnsupportedOperationError

TOKEN = "tok-Sup3r-secret-value"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def recording_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An HTTP server that records request headers and answers every request with 500."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({name.lower(): value for name, value in self.headers.items()})
            body = b'{"error": "nope", "message": "nope"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def threads_of(name: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"unifydb:{name}:")]


def system_table_size() -> int:
    from chromadb.api.shared_system_client import SharedSystemClient

    return len(SharedSystemClient._identifier_to_system)


# ----------------------------------------------------------------------------- modes


def test_persistent_mode_creates_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    datasource = ChromaDatasource("docs", {"path": str(folder)})
    assert datasource.mode == "persistent"
    assert datasource.category == "vector"
    assert datasource.target() == f"chroma:///{folder.as_posix().lstrip('/')}"
    assert not folder.exists()  # nothing happens before first use
    try:
        status = datasource.health_check()
        assert status.ok, status.detail
        assert status.server_version == __import__("chromadb").__version__
        assert folder.is_dir()
        store = datasource.vectors()
        assert isinstance(store, ChromaVectorStore)
        assert datasource.vectors() is store
        store.create_collection("notes", dimension=2)
        store.upsert("notes", ids=["n"], vectors=[[1.0, 2.0]])
    finally:
        datasource.close()
    # data outlives the datasource
    again = ChromaDatasource("docs2", {"path": str(folder)})
    try:
        assert again.vectors().count("notes") == 1
    finally:
        again.close()


def test_relative_path_is_resolved_against_the_working_directory(tmp_path: Path) -> None:
    datasource = ChromaDatasource("rel", {"path": "store/chroma"})  # cwd is tmp_path
    try:
        assert datasource.persist_path() == tmp_path / "store" / "chroma"
        assert datasource.health_check().ok
        assert (tmp_path / "store" / "chroma").is_dir()
    finally:
        datasource.close()


def test_in_memory_mode() -> None:
    datasource = ChromaDatasource("mem", {})
    assert datasource.mode == "memory"
    assert datasource.target() == "chroma (in-memory)"
    try:
        assert datasource.health_check().ok
        store = datasource.vectors()
        name = unique("mem")
        store.create_collection(name, dimension=2, metric="ip")
        store.upsert(name, ids=["a", "b"], vectors=[[1.0, 2.0], [3.0, 4.0]])
        assert [hit.id for hit in store.query(name, vector=[1.0, 1.0])] == ["b", "a"]
        store.drop_collection(name)
        with pytest.raises(UnsupportedOperationError, match="asyncio") as caught:
            asyncio.run(datasource.get_async_client())
        assert "host" in str(caught.value)
    finally:
        datasource.close()


def test_host_wins_over_path(tmp_path: Path) -> None:
    registry = unifydb.Registry(
        settings={
            "datasources": {
                # the shipped defaults: a path, and a host that is empty unless set
                "chroma": {"path": str(tmp_path / "c"), "host": "", "port": "8000"},
                "remote": {
                    "type": "chroma",
                    "path": str(tmp_path / "c"),
                    "host": "db.internal",
                    "port": "8443",
                    "ssl": "true",
                },
            }
        }
    )
    local = registry.get_datasource("chroma")
    remote = registry.get_datasource("remote")
    assert isinstance(local, ChromaDatasource) and isinstance(remote, ChromaDatasource)
    assert local.mode == "persistent"
    assert remote.mode == "http"
    assert remote.target() == "chroma+https://db.internal:8443"
    assert local.vectors().list_collections() == []
    registry.close_all()


def test_persistent_get_async_client_is_unsupported(tmp_path: Path) -> None:
    datasource = ChromaDatasource("p", {"path": str(tmp_path)})
    with pytest.raises(UnsupportedOperationError, match="persistent folder"):
        asyncio.run(datasource.get_async_client())


@pytest.mark.live
def test_http_mode(chroma_server: Any) -> None:
    datasource = ChromaDatasource(
        "remote", {"host": chroma_server.host, "port": chroma_server.port, "timeout": 5}
    )
    assert datasource.mode == "http"
    assert datasource.target() == f"chroma+http://{chroma_server.host}:{chroma_server.port}"
    try:
        status = datasource.health_check()
        assert status.ok, status.detail
        assert status.server_version  # the server's own version, e.g. "1.0.0"
        store = datasource.vectors()
        name = unique("http")
        store.create_collection(name, dimension=2, metric="l2")
        store.upsert(name, ids=["a"], vectors=[[3.0, 4.0]])
        assert store.query(name, vector=[0.0, 0.0])[0].score == pytest.approx(-25.0)
        store.drop_collection(name)
    finally:
        datasource.close()


@pytest.mark.live
def test_async_client(chroma_server: Any) -> None:
    datasource = ChromaDatasource("aio", {"host": chroma_server.host, "port": chroma_server.port})
    before = system_table_size()

    async def use() -> Any:
        client = await datasource.get_async_client()
        assert await datasource.get_async_client() is client
        assert await client.heartbeat() > 0
        name = unique("aio")
        collection = await client.create_collection(name, embedding_function=None)
        await collection.add(ids=["a"], embeddings=[[1.0, 2.0]])
        assert await collection.count() == 1
        await client.delete_collection(name)
        return client

    first = asyncio.run(use())
    datasource.close()
    second = asyncio.run(use())  # a new loop, after close(): a new client
    assert second is not first
    datasource.close()
    assert system_table_size() <= before


# ----------------------------------------------------------------------------- lifecycle


def test_close_then_reuse(tmp_path: Path) -> None:
    datasource = ChromaDatasource("reuse", {"path": str(tmp_path / "db")})
    store = datasource.vectors()
    store.create_collection("kept", dimension=2)
    store.upsert("kept", ids=["a"], vectors=[[1.0, 0.0]])
    first = datasource.get_client()
    datasource.close()
    datasource.close()  # twice is fine
    assert not datasource.initialized
    assert store.count("kept") == 1  # the store reconnects
    assert datasource.get_client() is not first
    assert datasource.health_check().ok
    datasource.close()


def test_two_paths_are_independent(tmp_path: Path) -> None:
    one = ChromaDatasource("one", {"path": str(tmp_path / "one")})
    two = ChromaDatasource("two", {"path": str(tmp_path / "two")})
    try:
        one.vectors().create_collection("shared_name", dimension=2)
        one.vectors().upsert("shared_name", ids=["a"], vectors=[[1.0, 0.0]])
        assert not two.vectors().has_collection("shared_name")
        two.vectors().create_collection("shared_name", dimension=3, metric="l2")
        one.close()
        assert two.vectors().count("shared_name") == 0
        assert one.vectors().count("shared_name") == 1
    finally:
        one.close()
        two.close()


def test_two_datasources_on_one_path(tmp_path: Path) -> None:
    # chromadb shares one System per folder; closing one datasource must not stop it
    # under the other
    one = ChromaDatasource("one", {"path": str(tmp_path / "same")})
    two = ChromaDatasource("two", {"path": str(tmp_path / "same")})
    try:
        one.vectors().create_collection("both", dimension=2)
        one.vectors().upsert("both", ids=["a"], vectors=[[1.0, 0.0]])
        assert two.vectors().count("both") == 1
        one.close()
        two.vectors().upsert("both", ids=["b"], vectors=[[0.0, 1.0]])
        assert two.vectors().count("both") == 2
        assert one.vectors().count("both") == 2
    finally:
        one.close()
        two.close()


@pytest.mark.live
def test_http_clients_do_not_pile_up(chroma_server: Any) -> None:
    datasource = ChromaDatasource("churn", {"host": chroma_server.host, "port": chroma_server.port})
    datasource.get_client()
    datasource.close()
    before = system_table_size()
    for _ in range(3):
        assert datasource.health_check().ok
        datasource.close()
    assert system_table_size() == before


# ----------------------------------------------------------------------------- timeouts


def test_silent_server_times_out(silent_port: int) -> None:
    name = unique("silent")
    datasource = ChromaDatasource(name, {"host": "127.0.0.1", "port": silent_port, "timeout": 2})
    started = time.monotonic()
    status = datasource.health_check()
    elapsed = time.monotonic() - started
    assert status.status == "timeout", status.detail
    assert elapsed < 3.0
    assert isinstance(status.error, DatasourceTimeoutError)
    # the abandoned connect finishes too: chromadb's requests carry our timeout
    deadline = time.monotonic() + 3.0
    while threads_of(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threads_of(name) == []


def test_health_check_timeout_argument(silent_port: int) -> None:
    datasource = ChromaDatasource("quick", {"host": "127.0.0.1", "port": silent_port})
    started = time.monotonic()
    assert datasource.health_check(timeout=1).status == "timeout"
    assert time.monotonic() - started < 2.0


def test_refused_port_is_an_error(closed_port: int) -> None:
    datasource = ChromaDatasource("down", {"host": "127.0.0.1", "port": closed_port})
    status = datasource.health_check()
    assert status.status == "error"
    assert "connect failed" in status.detail


@pytest.mark.live
def test_stalled_requests_time_out(chroma_server: Any) -> None:
    import httpx

    from tests.servers.faults import stalling_proxy

    with stalling_proxy(chroma_server.host, chroma_server.port) as proxy:
        datasource = ChromaDatasource(
            "stall", {"host": proxy.host, "port": proxy.port, "timeout": 2}
        )
        try:
            assert datasource.health_check().ok
            store = datasource.vectors()
            store.list_collections()

            async def heartbeat_when_stalled() -> float:
                client = await datasource.get_async_client()
                await client.heartbeat()
                proxy.stall()
                started = time.monotonic()
                with pytest.raises(httpx.TimeoutException):
                    await client.heartbeat()
                return time.monotonic() - started

            assert asyncio.run(heartbeat_when_stalled()) < 3.0
            started = time.monotonic()
            with pytest.raises(DatasourceTimeoutError):
                store.list_collections()
            assert time.monotonic() - started < 3.0
            proxy.resume()
        finally:
            datasource.close()


# ----------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("token_header", "header", "value"),
    [
        ("Authorization", "authorization", f"Bearer {TOKEN}"),
        ("X-Chroma-Token", "x-chroma-token", TOKEN),
    ],
)
def test_token_is_sent_and_never_shown(
    recording_server: tuple[int, list[dict[str, str]]],
    token_header: str,
    header: str,
    value: str,
) -> None:
    port, seen = recording_server
    datasource = ChromaDatasource(
        "secure",
        {
            "host": "127.0.0.1",
            "port": port,
            "token": TOKEN,
            "token_header": token_header,
            "headers": {"X-Api-Key": "hdr-secret-42", "X-Team": "search"},
            "timeout": 3,
        },
    )
    status = datasource.health_check()
    assert status.status == "error"
    assert seen, "the client sent no request"
    assert seen[0][header] == value
    assert seen[0]["x-api-key"] == "hdr-secret-42"
    assert seen[0]["x-team"] == "search"
    described = datasource.describe()
    assert described["options"]["token"] == "***"
    assert described["options"]["headers"] == {"X-Api-Key": "***", "X-Team": "search"}
    for text in (repr(datasource), str(described), str(status.error), status.detail):
        assert TOKEN not in text
        assert "hdr-secret-42" not in text


def test_token_not_in_errors_of_an_unreachable_server(closed_port: int) -> None:
    datasource = ChromaDatasource(
        "locked", {"host": "127.0.0.1", "port": closed_port, "token": TOKEN}
    )
    status = datasource.health_check()
    assert not status.ok
    with pytest.raises(unifydb.UnifyDBError) as caught:
        status.raise_for_status()
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(datasource.config)


def test_collection_recreated_elsewhere_is_seen_again(tmp_path: Path) -> None:
    """The store keeps collection handles; one that another client dropped and
    recreated is fetched again after the first failure, not used forever."""
    first = ChromaDatasource("a", {"path": str(tmp_path / "shared")})
    second = ChromaDatasource("b", {"path": str(tmp_path / "shared")})
    try:
        store, other = first.vectors(), second.vectors()
        store.create_collection("docs", dimension=2)
        store.upsert("docs", ids=["x"], vectors=[[1.0, 0.0]])
        assert store.count("docs") == 1  # the handle is cached now
        other.drop_collection("docs")
        other.create_collection("docs", dimension=3)
        other.upsert("docs", ids=["y", "z"], vectors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(store.count("docs"))
            except unifydb.UnifyDBError as error:
                outcomes.append(type(error).__name__)
        assert outcomes[-1] == 2, outcomes
    finally:
        first.close()
        second.close()
