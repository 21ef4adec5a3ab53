"""Faults the generated harness found, each as a plain test with its minimal failing example.

A new entry: the shrunk example Hypothesis printed (``make fuzz`` keeps it in ``.hypothesis/``),
written out by hand with the right value asserted, named after the fault class.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document

from harness import VARIANTS, drop, fresh_name
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
