"""The shrink advisor: non-inferiority decisions with known answers, Pareto fronts, pruning (property
test on random tables), the sweep on a fake model (one encode per model, resumable, time budget), the
per-query drill-down, and end-to-end with the real MiniLM on the SciFact slice (Python API and CLI)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tomllib
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from scipy import stats

import langchain_embcompare.matryoshka as matryoshka_mod
from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.advise import (
    advise,
    detectable_margin,
    hybrid_supported,
    non_inferiority,
    pareto_fronts,
    prune_dominated,
)
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.evaluation.drilldown import drilldown
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

# --- the non-inferiority decision on hand-made per-query scores -------------------------------------------


def _scores(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 1.0, n)


def test_clearly_worse_is_not_non_inferior():
    base = _scores(200)
    worse = base - 0.10 + np.random.default_rng(1).normal(0, 0.02, 200)
    res = non_inferiority(base, {"worse": worse}, margin=0.01)["worse"]
    assert res.non_inferior is False
    assert res.delta == pytest.approx(-0.10, abs=0.01)
    assert res.ci_high < -0.01  # the whole interval lies beyond the margin
    assert res.p_adjusted > 0.99


def test_clearly_equal_is_non_inferior_and_matches_scipy():
    base = _scores(200)
    diff = np.random.default_rng(2).normal(0, 0.01, 200)
    res = non_inferiority(base, {"same": base + diff}, margin=0.01)["same"]
    assert res.non_inferior is True
    assert res.ci_low > -0.01 and res.ci_low < 0 < res.ci_high
    # the one-sided t-test of H0: mean(diff) <= -margin, checked against scipy's own
    ref = stats.ttest_1samp(diff, -0.01, alternative="greater").pvalue
    assert res.p_value == pytest.approx(ref, rel=1e-9)
    assert res.ci_level == pytest.approx(0.90)


def test_too_few_queries_cannot_tell():
    base = _scores(5)
    noisy = base + np.array([0.1, -0.1, 0.05, -0.05, 0.0])
    res = non_inferiority(base, {"x": noisy}, margin=0.01)["x"]
    assert res.non_inferior is False
    assert res.detectable_margin is not None and res.detectable_margin > 0.05  # far above the 0.01 asked
    with pytest.raises(EmptyInputError):
        non_inferiority(base[:1], {"x": noisy[:1]}, margin=0.01)


def test_bootstrap_agrees_with_t_on_large_samples():
    base = _scores(400)
    cand = base + np.random.default_rng(3).normal(-0.002, 0.03, 400)
    t = non_inferiority(base, {"c": cand}, margin=0.01, test="t")["c"]
    b = non_inferiority(base, {"c": cand}, margin=0.01, test="bootstrap", n_resamples=4000)["c"]
    assert t.non_inferior == b.non_inferior
    assert b.ci_low == pytest.approx(t.ci_low, abs=0.002)


def test_holm_over_candidates():
    base = _scores(100)
    rng = np.random.default_rng(4)
    cands = {f"c{i}": base + rng.normal(-0.004 * i, 0.03, 100) for i in range(4)}
    res = non_inferiority(base, cands, margin=0.01)
    raw = np.array([res[n].p_value for n in cands])
    order = np.argsort(raw)
    holm = np.maximum.accumulate(raw[order] * (4 - np.arange(4)))
    expect = np.empty(4)
    expect[order] = np.minimum(holm, 1)
    assert [res[n].p_adjusted for n in cands] == pytest.approx(expect.tolist())


def test_identical_scores_and_bad_options():
    base = _scores(50)
    same = non_inferiority(base, {"s": base.copy()}, margin=0.01)["s"]
    assert same.non_inferior is True and same.delta == 0 and same.detectable_margin == 0.0
    # a zero margin: identical runs still are not worse (mean difference 0 > -0)? no: H0 is mean <= 0
    assert non_inferiority(base, {"s": base.copy()}, margin=0.0)["s"].non_inferior is False
    with pytest.raises(InvalidParameterError, match="margin"):
        non_inferiority(base, {"s": base}, margin=-0.1)
    with pytest.raises(InvalidParameterError, match="test"):
        non_inferiority(base, {"s": base}, test="z")
    with pytest.raises(InvalidParameterError, match="10 per-query scores"):
        non_inferiority(base, {"s": base[:10]})


def test_detectable_margin_formula():
    dm = detectable_margin(0.1, 100, alpha=0.05, power=0.8)
    assert dm == pytest.approx((stats.t.ppf(0.95, 99) + stats.t.ppf(0.8, 99)) * 0.1 / 10)
    assert detectable_margin(0.1, 1) is None
    assert detectable_margin(0.1, 400) == pytest.approx(dm / 2, rel=0.02)  # 4x the queries, half the margin


# --- fronts and pruning -----------------------------------------------------------------------------------


def test_pareto_front_hand_made_table():
    rows = [
        {"ndcg@10": 0.70, "index_bytes": 1000, "p50_ms": 5.0, "usd_per_1m_texts": 1.0},  # 0 best quality
        {"ndcg@10": 0.69, "index_bytes": 250, "p50_ms": 6.0, "usd_per_1m_texts": 1.0},  # 1 cheaper memory
        {"ndcg@10": 0.60, "index_bytes": 300, "p50_ms": 1.0, "usd_per_1m_texts": 1.0},  # 2 dominated on memory by 1
        {"ndcg@10": 0.50, "index_bytes": 40, "p50_ms": 0.5, "usd_per_1m_texts": 1.0},  # 3 tiny and fast
        {"ndcg@10": 0.65, "index_bytes": 500, "p50_ms": 7.0, "usd_per_1m_texts": 0.5},  # 4 cheap to embed
    ]
    fr = pareto_fronts(rows)
    assert sorted(fr["memory"]) == [0, 1, 3]
    assert sorted(fr["latency"]) == [0, 2, 3]
    assert sorted(fr["cost"]) == [0, 4]


def test_prune_hand_made():
    rows = [
        {"ndcg@10": 0.7, "index_bytes": 100, "p50_ms": 1.0, "usd_per_1m_texts": 1.0},
        {"ndcg@10": 0.6, "index_bytes": 200, "p50_ms": 2.0, "usd_per_1m_texts": 1.0},  # dominated everywhere
        {"ndcg@10": 0.6, "index_bytes": 50, "p50_ms": 2.0, "usd_per_1m_texts": 1.0},  # cheaper memory: kept
        {"ndcg@10": 0.7, "index_bytes": 100, "p50_ms": 1.0, "usd_per_1m_texts": 1.0},  # an exact tie: kept
    ]
    assert prune_dominated(rows) == [True, False, True, True]


def test_pruning_never_drops_a_front_point_random_tables():
    """Property: on 2000 random tables (small integer ranges, so ties are common) every point of every
    front survives pruning, and the fronts computed on the pruned rows are the same points."""
    rng = np.random.default_rng(123)
    for trial in range(2000):
        n = int(rng.integers(1, 14))
        vals = rng.integers(0, 5, size=(n, 4)).astype(float)
        rows = [
            {"ndcg@10": v[0], "index_bytes": v[1], "p50_ms": v[2], "usd_per_1m_texts": v[3]} for v in vals
        ]
        if trial % 7 == 0 and n > 1:  # some missing values
            rows[0]["p50_ms"] = None
        keep = prune_dominated(rows)
        full = pareto_fronts(rows)
        kept_idx = [i for i, k in enumerate(keep) if k]
        sub = pareto_fronts([rows[i] for i in kept_idx])
        for axis, idx in full.items():
            assert set(idx) <= set(kept_idx), (trial, axis, rows, keep)
            assert sorted(kept_idx[j] for j in sub[axis]) == sorted(idx), (trial, axis)


# --- the sweep on a fake model ------------------------------------------------------------------------------


class LookupEmbeddings(Embeddings):
    """Fake model: 'doc i' -> a fixed Gaussian vector g_i, 'query i' -> g_i + noise (relevant doc = doc i)."""

    def __init__(self, dim: int = 64, noise: float = 0.6, name: str = "fake-lookup", n: int = 200) -> None:
        self.dim = dim
        self.model_id = name
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        self.g = rng.standard_normal((n, dim)).astype(np.float32)
        self.noise = rng.standard_normal((n, dim)).astype(np.float32) * noise

    def _vec(self, text: str) -> np.ndarray:
        kind, _, i = text.rpartition(" ")
        i = int(i)
        return self.g[i] + (self.noise[i] if kind.endswith("query") else 0)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text).tolist()


def _fake_ds(n_docs: int = 80, n_q: int = 30) -> BeirDataset:
    docs = [Document(page_content=f"doc {i}", id=f"d{i}", metadata={"doc_id": f"d{i}", "title": f"Doc {i}"}) for i in range(n_docs)]
    queries = {f"q{i}": f"query {i}" for i in range(n_q)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(n_q)}
    return BeirDataset("fake", docs, queries, qrels)


def _model(name: str = "fake-lookup", dim: int = 64) -> MatryoshkaEmbeddings:
    return MatryoshkaEmbeddings(LookupEmbeddings(dim=dim, name=name), cache_dir=None)


@pytest.fixture
def encode_calls(monkeypatch):
    """Every batch the package sends to a model through its vector cache: (model id, texts)."""
    calls: list[tuple[str, list[str]]] = []
    real = matryoshka_mod.encode_texts

    def counting(embeddings, texts, prompt=None, **kw):
        calls.append((getattr(embeddings, "model_id", "?"), list(texts)))
        return real(embeddings, texts, prompt, **kw)

    monkeypatch.setattr(matryoshka_mod, "encode_texts", counting)
    return calls


SMALL = {"dims": [64, 32, 16], "indexes": ("hnsw",), "cluster": False, "max_parents": 2, "latency_queries": 2,
         "throughput_texts": 8, "n_resamples": 500}


def test_sweep_encodes_each_model_once(encode_calls, tmp_path):
    ds = _fake_ds()
    res = advise(ds, models=[_model("fake-a"), _model("fake-b", dim=48)], margin=0.02, budgets=["memory", "latency"], **SMALL)
    doc_texts = set(ds.texts)
    for name in ("fake-a", "fake-b"):
        mine = [t for m, t in encode_calls if m == name]
        doc_calls = [t for t in mine if doc_texts & set(t)]
        assert len(doc_calls) == 1 and sorted(doc_calls[0]) == sorted(ds.texts)  # the corpus: once per model
        assert sum(len(t) for t in mine) == len(ds.texts) + len(ds.queries)  # queries once too, nothing else
    # many settings were derived from those vectors
    specs = {(c.spec.model, c.spec.dim, c.spec.precision, c.spec.rotation) for c in res.candidates}
    assert len(specs) >= 8 and {c.spec.model for c in res.candidates} == {"fake-a", "fake-b"}
    assert res.sweep["n_measured"] == len(res.candidates) + 1
    assert set(res.sweep["texts_encoded"].values()) == {len(ds.texts) + len(ds.queries)}


def test_sweep_answer_and_json(tmp_path):
    ds = _fake_ds()
    res = advise(ds, models=[_model()], margin=0.02, **{**SMALL, "indexes": ("hnsw", "ivf"), "cluster": True})
    d = json.loads(res.to_json(tmp_path / "a.json"))
    stages = {c.stage for c in res.candidates}
    assert {"shape", "index", "cluster", "funnel"} <= stages
    for key in ("baseline", "winner", "front", "candidates", "margin", "n_queries", "detectable_margin"):
        assert key in d
    assert d["margin"] == 0.02 and d["n_queries"] == 30
    assert d["baseline"]["settings"] == {"model": "fake-lookup"}
    # int8 at full dimension ranks exactly like float32 here: at least one cheaper setting is non-inferior
    assert res.status == "non_inferior" and res.winner is not None
    w = d["winner"]
    for key in ("settings", "ndcg@10", "index_bytes", "p50_ms", "usd_per_1m_texts", "ci", "p_adjusted"):
        assert key in w
    assert w["index_bytes"] < d["baseline"]["index_bytes"]
    assert w["non_inferior"] is True and w["ci"][0] > -0.02 and w["p_adjusted"] <= 0.05
    # it is the cheapest of the non-inferior ones
    ni = [c for c in d["candidates"] if c.get("non_inferior")]
    assert w["index_bytes"] == min(c["index_bytes"] for c in ni)
    # every candidate carries the same fields; the front rows are candidates or the baseline
    names = {c["name"] for c in d["candidates"]} | {d["baseline"]["name"]}
    assert all(f["name"] in names and f["fronts"] for f in d["front"])
    # the snippet is a valid ab.toml naming the winner's settings
    from langchain_embcompare.evaluation.config import parse_config

    cfg = parse_config(tomllib.loads(w["ab_toml"]), "snippet")
    assert [r.name for r in cfg.runs] == ["baseline", "advised"]
    advised = cfg.runs[1]
    assert (advised.dim, advised.precision, advised.rotation) == (
        w["settings"].get("dim"), w["settings"].get("precision", "float32"), w["settings"].get("rotation", "none"))
    assert "RunSpec(" in w["python"] and "build_store" in w["python"]
    # the drill-down of the winner against the baseline
    dd = d["drilldown"][w["name"]]
    assert dd["wins"] + dd["ties"] + dd["losses"] == 30
    html = res.to_html(tmp_path / "a.html").read_text()
    assert "Per-query drill-down" in html and "id='dd-" in html and "advised" in html
    assert "refinement" not in res.summary_text()  # plain answer text
    assert "non-inferior at margin 0.02" in res.summary_text()


def test_clearly_worse_everywhere_says_none():
    """Margin 0 with noisy candidates: nothing cheaper is provably not worse; the answer says so."""
    ds = _fake_ds()
    res = advise(ds, models=[_model(dim=64)], margin=0.0, dims=[64, 16], precisions=("float32", "binary"),
                 rotations=("none",), indexes=(), cluster=False, funnel=False, latency_queries=2, throughput_texts=4,
                 n_resamples=200)
    assert res.winner is None and res.status in ("none_non_inferior", "underpowered")
    d = res.to_dict()
    assert d["winner"] is None and len(d["candidates"]) >= 1
    assert "no " in res.summary_text()


def test_too_few_queries_is_underpowered():
    ds = _fake_ds(n_docs=40, n_q=6)
    res = advise(ds, models=[_model()], margin=0.01, dims=[64, 32], rotations=("none",), indexes=(), cluster=False,
                 funnel=False, latency_queries=2, throughput_texts=4, n_resamples=200)
    assert res.winner is None and res.status == "underpowered"
    assert res.queries_needed is not None and res.queries_needed >= 10
    assert "cannot prove" in res.summary_text() and "label about" in res.summary_text()


def test_refinement_stops_along_an_axis():
    """Once a dimension loses more than the margin, smaller dims of that precision / rotation are not measured."""
    ds = _fake_ds()
    res = advise(ds, models=[_model()], margin=0.0, dims=[64, 32, 16, 8], precisions=("float32",), rotations=("none",),
                 indexes=(), cluster=False, funnel=False, latency_queries=2, throughput_texts=4, n_resamples=200)
    measured = sorted(c.spec.dim or 64 for c in res.candidates)
    deltas = {c.spec.dim: c.test.delta for c in res.candidates}
    first_fail = max(d for d, x in deltas.items() if x < 0)
    assert all(d >= first_fail for d in measured)
    assert res.sweep["n_not_measured_by_refinement_stop"] == sum(1 for d in (32, 16, 8) if d not in measured)


def test_resumable_and_time_budget(tmp_path, monkeypatch):
    ds = _fake_ds()
    state = tmp_path / "state.json"
    first = advise(ds, models=[_model()], margin=0.02, state=state, **SMALL)
    assert state.exists()

    def boom(*a, **k):
        raise AssertionError("re-encoded on resume")

    monkeypatch.setattr(matryoshka_mod, "encode_texts", boom)
    again = advise(ds, models=[_model()], margin=0.02, state=state, **SMALL)
    assert again.sweep["n_resumed"] == again.sweep["n_measured"] == first.sweep["n_measured"]
    assert again.winner.name == first.winner.name
    # other data -> a clear error naming the file
    with pytest.raises(InvalidParameterError, match="state.json"):
        advise(_fake_ds(n_q=20), models=[_model()], state=state, **SMALL)
    monkeypatch.undo()
    cut = advise(ds, models=[_model()], margin=0.02, time_budget_s=0.0, **SMALL)
    assert cut.sweep["truncated"] is True and cut.candidates == [] and "time budget" in cut.summary_text()


def test_bad_options():
    ds = _fake_ds()
    with pytest.raises(InvalidParameterError, match="budget"):
        advise(ds, models=[_model()], budgets="disk")
    with pytest.raises(InvalidParameterError, match="margin"):
        advise(ds, models=[_model()], margin=float("nan"))
    with pytest.raises(EmptyInputError, match="qrels"):
        advise(BeirDataset("nolabels", ds.corpus, ds.queries, {}), models=[_model()])


def test_hybrid_arm_is_feature_detected():
    ds = _fake_ds()
    if hybrid_supported():
        res = advise(ds, models=[_model()], margin=0.02, dims=[64], precisions=("float32",), rotations=("none",),
                     indexes=(), cluster=False, funnel=False, hybrid=True, latency_queries=2, throughput_texts=4)
        tried = [c.spec.retriever for c in res.candidates] + [s["name"] for s in res.sweep["skipped"]]
        assert any("hybrid" in str(t) for t in tried)
    else:
        with pytest.raises(InvalidParameterError, match="hybrid"):
            advise(ds, models=[_model()], hybrid=True)
        res = advise(ds, models=[_model()], margin=0.02, dims=[64], precisions=("float32",), rotations=("none",),
                     indexes=(), cluster=False, funnel=False, latency_queries=2, throughput_texts=4)
        assert res.sweep["hybrid_arm"] is False


# --- the drill-down ---------------------------------------------------------------------------------------


def test_drilldown_hand_made():
    qrels = {"q1": {"a": 1}, "q2": {"b": 2}, "q3": {"c": 1}}
    queries = {"q1": "first", "q2": "second", "q3": "third"}
    base = {"q1": {"a": 3, "x": 2, "y": 1}, "q2": {"x": 3, "b": 2}, "q3": {"c": 3}}
    run = {"q1": {"x": 3, "y": 2, "a": 1}, "q2": {"b": 3, "x": 2}, "q3": {"c": 3}}
    d = drilldown(base, run, qrels, queries, {"a": "Doc A"}, top=2)
    assert (d["wins"], d["ties"], d["losses"]) == (1, 1, 1)
    loss = d["largest_losses"][0]
    assert loss["query_id"] == "q1" and loss["query"] == "first" and loss["delta"] < 0
    assert [r["doc_id"] for r in loss["baseline_top"]] == ["a", "x"] and loss["baseline_top"][0]["relevance"] == 1
    assert loss["baseline_top"][0]["title"] == "Doc A"
    assert [r["doc_id"] for r in loss["run_top"]] == ["x", "y"]
    gain = d["largest_gains"][0]
    assert gain["query_id"] == "q2" and gain["run_top"][0] == {"rank": 1, "doc_id": "b", "relevance": 2, "title": ""}
    assert d["effect_size_dz"] == pytest.approx(d["mean_delta"] / d["sd_delta"])


def test_compare_json_and_html_carry_the_drilldown(tmp_path):
    from test_compare import DOCS, QRELS, QUERIES, _runs

    from langchain_embcompare.evaluation.compare import compare

    res = compare(_runs(), BeirDataset("toy", DOCS, QUERIES, QRELS), baseline="A", k=10, latency_queries=1, n_resamples=100,
                  metrics=("ndcg@10", "recall@10", "mrr@10"))
    d = res.to_dict()["drilldown"]
    assert set(d) == {"B"} and d["B"]["losses"] == 2 and d["B"]["wins"] == 0
    assert d["B"]["largest_losses"][0]["baseline_top"][0]["relevance"] == 1
    html = res.to_html(tmp_path / "r.html").read_text()
    assert "href='#dd-B'" in html and "id='dd-B'" in html and "largest losses" in html


# --- end to end with the real model ------------------------------------------------------------------------


def test_advise_minilm_scifact_slice(minilm, scifact_small, encode_calls, tmp_path, monkeypatch):
    res = advise(
        scifact_small, models=[minilm], margin=0.01, dims=[384, 128], rotations=("none", "pca"), indexes=("hnsw",),
        cluster=False, funnel=True, latency_queries=2, throughput_texts=8, n_resamples=500,
    )
    doc_texts = set(scifact_small.texts)
    assert len([t for _, t in encode_calls if doc_texts & set(t)]) <= 1  # 0 when an earlier test filled the cache
    d = res.to_dict()
    assert d["n_queries"] == 30 and d["baseline"]["ndcg@10"] > 0.5
    assert res.status in ("non_inferior", "none_non_inferior", "underpowered")
    int8 = [c for c in res.candidates if c.spec.precision == "int8" and c.spec.dim is None and c.spec.retriever == "plain"
            and c.spec.kind == "flat"]
    assert int8 and int8[0].index_bytes < 0.3 * res.baseline.index_bytes
    assert abs(int8[0].test.delta) < 0.02
    if res.winner is not None:
        assert res.winner.index_bytes < res.baseline.index_bytes and res.winner.test.non_inferior
        # the Python lines build the same setting, and it scores what the advisor measured
        from langchain_embcompare.evaluation.metrics import evaluate_run, retrieve_run

        # the snippet builds with the default disk cache: point it at the fixture's (same vectors, no re-encode)
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "embeddings").symlink_to(minilm.cache_dir)
        monkeypatch.setattr(matryoshka_mod, "CACHE_DIR", tmp_path / "cache")
        scope = {"dataset": scifact_small}
        exec(res.winner_python(), scope)  # noqa: S102 - our own generated code
        got = evaluate_run(retrieve_run(scope["retriever"], scifact_small.queries, k=100), scifact_small.qrels, ["ndcg@10"])
        assert got["ndcg@10"] == pytest.approx(res.winner.quality["ndcg@10"], abs=1e-6)
    res.to_html(tmp_path / "advice.html")
    assert math.isfinite(res.sweep["seconds"])


def test_cli_advise(scifact_small_dir, tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app

    out = tmp_path / "advice.json"
    r = CliRunner().invoke(app, [
        "advise", str(scifact_small_dir), "--model", "all-MiniLM-L6-v2", "--dims", "full,128", "--margin", "0.01",
        "--latency-queries", "2", "--json", str(out), "--html", str(tmp_path / "advice.html"),
    ])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["margin"] == 0.01 and d["n_queries"] == 30 and d["candidates"]
    assert (tmp_path / "advice.html").exists()
    bad = CliRunner().invoke(app, ["advise", str(scifact_small_dir), "--budget", "disk"])
    assert bad.exit_code == 2 and "budget" in bad.output
