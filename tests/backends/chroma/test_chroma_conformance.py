"""The vector conformance suite (``unifydb.testing.vectors``) on Chroma: in a folder
(``PersistentClient``) and over HTTP against a real ``chroma run`` server.

Each class builds its datasource once; every test works in collections of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from unifydb.datasources.vector.chroma import ChromaDatasource
from unifydb.testing.vectors import VectorStoreConformance


class TestChromaPersistent(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaDatasource]:
        base = tmp_path_factory.mktemp("chroma-persistent")
        source = ChromaDatasource("vec", {"path": str(base / "chroma")})
        yield source
        source.close()


@pytest.mark.live
class TestChromaHttp(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls, chroma_server: Any) -> Iterator[ChromaDatasource]:
        source = ChromaDatasource("vec", {"host": chroma_server.host, "port": chroma_server.port})
        yield source
        source.close()
