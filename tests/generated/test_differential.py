"""Differential tests: generated corpora, filters and queries on every store and index kind, each
compared with the reference store (``tests/fake_store.py``).

What must agree (issue 23): the ids, text and metadata (values AND types) ``get_by_ids`` returns; the
inputs refused at add time (same error class and message, naming the document); the filter result
sets; the top-k of exact indexes (scores within 1e-5); ``k`` results from approximate indexes when at
least ``k`` documents match. The variants come from ``harness.VARIANTS``; the profiles from
``conftest.py``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from generated.harness import VARIANTS, Variant, add_both, assert_same_documents, assert_same_search, examples, fresh_reference
from store_fixtures import STORE_KINDS
from generated.strategies import corpora, filters, queries

def test_every_store_kind_has_a_variant() -> None:
    """Adding a store to ``STORE_KINDS`` without a harness variant fails here (one line in harness.py)."""
    covered = {v.store for v in VARIANTS}
    assert {k.name for k in STORE_KINDS} <= covered


def test_documents_come_back_as_the_reference_holds_them(variant: Variant, variant_store: Any) -> None:
    """Generated ids, text and metadata: accepted or refused as the reference does; ``get_by_ids``
    returns the same text and the same metadata values and types; ``delete`` removes exactly the ids."""

    @settings(max_examples=examples(10, variant))
    @given(corpus=st.booleans().flatmap(lambda holdable: corpora(max_size=8, holdable_only=holdable)))
    def check(corpus: list) -> None:
        round_trip(variant, variant_store, corpus)

    check()


def round_trip(variant: Variant, variant_store: Any, corpus: list) -> None:
    """One example of :func:`test_documents_come_back_as_the_reference_holds_them`."""
    variant_store.delete(None)
    ref = fresh_reference(variant.metric)
    if add_both(ref, variant_store, corpus) is not None:
        return
    ids = [d.id for d in corpus]
    assert variant_store.count() == ref.count() == len(ids)
    assert_same_documents(ref, variant_store, ids + ["no such id"])
    gone = ids[::2]
    variant_store.delete(gone)
    ref.delete(gone)
    assert variant_store.get_by_ids(gone) == []
    assert_same_documents(ref, variant_store, ids)
    assert variant_store.count() == ref.count()


def test_filters_and_top_k_match_the_reference(variant: Variant, variant_store: Any) -> None:
    """The same filter result set as the reference; the same top-k with scores within 1e-5 on an exact
    index; ``min(k, matching)`` distinct matching results on an approximate one; MMR picks
    ``min(k, matching)`` distinct matching documents."""

    @settings(max_examples=examples(12, variant))
    @given(corpus=corpora(min_size=1, max_size=12, holdable_only=True), filt=filters(), query=queries(), k=st.integers(1, 6))
    def check(corpus: list, filt: Any, query: str, k: int) -> None:
        variant_store.delete(None)
        ref = fresh_reference(variant.metric)
        assume(add_both(ref, variant_store, corpus) is None)
        assert_same_search(ref, variant_store, variant.exact, query, k, filt)

    check()
