"""The vector conformance suite (``unifydb.testing.vectors``) on Qdrant's local mode:
in memory and in a folder (qdrant-client runs it in-process).

Each class builds its datasource once; every test works in collections of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from unifydb.datasources.vector.qdrant import QdrantDatasource
from unifydb.testing.vectors import VectorStoreConformance


class TestQdrantMemory(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls) -> Iterator[QdrantDatasource]:
        source = QdrantDatasource("vec", {"path": ":memory:"})
        yield source
        source.close()


class TestQdrantLocalFolder(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantDatasource]:
        source = QdrantDatasource("vec", {"path": str(tmp_path_factory.mktemp("qdrant"))})
        yield source
        source.close()
