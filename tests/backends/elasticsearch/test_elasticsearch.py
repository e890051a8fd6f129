"""The elasticsearch type. No Elasticsearch can run on this machine, so these
tests check, offline, how settings become the client (ORBIT's shape included)
and, against fake servers of ours, that failures are bounded and clear: a
listener that never answers and one that answers garbage. Set
``UNIFYDB_TEST_ELASTICSEARCH_URL`` (e.g. ``https://elastic:pw@es:9200``) to run
the live test against a real cluster.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.helpers import build, opened, registry_for, skip_unless_env
from tests.servers.faults import garbage_listener, hanging_listener
from unifydb.errors import (
    ConfigurationError,
    DatasourceConnectionError,
    DatasourceTimeoutError,
    NotConfiguredError,
)


def test_orbit_entry_with_nested_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {
        "type": "elasticsearch",
        "node": "${ES_TEST_NODE}",
        "verify_certs": True,
        "timeout": 30,
        "auth": {"username": "${ES_TEST_USER}", "password": "${ES_TEST_PASSWORD}"},
    }
    info = registry_for(es=entry).inspect("es")
    assert set(info.missing_variables) == {"ES_TEST_NODE", "ES_TEST_USER", "ES_TEST_PASSWORD"}
    with pytest.raises(NotConfiguredError):
        registry_for(es=entry).build("es")
    monkeypatch.setenv("ES_TEST_NODE", "https://es.example:9200")
    monkeypatch.setenv("ES_TEST_USER", "elastic")
    monkeypatch.setenv("ES_TEST_PASSWORD", "Es-Pw-1234!")
    datasource = registry_for(es=entry).build("es")
    kwargs = datasource.client_arguments()
    assert kwargs["hosts"] == ["https://es.example:9200"]
    assert kwargs["basic_auth"] == ("elastic", "Es-Pw-1234!")
    assert kwargs["request_timeout"] == 30.0 and kwargs["verify_certs"] is True
    assert "Es-Pw-1234!" not in repr(datasource) + str(datasource.describe())
    assert datasource.target() == "elasticsearch https://es.example:9200 as elastic"


def test_client_arguments() -> None:
    datasource = build(
        "elasticsearch",
        nodes="http://a:9200, http://b:9200",
        api_key="id1:key1",
        ca_certs="/etc/ca.pem",
        request_timeout=7,
        max_retries=1,
        retry_on_timeout=True,
        http_compress=True,
    )
    kwargs = datasource.client_arguments()
    assert kwargs["hosts"] == ["http://a:9200", "http://b:9200"]
    assert kwargs["api_key"] == ("id1", "key1")
    assert (kwargs["ca_certs"], kwargs["request_timeout"], kwargs["max_retries"]) == (
        "/etc/ca.pem",
        7.0,
        1,
    )
    assert kwargs["retry_on_timeout"] is True and kwargs["http_compress"] is True
    encoded = build("elasticsearch", node="http://a:9200", api_key="ZW5jb2RlZA==")
    assert encoded.client_arguments()["api_key"] == "ZW5jb2RlZA=="
    cloud = build("elasticsearch", cloud_id="deployment:ZXUtd2VzdC0x")
    assert cloud.client_arguments()["cloud_id"] == "deployment:ZXUtd2VzdC0x"


def test_url_carries_credentials_and_keys_win() -> None:
    datasource = build("elasticsearch", url="https://elastic:p%40ss%3Aw@es.example:9243/prefix")
    options = datasource.options
    assert options.nodes == ["https://es.example:9243/prefix"]
    assert (options.username, options.password.get_secret_value()) == ("elastic", "p@ss:w")  # type: ignore[union-attr]
    override = build("elasticsearch", url="https://u:x@es.example:9200", password="other")
    assert override.options.password.get_secret_value() == "other"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "nodes"),
        ({"node": "es.example:9200"}, "nodes"),
        ({"node": "https://user:pw@es.example:9200"}, "nodes"),
        ({"node": "http://es.example:port"}, "nodes"),
        ({"node": "http://a:9200", "cloud_id": "x:y"}, "cloud_id"),
        (
            {"node": "http://a:9200", "api_key": "k", "auth": {"username": "u", "password": "p"}},
            "api_key",
        ),
        ({"node": "http://a:9200", "auth": "elastic:pw"}, "auth"),
        ({"node": "http://a:9200", "auth": {"user": "u"}}, "auth.user"),
        ({"node": "http://a:9200", "username": "a", "auth": {"username": "b"}}, "auth.username"),
        ({"node": "http://a:9200", "password": "p"}, "password"),
        ({"url": "ftp://h"}, "url"),
        ({"node": "http://a:9200", "max_retries": -1}, "max_retries"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build("elasticsearch", **settings)
    assert caught.value.key == key
    assert "pw" not in str(caught.value).replace("password", "")


def test_password_file_inside_auth(tmp_path: Any) -> None:
    secret = tmp_path / "es-password"
    secret.write_text("From-A-File-9\n")
    datasource = build(
        "elasticsearch", node="http://a:9200", auth={"username": "u", "password_file": str(secret)}
    )
    assert datasource.client_arguments()["basic_auth"] == ("u", "From-A-File-9")


@pytest.mark.parametrize("timeout", [1.5, None])
def test_silent_node_times_out_within_the_deadline(timeout: float | None) -> None:
    """A listener that accepts and never answers: the health check and a request both give up."""
    with hanging_listener() as (host, port):
        with opened(build("elasticsearch", node=f"http://{host}:{port}", timeout=2)) as datasource:
            datasource.initialize()  # the driver import is no part of what is timed
            started = time.monotonic()
            status = datasource.health_check(timeout)
            elapsed = time.monotonic() - started
            limit = timeout or 2
            assert status.status == "timeout", status
            assert isinstance(status.error, DatasourceTimeoutError)
            assert limit - 0.2 <= elapsed < limit + 1.0
            client = datasource.get_client().options(max_retries=0)
            started = time.monotonic()
            with pytest.raises(Exception, match=r"(?i)timed out"):
                client.info()
            assert time.monotonic() - started < 3.0  # request_timeout defaults to timeout


def test_node_answering_garbage_is_a_clear_error() -> None:
    with garbage_listener() as (host, port):
        with opened(build("elasticsearch", node=f"http://{host}:{port}", timeout=3)) as datasource:
            datasource.initialize()  # the driver import is no part of what is timed
            started = time.monotonic()
            status = datasource.health_check()
            assert time.monotonic() - started < 2.0
    assert status.status == "error", status
    assert isinstance(status.error, DatasourceConnectionError)
    assert status.error.key == "nodes"
    assert "BadStatusLine" in status.detail or "ProtocolError" in status.detail, status.detail


def test_closed_port_fails_fast(closed_port: int) -> None:
    with opened(build("elasticsearch", node=f"http://127.0.0.1:{closed_port}")) as datasource:
        datasource.initialize()  # the driver import is no part of what is timed
        started = time.monotonic()
        status = datasource.health_check()
    assert status.status == "error" and time.monotonic() - started < 2.5


@pytest.mark.live
def test_a_real_cluster() -> None:
    url = skip_unless_env("UNIFYDB_TEST_ELASTICSEARCH_URL")
    settings: dict[str, Any] = {"url": url, "timeout": 10}
    if os.environ.get("UNIFYDB_TEST_ELASTICSEARCH_CA"):
        settings["ca_certs"] = os.environ["UNIFYDB_TEST_ELASTICSEARCH_CA"]
    with opened(build("elasticsearch", **settings)) as datasource:
        status = datasource.health_check()
        assert status.ok, status
        client = datasource.get_client()
        index = f"unifydb-test-{os.getpid()}"
        try:
            client.index(index=index, id="1", document={"title": "Grüße"}, refresh=True)
            assert client.get(index=index, id="1")["_source"]["title"] == "Grüße"
        finally:
            client.options(ignore_status=404).indices.delete(index=index)
