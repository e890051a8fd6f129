"""Conformance: the asyncio twins (part of
:class:`~unifydb.testing.vectors.VectorStoreConformance`)."""

from __future__ import annotations

import asyncio

import pytest

from unifydb.vectorstore import (
    AsyncVectorStore,
    CollectionNotFoundError,
    VectorInputError,
    VectorStore,
)

from ._vector_base import ConformanceBase, ids_of


class AsyncConformance(ConformanceBase):
    """Every method of the store has an awaitable twin that does the same."""

    def test_async_twins(self, store: VectorStore) -> None:
        twin = store.as_async()
        assert isinstance(twin, AsyncVectorStore)
        assert twin.sync is store and store.as_async() is twin
        assert twin.datasource is store.datasource
        assert store.datasource.async_vectors() is twin
        name = self.unique("aio")

        async def scenario() -> None:
            try:
                assert not await twin.has_collection(name)
                await twin.create_collection(name, dimension=3, metric="cosine")
                assert await twin.has_collection(name)
                assert name in await twin.list_collections()
                await twin.upsert(
                    name,
                    ids=["a", "b", "c"],
                    vectors=[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0]],
                    metadatas=[{"lang": "en"}, {"lang": "de"}, {"lang": "en", "n": 2}],
                    documents=["alpha", None, "gamma"],
                )
                assert await twin.count(name) == 3
                if store.counts_with_filter:
                    assert await twin.count(name, where={"lang": "en"}) == 2
                hits = await twin.query(name, vector=[1.0, 0.0, 0.0], top_k=2)
                assert ids_of(hits) == ["a", "c"]
                assert hits[0].score == pytest.approx(1.0, abs=1e-5)
                assert hits[0].document == "alpha"
                filtered = await twin.query(name, vector=[1.0, 0.0, 0.0], where={"n": {"$gt": 1}})
                assert ids_of(filtered) == ["c"]
                records = await twin.get(name, ids=["c", "a", "zz"])
                assert [record.id for record in records] == ["c", "a"]
                assert records[1].vector == pytest.approx([1.0, 0.0, 0.0])
                await twin.delete(name, ids=["a"])
                await twin.delete(name, where={"lang": "de"})
                assert await twin.count(name) == 1
                # the sync store sees what the async one wrote
                assert store.count(name) == 1
                with pytest.raises(VectorInputError, match="dimension"):
                    await twin.query(name, vector=[1.0, 0.0])
                with pytest.raises(VectorInputError, match="ids or where"):
                    await twin.delete(name)
                with pytest.raises(CollectionNotFoundError) as caught:
                    await twin.count(self.unique("missing"))
                assert caught.value.datasource == "vec"
            finally:
                await twin.drop_collection(name)
                await twin.aclose()
            assert not await twin.has_collection(name)
            await twin.aclose()

        asyncio.run(scenario())
        assert not store.has_collection(name)

    def test_async_checks_arguments_before_awaiting(self, store: VectorStore) -> None:
        twin = store.as_async()
        # checked before any I/O, in every event loop (the second works like the first)
        for _ in range(2):
            with pytest.raises(VectorInputError, match="not a valid") as caught:
                asyncio.run(twin.count("bad name!"))
            assert caught.value.datasource == "vec"
