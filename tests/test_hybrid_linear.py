"""Linear fusion: a document an arm did not return scores strictly below every document it did
return, for every normalisation, at alpha 0, 1 and in between, with single-hit arms, ties and
empty arms (issue 23, fault 5). Unit tests on fuse_runs, then real BM25 + a real FAISS store."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.retrievers.fusion import MIN_NORMALISED, NORMS, fuse_runs, normalise_arm
from langchain_embcompare.retrievers.hybrid import HybridRetriever
from langchain_embcompare.retrievers.lexical import BM25Retriever


def order(dense, lexical, **kw):
    return [d for d, _ in fuse_runs([dense], [lexical], fusion="linear", **kw)[0]]


def test_alpha_0_puts_a_single_bm25_hit_above_every_dense_only_document():
    # the issue's example: the lexical arm's only (and so last) hit used to get ranx' 0, as the
    # documents it did not return, and could rank below them
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    for lexical in ([("z", 3.0)], [("c", 7.0)], [("z", 9.0), ("y", 2.0)]):
        got = fuse_runs([dense], [lexical], fusion="linear", alpha=0.0)[0]
        hits = [d for d, _ in lexical]
        assert [d for d, _ in got][: len(hits)] == hits
        scores = dict(got)
        assert min(scores[h] for h in hits) > max(s for d, s in got if d not in hits)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_every_returned_document_outscores_a_missing_one(norm, alpha):
    rng = np.random.default_rng(7)
    ids = [f"d{i}" for i in range(12)]
    for _ in range(20):
        nd, nl = rng.integers(1, 8, size=2)
        dsel = rng.choice(ids, nd, replace=False)
        lsel = rng.choice(ids, nl, replace=False)
        dense = sorted(zip(dsel, rng.uniform(0.05, 0.95, nd).round(2)), key=lambda x: -x[1])  # cosine-like, ties possible
        lexical = sorted(zip(lsel, rng.uniform(0.5, 20, nl).round(0)), key=lambda x: -x[1])  # BM25-like
        got = dict(fuse_runs([dense], [lexical], fusion="linear", alpha=alpha, norm=norm)[0])
        assert set(got) == set(dsel) | set(lsel)
        both = {d: (alpha if d in dsel else 0.0, 1 - alpha if d in lsel else 0.0) for d in got}
        # per arm with weight > 0: each document it returned beats, by that arm's share, one it did not
        # -> the weighted arm's hits alone decide the order at alpha 0 and 1
        if alpha in (0.0, 1.0):
            arm = lsel if alpha == 0.0 else dsel
            assert min(got[d] for d in arm) > max([got[d] for d in got if d not in arm], default=-1.0)
        # in between: every document gets > 0 from each weighted arm that returned it, 0 from the others
        assert all(got[d] > 0 for d in got if (both[d][0] > 0) or (both[d][1] > 0))
        assert all(got[d] == 0 for d in got if both[d] == (0.0, 0.0))


def test_normalise_arm_single_hits_ties_and_ranges():
    # one hit, or all equal: each is the arm's best -> 1 (OpenSearch's single-result score)
    assert normalise_arm(np.array([4.2]), np.array([0.0])).tolist() == [1.0]
    assert normalise_arm(np.array([2.0, 2.0, 2.0]), np.array([0.0, 0.0, 0.0])).tolist() == [1.0, 1.0, 1.0]
    # min-max [0, 0.5, 1] -> [0.001, 0.5005, 1]: strictly positive, order and difference ratios kept
    got = normalise_arm(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5, 1.0]))
    assert got == pytest.approx([MIN_NORMALISED, 0.5005, 1.0])
    # tied raw scores keep equal normalised values
    got = normalise_arm(np.array([3.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    assert got[1] == got[2] == pytest.approx(MIN_NORMALISED) and got[0] == 1.0
    # already positive (rank 1 - i/n, max s/max on positive scores) -> unchanged
    assert normalise_arm(np.array([3.0, 2.0]), np.array([1.0, 0.5]), "rank").tolist() == [1.0, 0.5]
    # max on an arm whose best score is <= 0: refused by name, never a flipped order
    with pytest.raises(InvalidParameterError, match=r"norm='max'.*dense arm, query 0"):
        normalise_arm(np.array([-0.1, -0.5]), np.array([-1e8, -5e8]), "max", "dense arm, query 0")


def test_ties_in_fused_scores_follow_dense_then_lexical_rank():
    # alpha = 0: the documents only the dense arm found all score 0; they follow the lexical hits in dense order
    assert order([("a", 0.9), ("b", 0.8), ("c", 0.7)], [("z", 1.0)], alpha=0.0) == ["z", "a", "b", "c"]
    # alpha = 1: the lexical-only documents follow in lexical order
    assert order([("a", 0.9)], [("y", 5.0), ("x", 2.0)], alpha=1.0) == ["a", "y", "x"]
    # two single-hit arms at alpha = 0.5 tie at 0.5: the dense hit first
    assert fuse_runs([[("a", 0.3)]], [[("z", 2.0)]], fusion="linear", alpha=0.5)[0] == [("a", 0.5), ("z", 0.5)]


def test_empty_arms():
    # one arm empty: the other arm's order, scores scaled by its weight; both empty: []
    assert fuse_runs([[]], [[("x", 3.0), ("y", 1.0)]], fusion="linear", alpha=0.0)[0] == [
        ("x", 1.0), ("y", pytest.approx(MIN_NORMALISED))]
    assert fuse_runs([[("a", 0.2)]], [[]], fusion="linear", alpha=0.0)[0] == [("a", 0.0)]
    assert fuse_runs([[], []], [[], []], fusion="linear") == [[], []]


@pytest.fixture
def real_hybrid(hash_embeddings):
    """Real bm25s and a real FAISS store (hash vectors): documents that share no word with the query."""
    from langchain_embcompare.matryoshka import as_matryoshka
    from langchain_embcompare.stores.faiss import FaissVectorStore

    texts = [
        "zebra stripes in the savanna",  # the only BM25 hit for "zebra"
        "quantum chromodynamics lattice", "medieval castle architecture", "sourdough bread fermentation",
        "volcanic basalt columns", "orbital mechanics of comets",
    ]
    docs = [Document(page_content=t, id=f"d{i}") for i, t in enumerate(texts)]
    store = FaissVectorStore(as_matryoshka(hash_embeddings))
    store.add_documents(docs)
    return store, BM25Retriever.from_documents(store.documents)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_real_bm25_single_hit_leads_at_low_alpha(real_hybrid, alpha):
    store, bm25 = real_hybrid
    assert [d.id for d in bm25.search_batch(["zebra"], k=6)[0]] == ["d0"]  # one hit, so min-max's degenerate case
    h = HybridRetriever(dense=store.as_retriever(k=6), lexical=bm25, fusion="linear", alpha=alpha, k=6)
    got = h.invoke("zebra")
    assert len(got) == 6
    if alpha == 0.0:
        assert got[0].id == "d0" and got[0].metadata["score"] == 1.0
        assert all(d.metadata["score"] == 0.0 for d in got[1:])
        # the rest keep the dense arm's order
        assert [d.metadata["dense_rank"] for d in got[1:]] == sorted(d.metadata["dense_rank"] for d in got[1:])
    else:
        # 0.7 from BM25's only hit beats at most 0.3 from the dense arm
        assert got[0].id == "d0" and got[0].metadata["score"] >= 0.7
