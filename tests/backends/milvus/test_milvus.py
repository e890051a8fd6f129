"""Milvus datasource: Milvus Lite files, lifecycle, timeouts and secrets, against real
pymilvus and milvus-lite."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest

import unifydb
from tests.helpers import unique
from unifydb.datasources.vector.milvus import MilvusDatasource, MilvusVectorStore
from unifydb.datasources.vector.milvus.lite import lite_servers as _lite_servers
from unifydb.errors import ConfigurationError, DatasourceTimeoutError, DriverNotInstalledError

TOKEN = "tok-Milvus-secret-value"
PASSWORD = "pw-Milvus-secret-value"


def lite(name: str, path: Path, **options: object) -> MilvusDatasource:
    return MilvusDatasource(name, {"uri": str(path), **options})


# ----------------------------------------------------------------------------- Milvus Lite


def test_lite_file_and_health(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "vectors.db"
    datasource = lite("lite", path)
    assert datasource.is_lite
    assert datasource.category == "vector"
    assert datasource.target() == f"milvus-lite:///{path.as_posix().lstrip('/')}"
    assert not path.parent.exists()  # nothing happens before first use
    try:
        status = datasource.health_check()
        assert status.ok, status.detail
        assert status.server_version and status.server_version.startswith("milvus_lite")
        assert path.parent.is_dir()
        store = datasource.vectors()
        assert isinstance(store, MilvusVectorStore)
        assert datasource.vectors() is store
    finally:
        datasource.close()


def test_relative_lite_path(tmp_path: Path) -> None:
    datasource = lite("rel", Path(".unifydb/milvus.db"))  # cwd is tmp_path
    try:
        assert datasource.lite_path() == tmp_path / ".unifydb" / "milvus.db"
        assert datasource.health_check().ok
    finally:
        datasource.close()


def test_close_then_reopen_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    datasource = lite("reopen", path)
    store = datasource.vectors()
    store.create_collection("kept", dimension=2, metric="l2")
    store.upsert("kept", ids=["a", "b"], vectors=[[1.0, 0.0], [0.0, 1.0]])
    first = datasource.get_client()
    datasource.close()
    datasource.close()  # twice is fine
    assert str(path) not in _lite_servers()  # the local server was stopped
    # reconnecting starts it again; the collection is loaded again by the store
    assert store.count("kept") == 2
    assert [hit.id for hit in store.query("kept", vector=[1.0, 0.1])] == ["a", "b"]
    assert datasource.get_client() is not first
    datasource.close()
    again = lite("again", path)
    try:
        assert again.vectors().count("kept") == 2
    finally:
        again.close()


def test_two_lite_files_are_independent(tmp_path: Path) -> None:
    one = lite("one", tmp_path / "one.db")
    two = lite("two", tmp_path / "two.db")
    try:
        client_one, client_two = one.get_client(), two.get_client()
        # pymilvus 3: no process-global "default" alias; one channel per datasource
        assert client_one is not client_two
        assert client_one._handler is not client_two._handler
        assert client_one._using != client_two._using
        one.vectors().create_collection("same_name", dimension=2)
        one.vectors().upsert("same_name", ids=["a"], vectors=[[1.0, 0.0]])
        assert not two.vectors().has_collection("same_name")
        two.vectors().create_collection("same_name", dimension=3, metric="ip")
        one.close()
        assert two.vectors().count("same_name") == 0
        assert one.vectors().count("same_name") == 1
    finally:
        one.close()
        two.close()


def test_two_datasources_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    one, two = lite("one", path), lite("two", path)
    try:
        one.vectors().create_collection("both", dimension=2)
        one.vectors().upsert("both", ids=["a"], vectors=[[1.0, 0.0]])
        assert two.vectors().count("both") == 1
        one.close()  # the server stays up for `two`
        assert str(path) in _lite_servers()
        two.vectors().upsert("both", ids=["b"], vectors=[[0.0, 1.0]])
        assert two.vectors().count("both") == 2
        two.close()
        assert str(path) not in _lite_servers()
    finally:
        one.close()
        two.close()


def test_a_server_started_by_someone_else_is_left_running(tmp_path: Path) -> None:
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import MilvusClient

    path = str(tmp_path / "theirs.db")
    theirs = MilvusClient(uri=path, timeout=10)
    try:
        datasource = lite("ours", Path(path))
        assert datasource.health_check().ok
        datasource.close()
        assert path in _lite_servers()
        assert theirs.list_collections(timeout=10) == []
    finally:
        theirs.close()
        server_manager_instance.release_server(path)


def test_async_client_on_lite(tmp_path: Path) -> None:
    datasource = lite("aio", tmp_path / "aio.db")
    datasource.vectors().create_collection("from_sync", dimension=2)

    async def use() -> list[str]:
        client = await datasource.get_async_client()
        try:
            return list(await client.list_collections(timeout=10))
        finally:
            await client.close()

    try:
        assert asyncio.run(use()) == ["from_sync"]
    finally:
        datasource.close()


def test_registry_builds_it(tmp_path: Path) -> None:
    registry = unifydb.Registry(
        settings={
            "datasources": {
                # the shipped defaults: token and db_name empty unless set
                "milvus": {"uri": str(tmp_path / "reg.db"), "token": "", "db_name": ""},
            }
        }
    )
    datasource = registry.get_datasource("milvus")
    assert isinstance(datasource, MilvusDatasource)
    assert datasource.vectors().list_collections() == []
    registry.close_all()


def test_missing_milvus_lite_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "milvus_lite", None)  # as if not installed
    datasource = lite("nolite", tmp_path / "x.db")
    with pytest.raises(DriverNotInstalledError, match="milvus_lite") as caught:
        datasource.initialize()
    assert caught.value.extra == "milvus"
    assert "unifydb[milvus]" in str(caught.value)
    assert datasource.health_check().status == "driver_missing"
    # a server URI does not need it
    MilvusDatasource("server", {"uri": "http://127.0.0.1:19530"}).initialize()


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({}, "uri", "required"),
        ({"uri": "ftp://host"}, "uri", "http"),
        ({"uri": "vectors.sqlite"}, "uri", ".db"),
        ({"uri": 0}, "uri", ".db"),  # as "0" from the environment
        ({"uri": "http://h:19530", "token": "t", "user": "u", "password": "p"}, None, "not both"),
        ({"uri": "http://h:19530", "user": "u"}, None, "go together"),
        ({"uri": "http://h:19530", "timeout": 0}, "timeout", "greater than"),
        ({"uri": "http://h:19530", "tokn": "x"}, "tokn", "did you mean 'token'"),
    ],
)
def test_bad_options(options: dict[str, object], key: str | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        MilvusDatasource("bad", options)
    assert caught.value.datasource == "bad"
    if key is not None:
        assert caught.value.key == key


# ----------------------------------------------------------------------------- servers


def test_silent_server_times_out(silent_port: int) -> None:
    datasource = MilvusDatasource(
        "silent", {"uri": f"http://127.0.0.1:{silent_port}", "timeout": 2}
    )
    assert datasource.target() == f"milvus+http://127.0.0.1:{silent_port}"
    started = time.monotonic()
    status = datasource.health_check()
    assert status.status == "timeout", status.detail
    assert time.monotonic() - started < 3.0
    assert isinstance(status.error, DatasourceTimeoutError)
    # the abandoned connect gives up too: pymilvus waits for the channel only `timeout` s
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and any(
        t.name.startswith("unifydb:silent:") for t in threading.enumerate()
    ):
        time.sleep(0.05)
    assert not any(t.name.startswith("unifydb:silent:") for t in threading.enumerate())
    datasource.close()


def test_refused_port_is_an_error(closed_port: int) -> None:
    datasource = MilvusDatasource("down", {"uri": f"http://127.0.0.1:{closed_port}", "timeout": 5})
    started = time.monotonic()
    status = datasource.health_check()
    assert status.status == "error"
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    "options",
    [
        {"token": TOKEN},
        {"user": "root", "password": PASSWORD},
        {"uri_credentials": True},
    ],
    ids=["token", "user-password", "uri-credentials"],
)
def test_secrets_never_shown(closed_port: int, options: dict[str, object]) -> None:
    options = dict(options)
    settings: dict[str, object] = {"uri": f"http://127.0.0.1:{closed_port}/db1", "timeout": 2}
    if options.pop("uri_credentials", False):
        settings["uri"] = f"http://root:{PASSWORD}@127.0.0.1:{closed_port}/db1"
    settings.update(options)
    datasource = MilvusDatasource(unique("sec"), settings)
    status = datasource.health_check()
    assert not status.ok
    described = datasource.describe()
    texts = [repr(datasource), str(described), datasource.target(), status.detail]
    texts.append(str(status.error))
    for text in texts:
        assert TOKEN not in text
        assert PASSWORD not in text
    assert datasource.target() == f"milvus+http://127.0.0.1:{closed_port}/db1"
    if "token" in settings:
        assert described["options"]["token"] == "***"
    if "password" in settings:
        assert described["options"]["password"] == "***"
