"""End to end with the real model: a Parquet table of MiniLM vectors (written by our own encoder) gives the
same nDCG@10 / recall@100 / MRR@10 as the model path at every dim and precision; the CLI and the bundled
demo table work offline."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from langchain_embcompare.cli import app

pytestmark = pytest.mark.integration

DIMS = [None, 128, 64]
PRECISIONS = ["float32", "int8", "binary"]
METRICS = ("ndcg@10", "recall@100", "mrr@10")


def _fsl(m: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), m.shape[1])


@pytest.fixture(scope="module")
def minilm_tables(tmp_path_factory, scifact_small):
    """docs.parquet + queries.parquet of all-MiniLM-L6-v2 vectors for the SciFact slice, written with the
    embeddings the model path itself uses (so its on-disk cache makes the model runs cheap)."""
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    root = tmp_path_factory.mktemp("vectors")
    docs = emb.encode_documents(scifact_small.texts)
    queries = emb.encode_queries(list(scifact_small.queries.values()))
    pq.write_table(pa.table({"_id": [d.id for d in scifact_small.corpus], "minilm": _fsl(docs)}), root / "docs.parquet", row_group_size=128)
    pq.write_table(pa.table({"_id": list(scifact_small.queries), "minilm": _fsl(queries)}), root / "queries.parquet")
    return root


def test_parquet_vectors_equal_model_path_every_dim_and_precision(minilm_tables, scifact_small):
    from langchain_embcompare.evaluation.compare import RunSpec, compare

    specs = []
    for dim in DIMS:
        for prec in PRECISIONS:
            specs.append(RunSpec(model="all-MiniLM-L6-v2", dim=dim, precision=prec, name=f"model/{dim}/{prec}"))
            specs.append(
                RunSpec(
                    model="minilm", dim=dim, precision=prec, name=f"table/{dim}/{prec}",
                    vectors=str(minilm_tables / "docs.parquet"), query_vectors=str(minilm_tables / "queries.parquet"),
                )
            )
    res = compare(specs, scifact_small, latency_queries=0, throughput_texts=4, n_resamples=50).to_dict()
    for dim in DIMS:
        for prec in PRECISIONS:
            model, table = res["runs"][f"model/{dim}/{prec}"], res["runs"][f"table/{dim}/{prec}"]
            for m in METRICS:
                assert abs(model[m] - table[m]) < 1e-6, (dim, prec, m, model[m], table[m])
            assert table["dim"] == model["dim"] and table["index_memory_bytes"] == model["index_memory_bytes"]
            assert table["cost"]["kind"] == "precomputed" and model["cost"]["kind"] == "local"
    assert res["runs"]["model/None/float32"]["ndcg@10"] > 0.8  # a real model on an easy slice, not a degenerate run


def test_cli_compare_with_vectors(minilm_tables, scifact_small_dir, scifact_small, tmp_path):
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

    out = tmp_path / "cmp.json"
    res = CliRunner().invoke(
        app,
        [
            "compare", str(scifact_small_dir), "--vectors", str(minilm_tables / "docs.parquet"),
            "--query-vectors", str(minilm_tables / "queries.parquet"), "--dims", "full,128", "--json", str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert set(data["runs"]) == {"minilm@full", "minilm@128"}
    for name, dim in (("minilm@full", None), ("minilm@128", 128)):
        ref = run_eval(scifact_small, EvalSettings(model="all-MiniLM-L6-v2", dim=dim))
        for m in METRICS:
            assert abs(data["runs"][name][m] - ref[m]) < 1e-6
        assert data["runs"][name]["embedding"] == {"source": "precomputed"}
    # the queries are not in the document table: an error naming them, exit code 2
    res = CliRunner().invoke(app, ["compare", str(scifact_small_dir), "--vectors", str(minilm_tables / "docs.parquet")])
    assert res.exit_code == 2 and "no query row for 30 of 30 query ids" in res.output
    res = CliRunner().invoke(app, ["compare", str(scifact_small_dir), "--vector-column", "minilm"])
    assert res.exit_code != 0 and "need --vectors" in res.output
    # eval takes the same options
    res = CliRunner().invoke(
        app,
        ["eval", str(scifact_small_dir), "--model", "minilm", "--vectors", str(minilm_tables / "docs.parquet"),
         "--query-vectors", str(minilm_tables / "queries.parquet"), "--dim", "64"],
    )
    assert res.exit_code == 0, res.output
    ref = run_eval(scifact_small, EvalSettings(model="all-MiniLM-L6-v2", dim=64))
    assert abs(json.loads(res.stdout[res.stdout.index("{"):])["ndcg@10"] - ref["ndcg@10"]) < 1e-6


def test_bundled_demo_table_offline(tmp_path):
    """The demo table: two models, one table with a kind column, through the CLI, no model loaded."""
    from langchain_embcompare.data import demo_dataset_path

    demo = demo_dataset_path()
    out = tmp_path / "demo.json"
    res = CliRunner().invoke(app, ["compare", str(demo), "--vectors", str(demo / "vectors.parquet"), "--dims", "full,64", "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert set(data["runs"]) == {"minilm@full", "minilm@64", "static@full", "static@64"}
    # the demo README's reference: all-MiniLM-L6-v2, exact cosine, nDCG@10 = 0.595
    assert data["runs"]["minilm@full"]["ndcg@10"] == pytest.approx(0.595, abs=5e-4)
    assert data["runs"]["static@full"]["dim"] == 256
    assert "precomputed" in res.output


def test_documents_folder_and_qa_file_on_the_cli(tmp_path):
    """Label-free documents folder + queries, and a QA-pairs file, through compare --vectors (JSONL table)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((5, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i in range(3):
        (docs / f"d{i}.txt").write_text(f"document {i}")
    (tmp_path / "queries.txt").write_text("first\nsecond\n")
    rows = [("d0.txt", 0), ("d1.txt", 1), ("d2.txt", 2), ("q0", 3), ("q1", 4)]
    (tmp_path / "v.jsonl").write_text("\n".join(json.dumps({"id": i, "m": vecs[r].tolist()}) for i, r in rows) + "\n")
    out = tmp_path / "free.json"
    res = CliRunner().invoke(
        app, ["compare", str(docs), "--queries", str(tmp_path / "queries.txt"), "--vectors", str(tmp_path / "v.jsonl"), "--json", str(out), "--k", "3"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["labelled"] is False and data["n_documents"] == 3 and set(data["runs"]) == {"m@full"}
    assert "ndcg@10" not in data["runs"]["m@full"]
    qa = tmp_path / "qa.csv"
    qa.write_text("question,answer\nfirst,document 0\nsecond,document 2\n")
    table = [("p0", 0), ("p1", 2), ("q0", 0), ("q1", 2)]
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps({"id": i, "m": vecs[r].tolist()}) for i, r in table) + "\n")
    res = CliRunner().invoke(app, ["compare", str(qa), "--vectors", str(tmp_path / "qa.jsonl"), "--json", str(out), "--k", "2",
                                       "--metrics", "ndcg@2,recall@2,mrr@2"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["labelled"] is True and data["runs"]["m@full"]["ndcg@2"] == pytest.approx(1.0)
