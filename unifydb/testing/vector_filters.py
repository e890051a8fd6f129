"""Conformance: the filter language, the score convention across metrics, delete and
count by filter, hostile keys and values, and namespaces (part of
:class:`~unifydb.testing.vectors.VectorStoreConformance`)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from unifydb.errors import UnsupportedOperationError
from unifydb.vectorstore import (
    ALL_OPERATORS,
    UnsupportedFilterError,
    VectorInputError,
    VectorStore,
)

from ._vector_base import ConformanceBase, ids_of

#: id -> metadata of the records the filter tests search
RECORDS: dict[str, dict[str, Any]] = {
    "a": {"lang": "en", "year": 2020, "score": 0.5, "draft": False, "tag": "x"},
    "b": {"lang": "en", "year": 2022, "score": 1.5, "draft": True},
    "c": {"lang": "de", "year": 2024, "score": 2.5, "draft": False, "tag": "y"},
    "d": {"lang": "fr", "year": 2023, "draft": True, "tag": "x"},
    "e": {"lang": "it", "year": 2021, "flag": 1},
    "f": {},
    "g": {"flag": True},
}

#: (where, the ids it matches); every operator, alone and combined
FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"lang": "en"}, {"a", "b"}),
    ({"lang": {"$eq": "de"}}, {"c"}),
    ({"lang": {"$ne": "en"}}, {"c", "d", "e", "f", "g"}),  # records without the key too
    ({"year": {"$gt": 2022}}, {"c", "d"}),
    ({"year": {"$gte": 2022}}, {"b", "c", "d"}),
    ({"year": {"$lt": 2021}}, {"a"}),
    ({"year": {"$lte": 2021}}, {"a", "e"}),
    ({"year": {"$gt": 2020, "$lt": 2024}}, {"b", "d", "e"}),
    ({"score": {"$gte": 1.0}}, {"b", "c"}),
    ({"score": {"$lt": 1}}, {"a"}),
    ({"score": 1.5}, {"b"}),
    ({"year": 2022.0}, {"b"}),  # numbers compare by value
    ({"lang": {"$in": ["de", "fr"]}}, {"c", "d"}),
    ({"year": {"$in": [2020, 2024]}}, {"a", "c"}),
    ({"score": {"$in": [0.5, 2.5]}}, {"a", "c"}),
    ({"lang": {"$nin": ["en", "de"]}}, {"d", "e", "f", "g"}),
    ({"year": {"$nin": [2020, 2021]}}, {"b", "c", "d", "f", "g"}),
    ({"draft": True}, {"b", "d"}),
    ({"draft": False}, {"a", "c"}),
    ({"draft": {"$in": [True]}}, {"b", "d"}),
    ({"flag": True}, {"g"}),  # True is not 1
    ({"flag": 1}, {"e"}),
    ({"tag": {"$ne": "x"}}, {"b", "c", "e", "f", "g"}),
    ({"lang": "en", "draft": True}, {"b"}),
    ({"$and": [{"lang": "en"}, {"draft": False}]}, {"a"}),
    ({"$and": [{"tag": "x"}]}, {"a", "d"}),
    ({"$or": [{"lang": "de"}, {"year": {"$lt": 2021}}]}, {"a", "c"}),
    ({"$or": [{"$and": [{"lang": "en"}, {"year": {"$gte": 2022}}]}, {"tag": "y"}]}, {"b", "c"}),
    ({"$or": [{"lang": "en"}, {"lang": {"$ne": "en"}}]}, set(RECORDS)),
    ({"nokey": "x"}, set()),
    ({"lang": "EN"}, set()),
]

#: values and keys that break naive quoting in SQL, Milvus expressions or key paths
HOSTILE_VALUES = [
    "it's",
    'say "hi"',
    '"] or true or metadata["x',
    "x' OR '1'='1",
    "'); DROP TABLE t; --",
    "back\\slash",
    "new\nline",
    "%s %(x)s $1 {}",
    "ünï ☃",
]
HOSTILE_KEYS = ["a.b", "a'b", "k]", "x) or (1=1", "%s", "ünï", "a-b c"]


def _unit(rng: random.Random, dimension: int) -> list[float]:
    return [round(rng.uniform(-1.0, 1.0), 3) for _ in range(dimension)]


def reference_scores(
    metric: str, vectors: dict[str, list[float]], query: list[float]
) -> list[tuple[str, float]]:
    """Every record's score under unifydb's convention, best first (float64)."""
    import numpy as np

    q = np.asarray(query, dtype=np.float64)
    scored = []
    for record_id, vector in vectors.items():
        v = np.asarray(vector, dtype=np.float64)
        if metric == "cosine":
            score = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))
        elif metric == "ip":
            score = float(q @ v)
        else:
            score = -float(((q - v) ** 2).sum())
        scored.append((record_id, score))
    return sorted(scored, key=lambda item: item[1], reverse=True)


class FilterConformance(ConformanceBase):
    """Filters, scores, delete/count by filter and namespaces."""

    def _filled(self, store: VectorStore, name: str) -> None:
        ids = list(RECORDS)
        vectors = [[1.0, float(index), 0.5] for index in range(len(ids))]
        metadatas = [RECORDS[record_id] for record_id in ids]
        store.upsert(name, ids=ids, vectors=vectors, metadatas=metadatas)

    def _count(self, store: VectorStore, name: str, where: dict[str, Any]) -> int | None:
        """``count(where=...)``; None where the backend refuses it (clearly) by design."""
        if store.counts_with_filter:
            return store.count(name, where=where)
        with pytest.raises(UnsupportedFilterError, match="count") as caught:
            store.count(name, where=where)
        assert caught.value.datasource == "vec"
        return None

    # ------------------------------------------------------------------------- the language

    def test_every_filter_operator(self, store: VectorStore, collection: str) -> None:
        self._filled(store, collection)
        wrong = []
        for where, exact in FILTER_CASES:
            quirk = store.booleans_match_numbers and "flag" in where
            expected = {"e", "g"} if quirk else exact  # documented for Milvus: True == 1
            found = set(ids_of(store.query(collection, vector=[1.0, 0.0, 0.0], where=where)))
            counted = self._count(store, collection, where)
            counted = len(found) if counted is None else counted
            if found != expected or counted != len(expected):
                wrong.append(
                    f"{where}: query {sorted(found)}, count {counted}, expected {sorted(expected)}"
                )
        assert not wrong, "\n".join(wrong)
        assert store.count(collection) == len(RECORDS)
        assert store.count(collection, where={}) == len(RECORDS)

    def test_every_operator_is_supported_or_refused_clearly(
        self, store: VectorStore, collection: str
    ) -> None:
        self._filled(store, collection)
        examples: dict[str, dict[str, Any]] = {
            "$eq": {"lang": {"$eq": "en"}},
            "$ne": {"lang": {"$ne": "en"}},
            "$gt": {"year": {"$gt": 1}},
            "$gte": {"year": {"$gte": 1}},
            "$lt": {"year": {"$lt": 1}},
            "$lte": {"year": {"$lte": 1}},
            "$in": {"lang": {"$in": ["en"]}},
            "$nin": {"lang": {"$nin": ["en"]}},
            "$and": {"$and": [{"lang": "en"}, {"year": 2020}]},
            "$or": {"$or": [{"lang": "en"}, {"year": 2020}]},
        }
        assert set(examples) == set(ALL_OPERATORS)
        for operator, where in examples.items():
            if operator in store.filter_operators:
                store.query(collection, vector=[1.0, 0.0, 0.0], where=where)
                continue
            with pytest.raises(
                UnsupportedFilterError, match=operator.replace("$", r"\$")
            ) as caught:
                store.query(collection, vector=[1.0, 0.0, 0.0], where=where)
            assert caught.value.datasource == "vec"

    @pytest.mark.parametrize(
        ("where", "message"),
        [
            ({"lang": {"$regex": "e.*"}}, "unknown operator '\\$regex'"),
            ({"$not": {"lang": "en"}}, "unknown operator '\\$not'"),
            ({"year": {"$gt": "2020"}}, "numbers only"),
            ({"year": {"$gt": True}}, "numbers only"),
            ({"lang": {"$in": []}}, "non-empty list"),
            ({"lang": {"$in": "en"}}, "non-empty list"),
            ({"lang": {"$in": ["en", 1]}}, "mixes kinds"),
            ({"lang": {"$nin": [True, 1]}}, "mixes kinds"),
            ({"$and": {"lang": "en"}}, "non-empty list of filters"),
            ({"$or": []}, "non-empty list of filters"),
            ({"$or": [{}]}, "non-empty mapping"),
            ({"lang": {}}, "empty mapping"),
            ({"lang": ["en"]}, "str, int, float or bool"),
            ({"lang": None}, "str, int, float or bool"),
            ({"year": float("nan")}, "str, int, float or bool"),
            ({"": 1}, "non-empty strings"),
        ],
    )
    def test_bad_filters_are_clear_errors(
        self, store: VectorStore, collection: str, where: dict[str, Any], message: str
    ) -> None:
        for call in (
            lambda: store.query(collection, vector=[1.0, 0.0, 0.0], where=where),
            lambda: store.count(collection, where=where),
            lambda: store.delete(collection, where=where),
        ):
            with pytest.raises(VectorInputError, match=message) as caught:
                call()
            assert caught.value.datasource == "vec"

    def test_hostile_keys_and_values_match_exactly(
        self, store: VectorStore, collection: str
    ) -> None:
        ids = [f"v{index}" for index in range(len(HOSTILE_VALUES))]
        keys = [f"k{index}" for index in range(len(HOSTILE_KEYS))]
        store.upsert(
            collection,
            ids=ids + keys,
            vectors=[[1.0, float(i), 0.0] for i in range(len(ids) + len(keys))],
            metadatas=[{"text": value} for value in HOSTILE_VALUES]
            + [{key: "here"} for key in HOSTILE_KEYS],
        )
        total = len(ids) + len(keys)
        for record_id, value in zip(ids, HOSTILE_VALUES, strict=True):
            assert self._count(store, collection, {"text": value}) in (1, None), value
            hits = store.query(collection, vector=[1.0, 0.0, 0.0], where={"text": {"$in": [value]}})
            assert ids_of(hits) == [record_id], value
            others = store.query(
                collection, vector=[1.0, 0.0, 0.0], top_k=50, where={"text": {"$ne": value}}
            )
            assert len(others) == total - 1 and record_id not in ids_of(others), value
        for record_id, key in zip(keys, HOSTILE_KEYS, strict=True):
            hits = store.query(collection, vector=[1.0, 0.0, 0.0], where={key: "here"})
            assert ids_of(hits) == [record_id], key
        assert store.count(collection) == total  # nothing was dropped or deleted on the way
        store.delete(collection, where={"text": "'); DROP TABLE t; --"})
        assert store.count(collection) == total - 1

    def test_a_key_with_double_quotes_works_or_is_refused_clearly(
        self, store: VectorStore, collection: str
    ) -> None:
        key = 'q"uote'
        store.upsert(
            collection,
            ids=["q", "p"],
            vectors=[[1.0, 0.0, 0.0]] * 2,
            metadatas=[{key: 1}, {"other": 1}],
        )
        try:
            hits = store.query(collection, vector=[1.0, 0.0, 0.0], where={key: 1})
        except VectorInputError as error:
            assert error.datasource == "vec"
            assert "quote" in str(error)
        else:
            assert ids_of(hits) == ["q"]

    # ------------------------------------------------------------------------- delete and count

    def test_delete_by_filter_and_count(self, store: VectorStore, collection: str) -> None:
        self._filled(store, collection)
        store.delete(collection, where={"lang": "en"})
        assert store.count(collection) == len(RECORDS) - 2
        assert store.get(collection, ids=["a", "b", "c"])[0].id == "c"
        store.delete(collection, where={"$or": [{"year": {"$gte": 2023}}, {"tag": "y"}]})
        assert sorted(r.id for r in store.get(collection, ids=list(RECORDS))) == ["e", "f", "g"]
        assert self._count(store, collection, {"year": {"$gt": 0}}) in (1, None)
        store.delete(collection, where={"nokey": 1})  # matches nothing: fine
        assert store.count(collection) == 3

    def test_delete_takes_ids_or_where(self, store: VectorStore, collection: str) -> None:
        cases: list[dict[str, Any]] = [{}, {"ids": ["a"], "where": {"lang": "en"}}, {"where": {}}]
        for arguments in cases:
            with pytest.raises(VectorInputError, match=r"ids or where|empty where") as caught:
                store.delete(collection, **arguments)
            assert caught.value.datasource == "vec"

    # ------------------------------------------------------------------------- scores

    @pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
    def test_scores_match_the_reference_on_every_backend(
        self, store: VectorStore, metric: Any
    ) -> None:
        """The same data and queries give the same ids, in the same order, with scores
        within 1e-4 of unifydb's formula (computed here in float64) on every backend."""
        rng = random.Random(20240607)
        vectors = {f"r{index:02d}": _unit(rng, 8) for index in range(40)}
        queries = [_unit(rng, 8) for _ in range(3)]
        name = self.unique(f"ref_{metric}")
        store.create_collection(name, dimension=8, metric=metric)
        try:
            store.upsert(name, ids=list(vectors), vectors=list(vectors.values()))
            for query in queries:
                expected = reference_scores(metric, vectors, query)[:10]
                hits = store.query(name, vector=query, top_k=10)
                assert ids_of(hits) == [record_id for record_id, _ in expected]
                for hit, (_, score) in zip(hits, expected, strict=True):
                    assert hit.score == pytest.approx(score, abs=1e-4)
        finally:
            store.drop_collection(name)

    # ------------------------------------------------------------------------- namespaces

    def test_namespaces(self, store: VectorStore, collection: str) -> None:
        if not store.supports_namespaces:
            for call in (
                lambda: store.upsert(
                    collection, ids=["a"], vectors=[[1.0, 0.0, 0.0]], namespace="ns"
                ),
                lambda: store.query(collection, vector=[1.0, 0.0, 0.0], namespace="ns"),
                lambda: store.count(collection, namespace="ns"),
            ):
                with pytest.raises(UnsupportedOperationError, match="namespace") as caught:
                    call()
                assert caught.value.datasource == "vec"
            assert store.count(collection, namespace="") == 0  # "" is the default namespace
            return
        store.upsert(
            collection,
            ids=["a", "b"],
            vectors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            metadatas=[{"n": 0}, {"n": 0}],
        )
        store.upsert(
            collection, ids=["a"], vectors=[[0.0, 0.0, 1.0]], metadatas=[{"n": 1}], namespace="one"
        )
        store.upsert(
            collection,
            ids=["a", "c"],
            vectors=[[0.0, 1.0, 0.0]] * 2,
            metadatas=[{"n": 2}, {"n": 2}],
            namespace="two",
        )
        assert store.count(collection) == 2
        assert store.count(collection, namespace="one") == 1
        assert store.count(collection, namespace="two") == 2
        (a_one,) = store.get(collection, ids=["a"], namespace="one")
        assert a_one.metadata == {"n": 1}
        assert a_one.vector == pytest.approx([0.0, 0.0, 1.0])
        assert store.get(collection, ids=["a"])[0].metadata == {"n": 0}
        assert store.get(collection, ids=["c"]) == []
        hits = store.query(collection, vector=[0.0, 1.0, 0.0], namespace="two")
        assert sorted(ids_of(hits)) == ["a", "c"]
        assert all(hit.metadata == {"n": 2} for hit in hits)
        store.delete(collection, where={"n": 2}, namespace="two")
        assert store.count(collection, namespace="two") == 0
        store.delete(collection, ids=["a"], namespace="one")
        assert store.count(collection, namespace="one") == 0
        assert store.count(collection) == 2
