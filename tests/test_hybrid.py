"""Hybrid retrieval: RRF and linear fusion against hand-made examples, empty arms, fit_fusion's
held-out report, and the CLI / run_eval / compare wiring (BM25 without a model; MiniLM end to end). The
demo's BM25 and hybrid arms: tests/test_cli.py::test_demo_main_job_writes_report."""

from __future__ import annotations

import json

import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.retrievers.fusion import fuse_runs
from langchain_embcompare.retrievers.hybrid import HybridRetriever
from langchain_embcompare.retrievers.lexical import BM25Retriever

DENSE = [[("a", 0.9), ("b", 0.5), ("c", 0.1)]]
LEXICAL = [[("c", 10.0), ("d", 4.0)]]


def test_rrf_equals_the_hand_computed_example():
    # RRF (Cormack et al. 2009), k = 60, ranks from 1: score(d) = sum over arms of 1 / (60 + rank)
    # a: dense 1 -> 1/61; b: dense 2 -> 1/62; c: dense 3 + lexical 1 -> 1/63 + 1/61; d: lexical 2 -> 1/62
    got = dict(fuse_runs(DENSE, LEXICAL, fusion="rrf", rrf_k=60)[0])
    want = {"a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62}
    assert got.keys() == want.keys()
    for d in want:
        assert got[d] == pytest.approx(want[d], rel=1e-12)
    order = [d for d, _ in fuse_runs(DENSE, LEXICAL, fusion="rrf")[0]]
    assert order[:2] == ["c", "a"] and set(order[2:]) == {"b", "d"}
    # another constant: k = 0 -> 1/rank
    got0 = dict(fuse_runs(DENSE, LEXICAL, fusion="rrf", rrf_k=0)[0])
    assert got0["c"] == pytest.approx(1 / 3 + 1 / 1) and got0["a"] == pytest.approx(1.0)


def test_linear_fusion_of_min_max_scores_by_hand():
    # min-max per arm onto [0.001, 1]: dense 0.9, 0.5, 0.1 -> 1, 0.5005, 0.001; lexical 10, 4 -> 1, 0.001;
    # missing -> 0. alpha = 0.3: a = 0.3, b = 0.3 * 0.5005, c = 0.3 * 0.001 + 0.7, d = 0.7 * 0.001
    got = dict(fuse_runs(DENSE, LEXICAL, fusion="linear", alpha=0.3)[0])
    assert got == pytest.approx({"a": 0.3, "b": 0.15015, "c": 0.7003, "d": 0.0007})
    # alpha = 1 -> the dense ranking; alpha = 0 -> the lexical ranking first
    assert [d for d, _ in fuse_runs(DENSE, LEXICAL, fusion="linear", alpha=1.0)[0]][:3] == ["a", "b", "c"]
    assert [d for d, _ in fuse_runs(DENSE, LEXICAL, fusion="linear", alpha=0.0)[0]][0] == "c"


def test_an_empty_arm_leaves_the_other_arms_fused_scores():
    got = fuse_runs([[("a", 0.9), ("b", 0.5)], []], [[], []], fusion="rrf")
    assert got[0] == [("a", pytest.approx(1 / 61)), ("b", pytest.approx(1 / 62))]
    assert got[1] == []
    lin = fuse_runs([[]], [[("x", 3.0), ("y", 1.0)]], fusion="linear", alpha=0.25)
    assert lin[0] == [("x", pytest.approx(0.75)), ("y", pytest.approx(0.75 * 0.001))]


def test_fusion_arguments_are_checked():
    with pytest.raises(InvalidParameterError, match="fusion"):
        fuse_runs(DENSE, LEXICAL, fusion="borda")
    with pytest.raises(InvalidParameterError, match="alpha"):
        fuse_runs(DENSE, LEXICAL, fusion="linear", alpha=1.5)
    with pytest.raises(InvalidParameterError, match="norm"):
        fuse_runs(DENSE, LEXICAL, fusion="linear", norm="l2")
    with pytest.raises(InvalidParameterError, match="one each per query"):
        fuse_runs(DENSE, [], fusion="rrf")


@pytest.fixture
def small_hybrid(hash_embeddings):
    from langchain_embcompare.matryoshka import as_matryoshka
    from langchain_embcompare.stores.faiss import FaissVectorStore

    texts = ["the cat sat on the mat", "dogs are running in the park", "a cat and a dog", "fish swim in water"]
    docs = [Document(page_content=t, id=f"d{i}", metadata={"n": i}) for i, t in enumerate(texts)]
    store = FaissVectorStore(as_matryoshka(hash_embeddings))
    store.add_documents(docs)
    return store, HybridRetriever(dense=store.as_retriever(k=4), lexical=BM25Retriever.from_documents(store.documents), k=3)


async def test_hybrid_retriever_single_batch_and_async_agree(small_hybrid):
    store, h = small_hybrid
    one = h.invoke("cat")
    batch = h.search_batch(["cat", "the"], k=3)
    assert [d.id for d in one] == [d.id for d in batch[0]]
    assert [d.id for d in await h.ainvoke("cat")] == [d.id for d in one]
    top = one[0]
    assert top.metadata["lexical_rank"] is not None and top.metadata["dense_rank"] is not None
    assert top.metadata["n"] == int(top.id[1:])  # the source metadata is kept
    dense_ids = [d.id for d in store.as_retriever(k=3).invoke("the")]
    # stopword-only query: BM25 returns nothing, the hybrid is the dense arm's ranking
    assert [d.id for d in batch[1]] == dense_ids
    assert all(d.metadata["lexical_rank"] is None for d in batch[1])


def test_hybrid_arguments_are_checked(small_hybrid):
    store, h = small_hybrid
    with pytest.raises(InvalidParameterError, match="alpha"):
        HybridRetriever(dense=h.dense, lexical=h.lexical, fusion="linear", alpha=-0.1)
    with pytest.raises(InvalidParameterError, match="fusion"):
        HybridRetriever(dense=h.dense, lexical=h.lexical, fusion="max")
    with pytest.raises(InvalidParameterError, match="search_batch"):
        HybridRetriever(dense=store.as_retriever(), lexical=object())  # type: ignore[arg-type]


def test_fit_fusion_reports_tuning_and_heldout(small_hybrid, scifact_small, hash_embeddings):
    from langchain_embcompare.matryoshka import as_matryoshka
    from langchain_embcompare.stores.faiss import FaissVectorStore

    store = FaissVectorStore(as_matryoshka(hash_embeddings))
    store.add_documents(scifact_small.corpus)
    h = HybridRetriever(dense=store.as_retriever(k=10), lexical=BM25Retriever.from_documents(store.documents), k=10)
    fit = h.fit_fusion(scifact_small, alphas=(0.0, 0.5, 1.0), heldout=0.5, seed=1)
    d = fit.to_dict()
    assert d["n_tuning"] + d["n_heldout"] == len(scifact_small.queries) and d["n_heldout"] == 15
    assert len(d["grid"]) == 4 and {g["fusion"] for g in d["grid"]} == {"rrf", "linear"}
    assert d["tuning_score"] == max(g["tuning_score"] for g in d["grid"])
    assert d["overfit_gap"] == pytest.approx(d["tuning_score"] - d["heldout_score"])
    # fake (random) dense vectors: BM25 alone is the best, so the fit must lean on the lexical arm
    assert d["best"] == {"fusion": "linear", "alpha": 0.0, "rrf_k": None}
    assert (h.fusion, h.alpha) == ("linear", 0.0)
    assert d["heldout_score"] == pytest.approx(d["heldout_arms"]["lexical"])
    assert d["heldout_arms"]["lexical"] > d["heldout_arms"]["dense"]
    with pytest.raises(InvalidParameterError, match="heldout"):
        h.fit_fusion(scifact_small, heldout=1.0)
    from langchain_embcompare.evaluation.datasets import BeirDataset

    with pytest.raises(EmptyInputError):
        h.fit_fusion(BeirDataset("x", scifact_small.corpus, {"q": "x"}, {}))


# --------------------------------------------------------------------------- wiring


def test_eval_bm25_loads_no_model(scifact_small, monkeypatch):
    import langchain_embcompare.evaluation.pipeline as pipeline

    def no_model(*a, **k):  # any attempt to load an embedding model fails the test
        raise AssertionError("BM25 must not load an embedding model")

    monkeypatch.setattr(pipeline, "build_embeddings", no_model)
    s = pipeline.EvalSettings(retriever="bm25", k=100, model="no-such-model")
    assert s.lexical_only and s.label().startswith("bm25/")
    res = pipeline.run_eval(scifact_small, s)
    assert res["space"] is None and 0.5 < res["ndcg@10"] <= 1.0
    assert res["lexical"]["engine"] == "bm25s" and res["lexical"]["k1"] == 1.5
    assert res["settings"]["retriever"] == "bm25" and res["index_bytes"] > 0
    with pytest.raises(InvalidParameterError, match="alpha"):
        pipeline.EvalSettings(retriever="hybrid", fusion="linear", alpha=2.0)
    with pytest.raises(InvalidParameterError, match="retriever"):
        pipeline.EvalSettings(retriever="splade")


def test_cli_eval_retriever_bm25(scifact_small_dir, tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app

    out = tmp_path / "bm25.json"
    r = CliRunner().invoke(app, ["eval", str(scifact_small_dir), "--retriever", "bm25", "--bm25-k1", "1.2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["settings"]["retriever"] == "bm25" and data["lexical"]["k1"] == 1.2 and data["ndcg@10"] > 0.5
    bad = CliRunner().invoke(app, ["eval", str(scifact_small_dir), "--retriever", "hybrid", "--fusion", "max"])
    assert bad.exit_code == 2 and "fusion" in bad.output


def test_minilm_hybrid_end_to_end_and_compare(scifact_small, minilm, tmp_path):
    """Real model, real FAISS: BM25, MiniLM and their hybrids side by side in one comparison."""
    from langchain_embcompare.evaluation.compare import compare
    from langchain_embcompare.stores.faiss import FaissVectorStore

    store = FaissVectorStore(minilm)
    store.add_documents(scifact_small.corpus)
    dense = store.as_retriever(k=100)
    bm25 = BM25Retriever.from_documents(store.documents, k=100)
    runs = {
        "minilm": dense,
        "bm25": bm25,
        "hybrid-rrf": HybridRetriever(dense=dense, lexical=bm25, k=100, fusion="rrf"),
        "hybrid-linear": HybridRetriever(dense=dense, lexical=bm25, k=100, fusion="linear", alpha=0.5),
    }
    res = compare(runs, scifact_small, baseline="hybrid-rrf", k=100, latency_queries=5, throughput_texts=8)
    d = res.to_dict()
    kinds = {n: r["extra"]["kind"] for n, r in d["runs"].items()}
    assert kinds == {"minilm": "dense", "bm25": "lexical", "hybrid-rrf": "hybrid", "hybrid-linear": "hybrid"}
    nd = {n: r["ndcg@10"] for n, r in d["runs"].items()}
    # on this 30-query slice both fusions beat the weaker arm and stay within 0.02 of the stronger
    for h in ("hybrid-rrf", "hybrid-linear"):
        assert nd[h] > min(nd["minilm"], nd["bm25"])
        assert nd[h] > max(nd["minilm"], nd["bm25"]) - 0.02
    assert d["runs"]["minilm"]["p_value"]["ndcg@10"] is not None  # paired test against the hybrid
    assert d["runs"]["bm25"]["index_memory_bytes"] == bm25.index_bytes()
    assert d["runs"]["hybrid-rrf"]["index_memory_bytes"] > d["runs"]["minilm"]["index_memory_bytes"]
    html = res.to_html(tmp_path / "r.html").read_text()
    assert "lexical" in html and "hybrid" in html


@pytest.mark.integration
def test_same_hybrid_on_faiss_and_redis(scifact_small, redis_url):
    """run_eval's hybrid on FAISS (bm25s) and on Redis (Redis full text + Redis KNN), same data: the
    dense arms are equal (flat), the lexical engines differ as documented, so the scores are close."""
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

    common = dict(retriever="hybrid", fusion="rrf", k=100)
    faiss_res = run_eval(scifact_small, EvalSettings(**common))
    redis_res = run_eval(scifact_small, EvalSettings(store="redis", store_options={"url": redis_url}, **common))
    assert faiss_res["hybrid"]["lexical"]["engine"] == "bm25s"
    assert redis_res["hybrid"]["lexical"]["engine"] == "redis"
    assert abs(faiss_res["ndcg@10"] - redis_res["ndcg@10"]) < 0.03, (faiss_res["ndcg@10"], redis_res["ndcg@10"])
    # forcing bm25s on the Redis store gives the FAISS hybrid's lexical arm exactly
    forced = run_eval(scifact_small, EvalSettings(store="redis", store_options={"url": redis_url}, lexical_engine="bm25s", **common))
    assert forced["ndcg@10"] == pytest.approx(faiss_res["ndcg@10"], abs=1e-3)


def test_ab_toml_and_short_form_take_the_lexical_fields(tmp_path):
    from langchain_embcompare.evaluation.compare import ConfigError, RunSpec, lexical_specs, load_config

    cfg = tmp_path / "ab.toml"
    cfg.write_text(
        '[[runs]]\nname = "bm25"\nmodel = "all-MiniLM-L6-v2"\nretriever = "bm25"\nbm25_k1 = 1.2\nstemmer = "english"\n'
        '[[runs]]\nname = "hy"\nmodel = "all-MiniLM-L6-v2"\nretriever = "hybrid"\nfusion = "linear"\nalpha = 0.3\n'
    )
    runs = load_config(cfg).runs
    assert runs[0].lexical_only and runs[0].bm25_k1 == 1.2
    assert (runs[1].retriever, runs[1].fusion, runs[1].alpha) == ("hybrid", "linear", 0.3)
    cfg.write_text('[[runs]]\nmodel = "m"\nretriever = "hybrid"\nfusion = "max"\n')
    with pytest.raises(ConfigError, match="fusion"):
        load_config(cfg)
    extra = lexical_specs([RunSpec(model="m", name="m")], fusion="linear", alpha=0.7)
    assert [s.label() for s in extra] == ["bm25", "m+bm25"]
    assert extra[1].retriever == "hybrid" and extra[1].alpha == 0.7 and extra[0].lexical_only
