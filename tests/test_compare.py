"""compare(): hand-made retrievers with known answers, label-free mode, specs on a SciFact slice, ab.toml errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.errors import DimensionMismatchError, EmbCompareError, InvalidParameterError
from langchain_embcompare.evaluation.compare import (
    ComparisonResult,
    ConfigError,
    RunSpec,
    compare,
    load_config,
    parse_dims,
    specs_from_models,
)
from langchain_embcompare.evaluation.datasets import BeirDataset


class FixedRetriever(BaseRetriever):
    """Anyone's retriever: returns a fixed ranked list per query text (scores decreasing)."""

    answers: dict[str, list[str]]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        ids = self.answers.get(query, [])
        return [Document(page_content=i, id=i, metadata={"score": 1.0 - 0.1 * r}) for r, i in enumerate(ids)]


DOCS = [Document(page_content=f"text {i}", id=f"d{i}") for i in range(1, 6)]
QUERIES = {"q1": "first", "q2": "second"}
QRELS = {"q1": {"d1": 1}, "q2": {"d3": 1}}


def _runs():
    a = FixedRetriever(answers={"first": ["d1", "d2", "d3"], "second": ["d3", "d4", "d5"]})
    b = FixedRetriever(answers={"first": ["d3", "d2", "d1"], "second": ["d4", "d3", "d5"]})
    return {"A": a, "B": b}


