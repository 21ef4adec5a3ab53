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

import numpy as np
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from fake_store import FakeStore
from harness import VARIANTS, Variant, add_both, assert_same_documents, examples, harness_embeddings
from store_fixtures import STORE_KINDS
from strategies import corpora, filters, queries

SCORE_TOL = 1e-5


def fresh_reference() -> FakeStore:
    """An empty reference store on the harness embeddings (cosine)."""
    return FakeStore(harness_embeddings(), metric="cosine")


def test_every_store_kind_has_a_variant() -> None:
    """Adding a store to ``STORE_KINDS`` without a harness variant fails here (one line in harness.py)."""
    covered = {v.store for v in VARIANTS}
    assert {k.name for k in STORE_KINDS} <= covered


@settings(max_examples=examples(12))
@given(corpus=st.booleans().flatmap(lambda holdable: corpora(max_size=8, holdable_only=holdable)))
def test_documents_come_back_as_the_reference_holds_them(variant_store: Any, corpus: list) -> None:
    """Generated ids, text and metadata: accepted or refused as the reference does; ``get_by_ids``
    returns the same text and the same metadata values and types; ``delete`` removes exactly the ids."""
    variant_store.delete(None)
    ref = fresh_reference()
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


def _hits(store: Any, query: str, k: int, filt: Any) -> list[tuple[str, float]]:
    return [(d.id, s) for d, s in store.similarity_search_with_score(query, k=k, filter=filt)]


@settings(max_examples=examples(15))
@given(corpus=corpora(min_size=1, max_size=12, holdable_only=True), filt=filters(), query=queries(), k=st.integers(1, 6))
def test_filters_and_top_k_match_the_reference(variant: Variant, variant_store: Any, corpus: list, filt: Any, query: str, k: int) -> None:
    """The same filter result set as the reference; the same top-k with scores within 1e-5 on an exact
    index; ``min(k, matching)`` distinct matching results on an approximate one; MMR picks
    ``min(k, matching)`` distinct matching documents."""
    variant_store.delete(None)
    ref = fresh_reference()
    assume(add_both(ref, variant_store, corpus) is None)
    n = len(corpus)
    everything = dict(_hits(ref, query, n, filt))  # the matching documents and their exact scores
    event("matching: none" if not everything else "matching: fewer than k" if len(everything) < k else "matching: at least k")
    got_all = _hits(variant_store, query, n, filt)
    assert {i for i, _ in got_all} == set(everything), "filter result sets differ"
    got = _hits(variant_store, query, k, filt)
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids)) == min(k, len(everything))
    assert set(ids) <= set(everything)
    if variant.exact:
        want = _hits(ref, query, k, filt)
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=SCORE_TOL)
        np.testing.assert_allclose([s for _, s in got], [everything[i] for i in ids], atol=SCORE_TOL)
    mmr = [d.id for d in variant_store.max_marginal_relevance_search(query, k=k, fetch_k=n, filter=filt)]
    assert len(mmr) == len(set(mmr)) == min(k, len(everything))
    assert set(mmr) <= set(everything)
