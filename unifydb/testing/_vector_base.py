"""The fixtures every part of the vector conformance suite shares."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from unifydb.base import Datasource
from unifydb.vectorstore import VectorHit, VectorStore


def ids_of(hits: list[VectorHit]) -> list[str]:
    return [hit.id for hit in hits]


class ConformanceBase:
    """``unique`` and the ``store``/``collection`` fixtures; the subclass gives ``datasource``."""

    def unique(self, prefix: str) -> str:
        """A collection name no other test uses: ``prefix``, ``_`` and 8 hex digits."""
        return f"{prefix}_{secrets.token_hex(4)}"

    @pytest.fixture
    def store(self, datasource: Datasource[Any]) -> VectorStore:
        """The datasource's vector store (``datasource`` comes from the subclass)."""
        if datasource.name != "vec":
            pytest.fail(
                f"name the datasource under test 'vec', not {datasource.name!r}: "
                "the tests check that errors name it",
                pytrace=False,
            )
        vectors = datasource.vectors()
        assert isinstance(vectors, VectorStore)
        assert vectors.datasource is datasource
        return vectors

    @pytest.fixture
    def collection(self, store: VectorStore) -> Iterator[str]:
        """A fresh 3-dimensional cosine collection, dropped afterwards."""
        name = self.unique("c")
        store.create_collection(name, dimension=3)
        yield name
        store.drop_collection(name)