def test_hand_made_retrievers_known_answers(tmp_path):
    ds = BeirDataset("toy", DOCS, QUERIES, QRELS)
    res = compare(_runs(), ds, baseline="A", k=10, metrics=("ndcg@10", "recall@10", "mrr@10"), latency_queries=2, n_resamples=200)
    d = res.to_dict()
    a, b = d["runs"]["A"], d["runs"]["B"]
    # A ranks the relevant doc first for both queries; B third (q1) and second (q2)
    assert a["ndcg@10"] == pytest.approx(1.0) and a["mrr@10"] == pytest.approx(1.0)
    assert b["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 2)
    assert b["mrr@10"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert a["recall@10"] == b["recall@10"] == 1.0
    # agreement: the same three documents per query (overlap 1), in another order
    names = d["agreement"]["names"]
    ov = np.array(d["agreement"]["metrics"]["overlap"], dtype=float)
    assert names == ["A", "B"] and ov[0, 1] == pytest.approx(1.0)
    # RBO (p=0.9, eq. 32): q1 [1,2,3] vs [3,2,1]: X=(0,1,3); q2 [3,4,5] vs [4,3,5]: X=(0,2,3)
    p = 0.9

    def rbo(x):
        return (1 - p) / p * sum(xd / dd * p**dd for dd, xd in enumerate(x, start=1)) + x[-1] / 3 * p**3

    rb = np.array(d["agreement"]["metrics"]["rbo"], dtype=float)
    assert rb[0, 1] == pytest.approx((rbo((0, 1, 3)) + rbo((0, 2, 3))) / 2, abs=1e-6)  # JSON keeps 6 digits
    # Kendall tau on shared docs: q1 fully reversed (-1), q2 one swap of three (1/3)
    kt = np.array(d["agreement"]["metrics"]["kendall"], dtype=float)
    assert kt[0, 1] == pytest.approx((-1 + 1 / 3) / 2, abs=1e-6)
    # identical score lists -> no distribution distance
    assert d["agreement"]["metrics"]["wasserstein"][0][1] == pytest.approx(0.0)
    # significance: B vs baseline A is reported with a raw and a Holm-adjusted p-value
    assert a["p_value"]["ndcg@10"] is None and 0 < b["p_value"]["ndcg@10"] <= 1
    assert b["delta_vs_baseline"]["ndcg@10"] == pytest.approx(b["ndcg@10"] - 1.0)
    assert b["ci"]["ndcg@10"][0] <= b["ndcg@10"] <= b["ci"]["ndcg@10"][1]
    assert set(a["latency_ms"]) >= {"p50", "p95"} and a["latency_ms"]["p95"] >= a["latency_ms"]["p50"] > 0
    # these retrievers have no embeddings and no index: nothing is invented
    assert a["index_memory_bytes"] is None and a["cost"] is None
    # outputs
    out = json.loads(res.to_json(tmp_path / "r.json"))
    assert out["runs"]["B"]["mrr@10"] == pytest.approx(b["mrr@10"])
    assert "A" in res.table_text() and "ndcg@10" in res.table_text()
    assert res.to_html(tmp_path / "r.html").stat().st_size > 1_000_000  # plotly.js inlined


def test_label_free_mode_reports_agreement_latency_memory_cost(minilm, tmp_path):
    from langchain_embcompare import FaissVectorStore

    texts = [
        "Cats are small domesticated carnivorous mammals.",
        "The stock market fell sharply on Monday.",
        "Dogs are loyal companions and descend from wolves.",
        "Interest rates were raised by the central bank.",
        "Photosynthesis converts light into chemical energy.",
        "Plants need sunlight, water and carbon dioxide.",
    ]
    docs = [Document(page_content=t, id=f"t{i}") for i, t in enumerate(texts)]
    full = FaissVectorStore(minilm)
    full.add_documents(docs)
    small = FaissVectorStore(minilm.with_dim(64))
    small.add_documents(docs)
    queries = ["pets and animals", "finance news", "how do plants grow"]
    res = compare({"full": full.as_retriever(k=4), "64d": small.as_retriever(k=4)}, (docs, queries), k=4,
                  latency_queries=3, throughput_texts=6)
    d = res.to_dict()
    assert d["labelled"] is False and d["metrics"] == [] and res.significance is None
    for r in d["runs"].values():
        assert "ndcg@10" not in r and "p_value" not in r
        assert r["latency_ms"]["p50"] > 0
        assert r["embedding"]["texts_per_second"] > 0
        assert r["cost"]["kind"] == "local" and r["cost"]["usd_per_million_texts"] > 0
    assert d["runs"]["full"]["dim"] == 384 and d["runs"]["64d"]["dim"] == 64
    # a flat float32 index holds n * dim * 4 bytes of vectors (plus a small header)
    assert 6 * 384 * 4 <= d["runs"]["full"]["index_memory_bytes"] < 6 * 384 * 4 + 1024
    assert d["runs"]["full"]["index_memory_bytes"] > d["runs"]["64d"]["index_memory_bytes"]
    ov = d["agreement"]["metrics"]["overlap"]
    assert 0 <= ov[0][1] <= 1 and ov[0][0] == 1.0
    assert "ndcg" not in res.table_text()
    html = res.to_html(tmp_path / "free.html").read_text()
    assert "no labels" in html


def test_specs_on_scifact_slice_match_eval_and_share_the_model(scifact_small, monkeypatch):
    from langchain_embcompare import models
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

    built = []
    original = models.SentenceTransformerEmbeddings.__init__

    def counting_init(self, path, *a, **kw):
        built.append(kw.get("model_id"))
        original(self, path, *a, **kw)

    models._load_cached.cache_clear()
    monkeypatch.setattr(models.SentenceTransformerEmbeddings, "__init__", counting_init)
    specs = [RunSpec(model="all-MiniLM-L6-v2", name="minilm"), RunSpec(model="all-MiniLM-L6-v2", dim=128, name="minilm-128")]
    res = compare(specs, scifact_small, k=100, latency_queries=5, throughput_texts=16)
    assert built == ["sentence-transformers/all-MiniLM-L6-v2"]  # the 128-d run reused the loaded model
    d = res.to_dict()
    assert d["runs"]["minilm"]["dim"] == 384 and d["runs"]["minilm-128"]["dim"] == 128
    # the same numbers as the single-run evaluation (`embcompare eval`)
    single = run_eval(scifact_small, EvalSettings(model="all-MiniLM-L6-v2", dim=128, k=100))
    for m in ("ndcg@10", "recall@100", "mrr@10"):
        assert d["runs"]["minilm-128"][m] == pytest.approx(single[m], abs=1e-9)
    assert d["runs"]["minilm"]["ndcg@10"] > 0.5
    mem = d["runs"]["minilm"]["index_memory_bytes"] / d["runs"]["minilm-128"]["index_memory_bytes"]
    assert mem == pytest.approx(3.0, rel=0.02)
    assert d["runs"]["minilm-128"]["p_adjusted"]["ndcg@10"] is not None
    # a cross-model probe needs equal dimensions
    with pytest.raises(DimensionMismatchError, match="equal dimensions"):
        compare(specs, scifact_small, k=10, metrics=("ndcg@10",), probes=[("minilm", "minilm-128")], latency_queries=0, throughput_texts=4)


def test_probe_same_model_lands_on_its_own_results(scifact_small):
    specs = [RunSpec(model="all-MiniLM-L6-v2", dim=128, name="a"), RunSpec(model="all-MiniLM-L6-v2", dim=128, name="b", kind="hnsw")]
    res = compare(specs, scifact_small, k=10, metrics=("ndcg@10",), probes=[("b", "a")], latency_queries=0, throughput_texts=4)
    (probe,) = res.to_dict()["probes"]
    # same model and dim: b's queries on a's index are a's own queries, so they agree fully
    assert probe["overlap"] == pytest.approx(1.0) and probe["rbo"] == pytest.approx(1.0)
    assert probe["ndcg@10"] == pytest.approx(res.runs["a"].quality["ndcg@10"])


def test_compare_takes_an_options_object_and_keywords_over_it():
    """compare(runs, ds, CompareOptions(...)) = compare(runs, ds, **the same fields); keywords override the
    options; an unknown keyword is refused by name."""
    from langchain_embcompare.evaluation.compare import CompareOptions

    ds = BeirDataset("toy", DOCS, QUERIES, QRELS)
    opts = CompareOptions(baseline="A", k=10, metrics=("ndcg@10", "mrr@10"), latency_queries=0, n_resamples=50)
    by_options = compare(_runs(), ds, opts).to_dict()
    by_keywords = compare(_runs(), ds, baseline="A", k=10, metrics=("ndcg@10", "mrr@10"), latency_queries=0, n_resamples=50).to_dict()
    for name in ("A", "B"):
        for m in ("ndcg@10", "mrr@10"):
            assert by_options["runs"][name][m] == pytest.approx(by_keywords["runs"][name][m])
    assert by_options["baseline"] == "A" and by_options["k"] == 10
    assert compare(_runs(), ds, opts, baseline="B").to_dict()["baseline"] == "B"
    assert opts.baseline == "A"  # the options object is not changed by an override
    with pytest.raises(InvalidParameterError, match="latency_querys"):
        compare(_runs(), ds, opts, latency_querys=0)


def test_compare_input_errors():
    ds = BeirDataset("toy", DOCS, QUERIES, QRELS)
    with pytest.raises(InvalidParameterError, match="baseline='C'"):
        compare(_runs(), ds, baseline="C")
    with pytest.raises(InvalidParameterError, match="specs"):
        compare(_runs(), ds, probes=[("A", "B")])
    with pytest.raises(InvalidParameterError, match="not a LangChain BaseRetriever"):
        compare({"x": object()}, ds)
    with pytest.raises(InvalidParameterError, match="BeirDataset"):
        compare(_runs(), ["just", "texts"])
    with pytest.raises(InvalidParameterError, match="unique"):
        compare([RunSpec(model="m", name="x"), RunSpec(model="m", name="x")], ds)
    assert [s.name for s in specs_from_models(["a", "b"], [None, 128])] == ["a@full", "a@128", "b@full", "b@128"]
    assert parse_dims("384, 128,full") == [384, 128, None] and parse_dims(None) is None
    with pytest.raises(InvalidParameterError, match="'12x'"):
        parse_dims("384,12x")


GOOD = """
baseline = "minilm"
k = 50
[defaults]
store = "faiss"
[[runs]]
name = "minilm"
model = "all-MiniLM-L6-v2"
[[runs]]
name = "minilm-128"
model = "all-MiniLM-L6-v2"
dim = 128
[[probes]]
query = "minilm-128"
index = "minilm-128"
[cost]
usd_per_hour = 0.25
[cost.prices]
"my-api-model" = 0.05
"""


def test_load_config_good(tmp_path):
    path = tmp_path / "ab.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert [s.label() for s in cfg.runs] == ["minilm", "minilm-128"]
    assert cfg.runs[1].dim == 128 and cfg.runs[1].store == "faiss"
    kw = cfg.compare_kwargs()
    assert kw["k"] == 50 and kw["baseline"] == "minilm" and kw["usd_per_hour"] == 0.25
    assert kw["probes"] == [("minilm-128", "minilm-128")] and kw["prices"] == {"my-api-model": 0.05}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("dim = 128", 'dim = "128"'), "runs[1].dim"),
        (GOOD.replace("dim = 128", "dimm = 128"), "runs[1].dimm"),
        (GOOD.replace('store = "faiss"', 'store = "mongo"'), "Unknown store 'mongo'"),
        (GOOD.replace('baseline = "minilm"', 'baseline = "nope"'), "baseline"),
        (GOOD.replace("k = 50", "k = 0"), "k = 0"),
        (GOOD.replace("k = 50", "kk = 50"), "unknown field 'kk'"),
        (GOOD.replace('index = "minilm-128"', 'index = "ghost"'), "probes[0].index"),
        (GOOD.replace("usd_per_hour = 0.25", "usd_per_hour = -1"), "cost.usd_per_hour"),
        (GOOD.replace('"my-api-model" = 0.05', '"my-api-model" = "cheap"'), "cost.prices.my-api-model"),
        (GOOD.replace('name = "minilm-128"', 'name = "minilm"'), "unique"),
        ("metrics = ['ndcg@ten']\n" + GOOD, "metrics[0]"),
        ("k = 5\n", "runs: no [[runs]]"),
        ("[[runs]\nmodel=1", "not valid TOML"),
    ],
)
def test_load_config_names_the_bad_field(tmp_path, text, field):
    path = tmp_path / "ab.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert field in str(err.value)
    assert isinstance(err.value, EmbCompareError) and isinstance(err.value, InvalidParameterError)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_result_is_a_plain_dataclass_with_runs_raw():
    ds = BeirDataset("toy", DOCS, QUERIES, QRELS)
    res = compare(_runs(), ds, latency_queries=0)
    assert isinstance(res, ComparisonResult)
    assert res.runs_raw["A"]["q1"] == {"d1": 3.0, "d2": 2.0, "d3": 1.0}  # the returned order, as n - rank
    assert res.runs_raw["A"].returned_scores["q1"] == {"d1": 1.0, "d2": 0.9, "d3": 0.8}  # the retriever's own scores
    assert res.baseline == "A"  # defaults to the first run


