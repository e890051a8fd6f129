"""The vector conformance suite (``unifydb.testing.vectors``) on Milvus Lite, in a file.

The class builds its datasource once; every test works in collections of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from unifydb.datasources.vector.milvus import MilvusDatasource
from unifydb.testing.vectors import VectorStoreConformance


class TestMilvusLite(VectorStoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def datasource(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusDatasource]:
        base = tmp_path_factory.mktemp("milvus-lite")
        source = MilvusDatasource("vec", {"uri": str(base / "milvus.db")})
        yield source
        source.close()
