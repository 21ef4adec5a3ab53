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
    first = REDIS_FLAT.make(base, request)
    try:
        first.add_documents([Document(id="a1", page_content="t")])
        with pytest.raises(InvalidParameterError, match=rf"would share keys with the existing index\(es\) \['{base}'\]"):
            REDIS_FLAT.make(base + suffix, request)
        assert first.count() == 1
        assert [d.id for d in first.similarity_search("t", k=10)] == ["a1"]
    finally:
        drop(first)


@pytest.mark.integration
def test_redis_index_whose_name_a_new_one_extends_is_refused_too(request: Any) -> None:
    """The other order: ``t:docs`` exists, then ``t`` is created (its prefix ``t:doc`` holds the other's keys)."""
    base = fresh_name()
    first = REDIS_FLAT.make(base + ":docs", request)
    try:
        with pytest.raises(InvalidParameterError, match="would share keys"):
            REDIS_FLAT.make(base, request)
        second = REDIS_FLAT.make(base + "1", request)  # a name that only looks alike is fine
        second.add_documents([Document(id="b1", page_content="t")])
        first.add_documents([Document(id="a1", page_content="t")])
        assert (first.count(), second.count()) == (1, 1)
        drop(second)
    finally:
        drop(first)
