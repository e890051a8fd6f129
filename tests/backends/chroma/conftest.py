"""Fixtures of the Chroma tests (test_chroma.py and the conformance suite)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``chroma run`` HTTP server, one per test module that asks for it."""
    from tests.servers.chroma_http import chroma_http

    with chroma_http(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server
