"""Conformance tests for vector stores: the unified API behaves the same on every backend.

:class:`VectorStoreConformance` holds the tests every vector datasource of
unifydb passes (Chroma in a folder and over HTTP, Milvus Lite). A backend,
built in or third-party, runs them by subclassing it in its own test suite and
giving the subclass a ``datasource`` fixture: a datasource of the backend,
named ``"vec"`` (the tests check that errors name it), that may create and
drop collections. Every test works in collections of its own, named with
:meth:`VectorStoreConformance.unique`, so one datasource can serve the whole
class::

    import pytest

    from my_backend import MyDatasource
    from unifydb.testing.vectors import VectorStoreConformance


    class TestMyBackend(VectorStoreConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def datasource(cls, tmp_path_factory):
            source = MyDatasource("vec", {"path": str(tmp_path_factory.mktemp("my"))})
            yield source
            source.close()

pytest then runs every ``test_*`` method of the class against that datasource
(through the ``store`` and ``collection`` fixtures defined here). The fixture
may be any scope and may also live in the module or a ``conftest.py``; a
class-scoped one in the class is a ``classmethod`` (pytest 9.1 deprecates
class-scoped fixtures on instances). Override
``unique`` when the backend restricts collection names; the default,
``<prefix>_<8 hex digits>``, suits Chroma and Milvus.

This module needs pytest (``test_numpy_inputs`` also numpy); ``import unifydb``
never imports it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from unifydb.vectorstore import (
    CollectionExistsError,
    CollectionNotFoundError,
    VectorInputError,
    VectorStore,
)

from ._vector_base import ConformanceBase, ids_of
from .vector_async import AsyncConformance
from .vector_filters import FilterConformance

__all__ = ["VectorStoreConformance"]


class VectorStoreConformance(FilterConformance, AsyncConformance, ConformanceBase):
    """The conformance suite; subclass it and provide a ``datasource`` fixture.

    Not collected by itself (its name does not start with ``Test``). The filter
    language, the score convention across metrics, delete and count by filter,
    namespaces (:mod:`unifydb.testing.vector_filters`) and the asyncio twins
    (:mod:`unifydb.testing.vector_async`) are tested by its bases.
    """

    # ------------------------------------------------------------------------- collections

    def test_collection_lifecycle(self, store: VectorStore) -> None:
        name = self.unique("life")
        assert not store.has_collection(name)
        assert name not in store.list_collections()

        store.create_collection(name, dimension=4, metric="l2")
        assert store.has_collection(name)
        assert name in store.list_collections()
        assert store.count(name) == 0

        store.create_collection(name, dimension=4, metric="l2")  # exist_ok by default
        with pytest.raises(CollectionExistsError, match="already exists"):
            store.create_collection(name, dimension=4, metric="l2", exist_ok=False)
        with pytest.raises(CollectionExistsError, match="dimension 4"):
            store.create_collection(name, dimension=8, metric="l2")
        with pytest.raises(CollectionExistsError, match="metric"):
            store.create_collection(name, dimension=4, metric="cosine")

        store.drop_collection(name)
        assert not store.has_collection(name)
        assert name not in store.list_collections()
        store.drop_collection(name)  # missing_ok by default
        with pytest.raises(CollectionNotFoundError) as caught:
            store.drop_collection(name, missing_ok=False)
        assert caught.value.datasource == "vec"

    def test_list_collections_is_sorted(self, store: VectorStore) -> None:
        names = [self.unique("b_list"), self.unique("a_list")]
        for name in names:
            store.create_collection(name, dimension=2)
        try:
            listed = [name for name in store.list_collections() if name.endswith(tuple(names))]
            assert listed == sorted(names)
        finally:
            for name in names:
                store.drop_collection(name)

    def test_operations_on_a_missing_collection(self, store: VectorStore) -> None:
        name = self.unique("missing")
        for call in (
            lambda: store.count(name),
            lambda: store.query(name, vector=[1.0, 0.0, 0.0]),
            lambda: store.get(name, ids=["a"]),
            lambda: store.upsert(name, ids=["a"], vectors=[[1.0, 0.0, 0.0]]),
            lambda: store.delete(name, ids=["a"]),
        ):
            with pytest.raises(CollectionNotFoundError, match=name) as caught:
                call()
            assert caught.value.datasource == "vec"

    # ------------------------------------------------------------------------- records

    def test_upsert_then_get(self, store: VectorStore, collection: str) -> None:
        store.upsert(
            collection,
            ids=["a", "b", "c"],
            vectors=[[0.1, 0.2, 0.3], [1.0, -2.5, 1e-3], [-1.0, 0.0, 3.25]],
            metadatas=[{"lang": "en", "n": 1, "ok": True, "x": 0.5}, None, {"lang": "de"}],
            documents=["alpha", None, "gamma"],
        )
        assert store.count(collection) == 3

        records = store.get(collection, ids=["c", "missing", "a", "b", "a"])
        assert [record.id for record in records] == ["c", "a", "b"]
        c, a, b = records
        assert a.vector == pytest.approx([0.1, 0.2, 0.3], rel=1e-6, abs=1e-7)
        assert b.vector == pytest.approx([1.0, -2.5, 1e-3], rel=1e-6, abs=1e-7)
        assert c.vector == pytest.approx([-1.0, 0.0, 3.25], rel=1e-6, abs=1e-7)
        assert a.metadata == {"lang": "en", "n": 1, "ok": True, "x": 0.5}
        assert type(a.metadata["n"]) is int and type(a.metadata["ok"]) is bool
        assert b.metadata == {}
        assert c.metadata == {"lang": "de"}
        assert (a.document, b.document, c.document) == ("alpha", None, "gamma")
        assert store.get(collection, ids=["nope"]) == []

    def test_numpy_inputs(self, store: VectorStore, collection: str) -> None:
        import numpy as np

        vectors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
        metadatas = [{"n": np.int64(3), "x": np.float32(0.5), "flag": np.bool_(True)}, None]
        # numpy arrays and scalars are accepted where the signatures say lists and str/int/...
        store.upsert(collection, ids=["a", "b"], vectors=vectors, metadatas=metadatas)  # type: ignore[arg-type]
        hits = store.query(collection, vector=np.array([0.0, 1.0, 0.0]), top_k=1)  # type: ignore[arg-type]
        assert [hit.id for hit in hits] == ["b"]
        (a,) = store.get(collection, ids=np.array(["a"]).tolist())
        assert a.metadata == {"n": 3, "x": 0.5, "flag": True}
        assert type(a.metadata["n"]) is int and type(a.metadata["flag"]) is bool

    def test_upsert_replaces_whole_records(self, store: VectorStore, collection: str) -> None:
        store.upsert(
            collection,
            ids=["a", "b"],
            vectors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            metadatas=[{"keep": 1, "drop": 2}, {"only": "b"}],
            documents=["old a", "old b"],
        )
        store.upsert(
            collection,
            ids=["a", "b", "c"],
            vectors=[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]],
            metadatas=[{"keep": 10}, None, {"new": True}],
            documents=["new a", None, None],
        )
        assert store.count(collection) == 3
        a, b, c = store.get(collection, ids=["a", "b", "c"])
        assert a.vector == pytest.approx([0.0, 0.0, 1.0])
        assert a.metadata == {"keep": 10}
        assert a.document == "new a"
        assert b.metadata == {}
        assert b.document is None
        assert c.metadata == {"new": True}
        assert ids_of(store.query(collection, vector=[0.0, 0.0, 1.0], top_k=1)) == ["a"]

    @pytest.mark.parametrize(
        ("metric", "expected"),
        [
            # query [1, 0, 0]; the stored vectors are not normalized on purpose
            ("cosine", {"a": 1.0, "c": math.sqrt(0.5), "d": 0.6, "b": 0.0}),
            ("ip", {"d": 3.0, "a": 1.0, "c": 1.0, "b": 0.0}),
            ("l2", {"a": 0.0, "c": -1.0, "b": -5.0, "d": -20.0}),
        ],
    )
    def test_scores_follow_one_convention(
        self, store: VectorStore, metric: Any, expected: dict[str, float]
    ) -> None:
        name = self.unique(f"score_{metric}")
        store.create_collection(name, dimension=3, metric=metric)
        try:
            store.upsert(
                name,
                ids=["a", "b", "c", "d"],
                vectors=[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0], [3.0, 0.0, 4.0]],
            )
            hits = store.query(name, vector=[1.0, 0.0, 0.0], top_k=4)
            scores = {hit.id: hit.score for hit in hits}
            assert scores == pytest.approx(expected, abs=1e-5)
            assert [hit.score for hit in hits] == sorted(scores.values(), reverse=True)
            assert ids_of(hits)[0] == next(iter(expected))
            assert ids_of(hits)[-1] == list(expected)[-1]
        finally:
            store.drop_collection(name)

    def test_top_k(self, store: VectorStore, collection: str) -> None:
        store.upsert(
            collection,
            ids=["x", "y", "z"],
            vectors=[[1.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 1.0]],
            metadatas=[{"tag": "x"}, {"tag": "y"}, {"tag": "z"}],
            documents=["doc x", "doc y", None],
        )
        hits = store.query(collection, vector=[1.0, 0.0, 0.0], top_k=2)
        assert ids_of(hits) == ["x", "y"]
        assert hits[0].metadata == {"tag": "x"}
        assert hits[0].document == "doc x"
        assert len(store.query(collection, vector=[1.0, 0.0, 0.0], top_k=1)) == 1
        assert len(store.query(collection, vector=[1.0, 0.0, 0.0], top_k=50)) == 3
        assert len(store.query(collection, vector=[1.0, 0.0, 0.0])) == 3

    def test_where_filter(self, store: VectorStore, collection: str) -> None:
        tricky = 'it\'s "quoted" \\ back\nslash ünï'
        store.upsert(
            collection,
            ids=["en1", "en2", "de1", "odd"],
            vectors=[[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [1.0, 0.0, 0.1], [0.0, 1.0, 0.0]],
            metadatas=[
                {"lang": "en", "year": 2024, "draft": False},
                {"lang": "en", "year": 2023, "draft": True},
                {"lang": "de", "year": 2024, "draft": False},
                {"lang": tricky, "score": 0.25},
            ],
        )
        query = [1.0, 0.0, 0.0]
        assert set(ids_of(store.query(collection, vector=query, where={"lang": "en"}))) == {
            "en1",
            "en2",
        }
        assert ids_of(
            store.query(collection, vector=query, where={"year": 2024, "lang": "de"})
        ) == ["de1"]
        assert ids_of(
            store.query(
                collection, vector=query, where={"lang": "en", "year": 2024, "draft": False}
            )
        ) == ["en1"]
        assert ids_of(store.query(collection, vector=query, where={"draft": True})) == ["en2"]
        assert ids_of(store.query(collection, vector=query, where={"lang": tricky})) == ["odd"]
        assert ids_of(store.query(collection, vector=query, where={"score": 0.25})) == ["odd"]
        assert store.query(collection, vector=query, where={"lang": "fr"}) == []
        assert store.query(collection, vector=query, where={"lang": "en", "year": 1999}) == []
        assert store.query(collection, vector=query, where={"nokey": "x"}) == []
        assert len(store.query(collection, vector=query, where={})) == 4

    def test_delete_and_count(self, store: VectorStore, collection: str) -> None:
        store.upsert(
            collection,
            ids=["a", "b", "c", "it's"],
            vectors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]],
        )
        assert store.count(collection) == 4
        store.delete(collection, ids=["b", "it's", "never-there"])
        assert store.count(collection) == 2
        assert [record.id for record in store.get(collection, ids=["a", "b", "c", "it's"])] == [
            "a",
            "c",
        ]
        assert "b" not in ids_of(store.query(collection, vector=[0.0, 1.0, 0.0]))

    # ------------------------------------------------------------------------- user mistakes

    def test_dimension_mismatch(self, store: VectorStore, collection: str) -> None:
        with pytest.raises(VectorInputError, match="dimension") as caught:
            store.upsert(collection, ids=["a"], vectors=[[1.0, 0.0]])
        assert caught.value.datasource == "vec"
        with pytest.raises(VectorInputError, match="dimension"):
            store.query(collection, vector=[1.0, 0.0, 0.0, 0.0])
        with pytest.raises(VectorInputError, match=r"vectors\[1\]"):
            store.upsert(collection, ids=["a", "b"], vectors=[[1.0, 0.0, 0.0], [1.0, 0.0]])
        assert store.count(collection) == 0

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (
                {"ids": ["a", "b"], "vectors": [[1.0, 0.0, 0.0]]},
                "vectors has 1 entries but ids has 2",
            ),
            (
                {"ids": ["a"], "vectors": [[1.0, 0.0, 0.0]], "metadatas": [{}, {}]},
                "metadatas has 2",
            ),
            ({"ids": ["a"], "vectors": [[1.0, 0.0, 0.0]], "documents": []}, "documents has 0"),
            ({"ids": [], "vectors": []}, "ids is empty"),
            ({"ids": "a", "vectors": [[1.0, 0.0, 0.0]]}, "list of strings"),
            ({"ids": ["a", "a"], "vectors": [[1.0, 0.0, 0.0]] * 2}, "duplicates"),
            ({"ids": [1], "vectors": [[1.0, 0.0, 0.0]]}, "non-empty string"),
            ({"ids": ["a"], "vectors": [["1", 0.0, 0.0]]}, "not a number"),
            ({"ids": ["a"], "vectors": [[math.nan, 0.0, 0.0]]}, "not finite"),
            ({"ids": ["a"], "vectors": [[]]}, "empty"),
            ({"ids": ["a"], "vectors": [[1.0, 0.0, 0.0]], "metadatas": [{"k": [1]}]}, "str, int"),
            ({"ids": ["a"], "vectors": [[1.0, 0.0, 0.0]], "metadatas": [{"": 1}]}, "keys must"),
            ({"ids": ["a"], "vectors": [[1.0, 0.0, 0.0]], "documents": [3]}, "string or None"),
        ],
    )
    def test_bad_upserts_are_clear_errors(
        self, store: VectorStore, collection: str, arguments: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(VectorInputError, match=message) as caught:
            store.upsert(collection, **arguments)
        assert caught.value.datasource == "vec"
        assert isinstance(caught.value, ValueError)

    def test_other_bad_arguments(self, store: VectorStore, collection: str) -> None:
        # wrong types on purpose: the checks must catch what a type checker would
        cases: list[tuple[Callable[[], object], str]] = [
            (lambda: store.create_collection("bad name!", dimension=3), "not a valid"),
            (
                lambda: store.create_collection(self.unique("m"), dimension=3, metric="dot"),  # type: ignore[arg-type]
                "unknown metric",
            ),
            (lambda: store.create_collection(self.unique("d"), dimension=0), "dimension"),
            (lambda: store.has_collection(""), "not a valid"),
            (lambda: store.query(collection, vector=[1.0, 0.0, 0.0], top_k=0), "top_k"),
            (lambda: store.query(collection, vector="abc"), "list of numbers"),  # type: ignore[arg-type]
            (
                lambda: store.query(collection, vector=[1.0, 0.0, 0.0], where={"k": None}),  # type: ignore[dict-item]
                "str, int",
            ),
            (
                lambda: store.query(collection, vector=[1.0, 0.0, 0.0], where=[("k", 1)]),  # type: ignore[arg-type]
                "mapping",
            ),
            (lambda: store.get(collection, ids=[]), "ids is empty"),
            (lambda: store.delete(collection, ids=["ok", ""]), "non-empty"),
        ]
        for call, message in cases:
            with pytest.raises(VectorInputError, match=message) as caught:
                call()
            assert caught.value.datasource == "vec"

    # ------------------------------------------------------------------------- volume

    def test_thousand_vectors(self, store: VectorStore) -> None:
        name = self.unique("bulk")
        store.create_collection(name, dimension=64)
        try:
            rng = random.Random(64)
            vectors = [[rng.uniform(-1.0, 1.0) for _ in range(64)] for _ in range(1000)]
            ids = [f"id-{i}" for i in range(1000)]
            metadatas = [{"group": i % 10, "even": i % 2 == 0} for i in range(1000)]
            store.upsert(name, ids=ids, vectors=vectors, metadatas=metadatas)
            assert store.count(name) == 1000

            for probe in (0, 123, 999):
                hits = store.query(name, vector=vectors[probe], top_k=5)
                assert len(hits) == 5
                assert hits[0].id == f"id-{probe}"
                assert hits[0].score == pytest.approx(1.0, abs=1e-4)
                assert hits[0].metadata == metadatas[probe]
                assert all(-1.0 - 1e-6 <= hit.score <= 1.0 + 1e-6 for hit in hits)

            filtered = store.query(name, vector=vectors[7], top_k=20, where={"group": 7})
            assert filtered[0].id == "id-7"
            assert all(hit.metadata["group"] == 7 for hit in filtered)

            sample = rng.sample(range(1000), 25)
            records = store.get(name, ids=[ids[i] for i in sample])
            assert [record.id for record in records] == [ids[i] for i in sample]
            for record, i in zip(records, sample, strict=True):
                assert record.vector == pytest.approx(vectors[i], rel=1e-5, abs=1e-6)

            store.delete(name, ids=ids[:500])
            assert store.count(name) == 500
        finally:
            store.drop_collection(name)
