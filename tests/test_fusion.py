"""The numpy fusion of the online path (retrievers/fusion.py) against ranx, the reference, on real
SciFact runs (MiniLM on FAISS + bm25s, 100 candidates per arm), and its own edge rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.retrievers.fusion import fuse_runs, norm_scores, normalise_arm


def ranx_reference(dense, lexical, *, fusion, alpha=0.5, rrf_k=60, norm="min-max"):
    """The same fusion computed by ranx (Bassani 2022). RRF gets each arm's ranks as scores
    (``-position``): ranx re-sorts an arm by score with an unstable sort, so tied scores would get an
    arbitrary rank order there, while the documented rule is the arm's own order."""
    from ranx import Run, fuse
    from ranx.normalization import norm_switch

    out = []
    for i, (d, l) in enumerate(zip(dense, lexical)):
        if fusion == "rrf":
            runs = [Run({"q": {doc: -float(r) for r, (doc, _) in enumerate(arm)}}) for arm in (d, l)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fuse(runs, norm=None, method="rrf", params={"k": rrf_k}).to_dict()["q"]
        else:
            lifted = []
            for arm in (d, l):
                raw = {doc: float(s) for doc, s in arm}
                normed = norm_switch(norm)(Run({"q": raw})).to_dict()["q"]
                ids = list(raw)
                vals = normalise_arm(np.array([raw[x] for x in ids]), np.array([normed[x] for x in ids]), norm)
                lifted.append(Run({"q": dict(zip(ids, vals.tolist()))}))
            res = fuse(lifted, norm=None, method="wsum", params={"weights": [alpha, 1.0 - alpha]}).to_dict()["q"]
        dr = {doc: r for r, (doc, _) in enumerate(d)}
        lr = {doc: r for r, (doc, _) in enumerate(l)}
        miss = len(d) + len(l)
        pairs = sorted(res.items(), key=lambda x: (-x[1], dr.get(x[0], miss), lr.get(x[0], miss)))
        out.append(pairs)
    return out


@pytest.fixture(scope="module")
def scifact_arms(minilm, scifact_small):
    """Per SciFact query: the dense arm (MiniLM, FAISS, top 100) and the BM25 arm (bm25s, top 100)."""
    from langchain_embcompare.retrievers.lexical import BM25Retriever
    from langchain_embcompare.stores.faiss import FaissVectorStore

    docs = scifact_small.corpus
    store = FaissVectorStore.from_documents(docs, minilm)
    queries = list(scifact_small.queries.values())
    dense = [[(d.id, float(s)) for d, s in store.similarity_search_with_score(q, k=100)] for q in queries]
    bm25 = BM25Retriever.from_documents(docs, k=100)
    lexical = [[(d.id, float(d.metadata["score"])) for d in hits] for hits in bm25.search_batch(queries, k=100)]
    assert len(dense) == len(lexical) >= 30 and all(len(x) == 100 for x in dense)
    return dense, lexical


@pytest.mark.parametrize(("fusion", "alpha"), [("rrf", 0.5), ("linear", 0.5), ("linear", 0.2), ("linear", 0.9)])
def test_numpy_fusion_ranks_like_ranx_on_scifact(scifact_arms, fusion, alpha):
    dense, lexical = scifact_arms
    ours = fuse_runs(dense, lexical, fusion=fusion, alpha=alpha)
    ref = ranx_reference(dense, lexical, fusion=fusion, alpha=alpha)
    for q, (a, b) in enumerate(zip(ours, ref)):
        assert [d for d, _ in a] == [d for d, _ in b], f"query {q}"
        assert np.allclose([s for _, s in a], [s for _, s in b], rtol=1e-12, atol=0), f"query {q}"


@pytest.mark.parametrize("norm", ["min-max", "max", "sum", "zmuv"])
def test_norm_scores_equal_ranx_normalisations(norm):
    from ranx import Run
    from ranx.normalization import norm_switch

    rng = np.random.default_rng(7)
    raw = np.sort(rng.gamma(2.0, 3.0, size=57))[::-1] + 0.5
    ids = [f"d{i}" for i in range(raw.size)]
    ref = norm_switch(norm)(Run({"q": dict(zip(ids, raw.tolist()))})).to_dict()["q"]
    got = norm_scores(raw, norm)
    assert np.allclose(got, [ref[i] for i in ids], rtol=1e-12, atol=1e-15)


def test_tied_scores_keep_the_arms_own_order_in_rrf():
    # three documents tie in the lexical arm: their RRF ranks follow the arm's order, not a re-sort
    lexical = [[("x", 2.0), ("y", 2.0), ("z", 2.0)]]
    got = fuse_runs([[]], lexical, fusion="rrf")[0]
    assert [d for d, _ in got] == ["x", "y", "z"]
    assert [s for _, s in got] == pytest.approx([1 / 61, 1 / 62, 1 / 63])


def test_a_document_twice_in_one_arm_is_refused_by_name():
    with pytest.raises(InvalidParameterError, match="dense arm returned a document id twice"):
        fuse_runs([[("a", 1.0), ("a", 0.5)]], [[("b", 1.0)]], fusion="rrf")
    with pytest.raises(InvalidParameterError, match="lexical arm"):
        fuse_runs([[("a", 1.0)]], [[("b", 1.0), ("b", 0.2)]], fusion="linear")


def test_the_rank_norm_follows_list_positions():
    assert norm_scores(np.array([3.0, 3.0, 1.0, 0.5]), "rank").tolist() == [1.0, 0.75, 0.5, 0.25]
    with pytest.raises(InvalidParameterError, match="norm='l2'"):
        norm_scores(np.array([1.0]), "l2")
