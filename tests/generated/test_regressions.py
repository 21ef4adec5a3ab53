"""Faults the generated harness found, each as a plain test with its minimal failing example.

A new entry: the shrunk example Hypothesis printed (``make fuzz`` keeps it in ``.hypothesis/``),
written out by hand with the right value asserted, named after the fault class.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document

from generated.harness import VARIANTS, drop, fresh_name
from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.redis_schema import overlapping_indexes

REDIS_FLAT = next(v for v in VARIANTS if v.name == "redis-flat")


def test_overlapping_indexes_names_every_prefix_clash() -> None:
    """The rule: keys overlap when either prefix starts with the other (RediSearch has no separator)."""
    others = {"t:docs": ["t:docs:doc"], "t:doc:x": ["t:doc:x:doc"], "t1": ["t1:doc"], "u": ["u:doc"]}
    assert overlapping_indexes("t:doc", others) == ["t:doc:x", "t:docs"]
    assert overlapping_indexes("t:docs:doc:a", others) == ["t:docs"]
    assert overlapping_indexes("v:doc", others) == []


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [":docs", ":doc:x", ":doc"])
def test_redis_index_whose_name_extends_another_is_refused(suffix: str, request: Any) -> None:
    """Found by test_shared_server: store ``t`` (key prefix ``t:doc``) and store ``t:docs`` (keys
    ``t:docs:doc:<id>``) on one server. Before the fix ``t`` counted 3 documents instead of 1, its
    search returned the other store's documents (ids ``:doc:b1``), and its ``delete()`` / ``drop()``
    deleted them. Now the second store is refused at creation, naming the first."""
    base = fresh_name()
    first = REDIS_FLAT.new(base, request)
    try:
        first.add_documents([Document(id="a1", page_content="t")])
        with pytest.raises(InvalidParameterError, match=rf"would share keys with the existing index\(es\) \['{base}'\]"):
            REDIS_FLAT.new(base + suffix, request)
        assert first.count() == 1
        assert [d.id for d in first.similarity_search("t", k=10)] == ["a1"]
    finally:
        drop(first)


@pytest.mark.integration
def test_redis_index_whose_name_a_new_one_extends_is_refused_too(request: Any) -> None:
    """The other order: ``t:docs`` exists, then ``t`` is created (its prefix ``t:doc`` holds the other's keys)."""
    base = fresh_name()
    first = REDIS_FLAT.new(base + ":docs", request)
    try:
        with pytest.raises(InvalidParameterError, match="would share keys"):
            REDIS_FLAT.new(base, request)
        second = REDIS_FLAT.new(base + "1", request)  # a name that only looks alike is fine
        second.add_documents([Document(id="b1", page_content="t")])
        first.add_documents([Document(id="a1", page_content="t")])
        assert (first.count(), second.count()) == (1, 1)
        drop(second)
    finally:
        drop(first)


MILVUS_FLAT = next(v for v in VARIANTS if v.name == "milvus-flat")


@pytest.mark.integration
def test_milvus_store_opened_after_the_shared_channel_was_closed_connects(monkeypatch: Any, request: Any) -> None:
    """Found by the harness's full run: a Milvus Lite store opened after ~90 s without a call (the
    server had sent gRPC GOAWAY "Too many pings" on pymilvus's shared channel) failed with
    ``StoreConnectionError`` ("Fail connecting to server"), though the next try worked. The first
    connect attempt failing as it did then, the store now opens and answers."""
    import pymilvus
    from pymilvus.exceptions import MilvusException

    real = pymilvus.MilvusClient
    calls = []

    class Flaky(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise MilvusException(code=2, message="Fail connecting to server on 127.0.0.1:1, illegal connection params or server unavailable")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pymilvus, "MilvusClient", Flaky)
    store = MILVUS_FLAT.new(fresh_name(), request)
    try:
        store.add_documents([Document(id="O'Brien report.pdf", page_content="t")])
        assert [d.id for d in store.get_by_ids(["O'Brien report.pdf"])] == ["O'Brien report.pdf"]
        assert len(calls) == 2
    finally:
        drop(store)


NUMERIC_AS_GIVEN = [
    pytest.param(v, id=v.name, marks=v.marks) for v in VARIANTS if v.name in ("fake", "faiss-flat", "redis-flat", "milvus-flat")
]


@pytest.mark.parametrize("variant", NUMERIC_AS_GIVEN)
def test_numeric_field_holding_a_string_filters_alike_on_every_store(variant: Any, request: Any) -> None:
    """Found by test_filters_and_top_k_match_the_reference (minimal example: one document with
    ``metadata={'year': '2001'}``, a CSV loader's number): Redis refused the batch with
    ``InvalidParameterError("metadata 'year'='2001' is not a number ...")`` naming no document, while
    FAISS and Milvus stored it and matched it as 2001 (and FAISS matched ``"inf"`` where Milvus did
    not). One rule now (``filters.as_number``): a numeric filter reads a finite number or a string
    that parses as one; anything else never matches; the metadata comes back as given."""
    store = variant.new(fresh_name(), request)
    try:
        docs = [
            Document(id="a", page_content="a", metadata={"year": "2001"}),
            Document(id="b", page_content="b", metadata={"year": 2002}),
            Document(id="c", page_content="c", metadata={"year": "n/a"}),
            Document(id="d", page_content="d", metadata={"year": True}),
            Document(id="e", page_content="e", metadata={"year": "inf"}),
            Document(id="f", page_content="f", metadata={"year": " 1999 "}),
        ]
        store.add_documents(docs)
        assert {d.id for d in store.similarity_search("a", k=10, filter={"year": {"$gte": 2000}})} == {"a", "b"}
        assert {d.id for d in store.similarity_search("a", k=10, filter={"year": {"$lt": 2000}})} == {"f"}
        assert [d.metadata for d in store.get_by_ids(["a", "c", "d"])] == [{"year": "2001"}, {"year": "n/a"}, {"year": True}]
    finally:
        drop(store)


L2_VARIANTS = [pytest.param(v, id=v.name, marks=v.marks) for v in VARIANTS if v.metric == "l2"] + [
    pytest.param(next(v for v in VARIANTS if v.name == "fake"), id="fake")
]


@pytest.mark.parametrize("variant", L2_VARIANTS)
def test_l2_score_of_a_document_identical_to_the_query_is_zero(variant: Any, request: Any) -> None:
    """Found by test_filters_and_top_k_match_the_reference[redis-flat-l2] (minimal example: texts
    ``'graph'``, ``'0'``, ``''``, query ``''``, k=1): the reference (and FAISS's filtered exact path,
    ``stores.ops.exact_scores``) scored the identical document -0.000345 (float32 cancellation in
    |q|^2 - 2 q.v + |v|^2), Redis and FAISS's index 0. Now 0 everywhere, within 1e-5."""
    from generated.harness import fresh_reference

    store = fresh_reference("l2") if variant.name == "fake" else variant.new(fresh_name(), request)
    try:
        store.add_documents([Document(id=i, page_content=t, metadata={"group": "g"}) for i, t in (("a", "graph"), ("b", "0"), ("c", ""))])
        hits = store.similarity_search_with_score("", k=1)
        assert hits[0][0].id == "c" and abs(hits[0][1]) <= 1e-5
        filtered = store.similarity_search_with_score("", k=1, filter={"group": "g"})  # FAISS: the exact numpy path
        assert abs(filtered[0][1]) <= 1e-5
    finally:
        drop(store)