def test_table_keeps_long_run_names_whole_on_a_narrow_terminal():
    """Runs that differ only at the end of their names (``…@384`` / ``…@128``) must stay apart in an 80-column table."""
    ds = BeirDataset("toy", DOCS, QUERIES, QRELS)
    a, b = _runs().values()
    res = compare({"all-MiniLM-L6-v2@384": a, "all-MiniLM-L6-v2@128": b}, ds, k=10, metrics=("ndcg@10", "recall@10", "mrr@10"), latency_queries=1, n_resamples=50)
    text = res.table_text(width=80)
    assert "all-MiniLM-L6-v2@384" in text and "all-MiniLM-L6-v2@128" in text


def test_index_kind_is_named_kind_everywhere_with_no_alias():
    """One name for the index kind (``kind``, as on the store specs): ``index=`` is refused, in code and in ab.toml."""
    import dataclasses

    from langchain_embcompare.evaluation.config import parse_config
    from langchain_embcompare.evaluation.pipeline import EvalSettings

    assert EvalSettings(kind="hnsw").to_dict()["kind"] == "hnsw" and "index" not in EvalSettings().to_dict()
    spec = RunSpec(model="m", kind="hnsw")
    assert spec.kind == "hnsw" and spec.label().endswith("/faiss/hnsw") and not hasattr(spec, "index")
    assert dataclasses.replace(spec, kind="ivf").kind == "ivf"
    with pytest.raises(TypeError, match="index"):
        RunSpec(model="m", index="hnsw")
    with pytest.raises(TypeError, match="index"):
        EvalSettings(index="hnsw")
    with pytest.raises(ConfigError, match="index"):
        parse_config({"runs": [{"model": "m", "index": "hnsw"}]}, "snippet")
    with pytest.raises(InvalidParameterError, match="kind must be one of"):
        EvalSettings(kind="lsh")
