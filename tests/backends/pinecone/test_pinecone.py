"""Pinecone is a hosted service and no server can run here: these tests are offline
(options, ORBIT's keys, secrets, the filter translation as a pure function) or talk
to a fake (a silent listener standing in for the index host and the control plane).
The conformance suite runs against a real index when ``UNIFYDB_TEST_PINECONE_API_KEY``
is set (see test_pinecone_conformance.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import registry_for
from unifydb.datasources.vector.pinecone import PineconeDatasource, PineconeVectorStore
from unifydb.datasources.vector.pinecone.filters import pinecone_filter
from unifydb.datasources.vector.pinecone.store import score_of
from unifydb.errors import ConfigurationError, DatasourceTimeoutError, DriverNotInstalledError
from unifydb.vectorstore import UnsupportedFilterError, parse_filter

API_KEY = "pcsk_Pinecone-secret-Key-value"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"lang": "en"}, {"lang": {"$eq": "en"}}),
        (
            {"year": {"$gte": 2020, "$lt": 2024}},
            {"$and": [{"year": {"$gte": 2020}}, {"year": {"$lt": 2024}}]},
        ),
        ({"lang": {"$ne": "en"}}, {"lang": {"$ne": "en"}}),
        ({"lang": {"$in": ["en", "de"]}}, {"lang": {"$in": ["en", "de"]}}),
        ({"n": {"$nin": [1, 2.5]}}, {"n": {"$nin": [1, 2.5]}}),
        ({"ok": {"$in": [True]}}, {"ok": {"$eq": True}}),
        ({"ok": {"$in": [True, False]}}, {"$or": [{"ok": {"$eq": True}}, {"ok": {"$eq": False}}]}),
        (
            {"ok": {"$nin": [True, False]}},
            {"$and": [{"ok": {"$ne": True}}, {"ok": {"$ne": False}}]},
        ),
        (
            {"$or": [{"a": 1}, {"$and": [{"b": 2}, {"c": {"$gt": 3}}]}]},
            {"$or": [{"a": {"$eq": 1}}, {"$and": [{"b": {"$eq": 2}}, {"c": {"$gt": 3}}]}]},
        ),
        ({'it\'s "odd"': "x'); --"}, {'it\'s "odd"': {"$eq": "x'); --"}}),
    ],
)
def test_filter_translation(where: dict[str, Any], expected: dict[str, Any]) -> None:
    assert pinecone_filter(parse_filter(where)) == expected


def test_no_filter() -> None:
    assert pinecone_filter(parse_filter({})) is None
    assert pinecone_filter(None) is None


@pytest.mark.parametrize(
    ("metric", "pinecone_score", "ours"),
    [("cosine", 0.75, 0.75), ("ip", -2.5, -2.5), ("l2", 4.0, -4.0), ("l2", 0.0, 0.0)],
)
def test_scores(metric: Any, pinecone_score: float, ours: float) -> None:
    """Pinecone's euclidean score is the squared distance (lower is better): negated."""
    assert score_of(metric, pinecone_score) == ours


def test_orbit_shaped_settings_load_unchanged() -> None:
    registry = registry_for(
        pinecone={
            "api_key": API_KEY,
            "namespace": "",
            "embedding_provider": None,
            "environment": "us-east-1-aws",
            "index_name": "orbit",
            "host": "orbit-abc123.svc.aped-4627-b74a.pinecone.io",
        }
    )
    datasource = registry.build("pinecone")
    assert isinstance(datasource, PineconeDatasource)
    assert datasource.default_namespace is None  # "" is Pinecone's default namespace
    assert datasource.settings == {"embedding_provider": None, "environment": "us-east-1-aws"}
    assert datasource.target() == "https://orbit-abc123.svc.aped-4627-b74a.pinecone.io"
    assert isinstance(datasource.vectors(), PineconeVectorStore)
    for shown in (repr(datasource), str(datasource.describe()), repr(datasource.options)):
        assert API_KEY not in shown


def test_namespace_setting_is_the_default() -> None:
    datasource = PineconeDatasource("p", {"api_key": API_KEY, "namespace": "tenant-1"})
    assert datasource.default_namespace == "tenant-1"
    assert datasource.vectors()._check_namespace(None) == "tenant-1"
    assert datasource.vectors()._check_namespace("other") == "other"


def test_count_with_a_filter_is_refused_before_any_request() -> None:
    datasource = PineconeDatasource("p", {"api_key": API_KEY, "host": "127.0.0.1:9"})
    with pytest.raises(UnsupportedFilterError, match="count") as caught:
        datasource.vectors().count("docs", where={"lang": "en"})
    assert caught.value.datasource == "p"
    assert not datasource.initialized  # nothing was even connected


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({}, "api_key", "required"),
        ({"api_key": ""}, "api_key", "required"),
        ({"api_key": "k", "controller_host": "ftp://x"}, "controller_host", "host or URL"),
        ({"api_key": "k", "controller_host": "https://u:p@x"}, "controller_host", "credentials"),
        ({"api_key": "clé"}, "api_key", "ASCII"),
    ],
)
def test_bad_options(options: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        PineconeDatasource("bad", options)
    assert caught.value.datasource == "bad" and caught.value.key == key
    assert "clé" not in str(caught.value)


def test_api_key_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(API_KEY + "\n")
    datasource = registry_for(p={"type": "pinecone", "api_key_file": str(tmp_path / "key")}).build(
        "p"
    )
    assert datasource.options.api_key.get_secret_value() == API_KEY


@pytest.mark.parametrize("where", ["host", "controller_host"])
def test_silent_server_times_out(silent_port: int, where: str) -> None:
    """A silent listener as the index host (probe: index statistics) or as the control
    plane (probe: list indexes)."""
    datasource = PineconeDatasource(
        "silent",
        {
            "api_key": API_KEY,
            # the index host is a host name (https is implied); the control plane a URL
            where: f"127.0.0.1:{silent_port}"
            if where == "host"
            else f"http://127.0.0.1:{silent_port}",
            "timeout": 2,
        },
    )
    started = time.monotonic()
    status = datasource.health_check()
    assert status.status == "timeout", status.detail
    assert time.monotonic() - started < 6.0
    assert isinstance(status.error, DatasourceTimeoutError)
    assert API_KEY not in str(status.error) and API_KEY not in (status.detail or "")
    datasource.close()


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pinecone", None)  # as if not installed
    datasource = PineconeDatasource("nop", {"api_key": API_KEY})
    with pytest.raises(DriverNotInstalledError, match="pinecone") as caught:
        datasource.initialize()
    assert caught.value.extra == "pinecone"
    assert "unifydb[pinecone]" in str(caught.value)
    assert datasource.health_check().status == "driver_missing"
