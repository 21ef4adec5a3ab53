"""The CLI contract: `embcompare eval ... --out FILE.json` with the keys the issue names."""

import json

from typer.testing import CliRunner

from langchain_embcompare.cli import app

runner = CliRunner()


def test_eval_writes_contract_json(scifact_small_dir, tmp_path):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["eval", str(scifact_small_dir), "--model", "all-MiniLM-L6-v2", "--dim", "128", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    for key in ("ndcg@10", "recall@100", "mrr@10"):
        assert 0.0 < data[key] <= 1.0
    assert data["settings"]["dim"] == 128 and data["space"]["dim"] == 128
    assert data["timings"]["per_query_ms"] > 0 and data["bytes_per_vector"] > 0


def test_eval_int8_and_pca(scifact_small_dir, tmp_path):
    out = tmp_path / "r.json"
    res = runner.invoke(
        app,
        ["eval", str(scifact_small_dir), "--dim", "64", "--precision", "int8", "--index", "flat", "--rotation", "pca", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["space"]["precision"] == "int8" and data["space"]["rotation"].startswith("pca-")
    assert 64 <= data["bytes_per_vector"] < 100  # one byte per dimension (+ a fixed header)


def test_eval_bad_input_is_a_clear_error(scifact_small_dir):
    res = runner.invoke(app, ["eval", str(scifact_small_dir), "--dim", "999"])
    assert res.exit_code == 2 and "native dimension 384" in res.output
    res = runner.invoke(app, ["eval", str(scifact_small_dir), "--model", "no-such/model-zz"])
    assert res.exit_code == 2 and "no-such/model-zz" in res.output
    res = runner.invoke(app, ["eval", str(scifact_small_dir), "--precision", "int4"])
    assert res.exit_code == 2 and "precision" in res.output
