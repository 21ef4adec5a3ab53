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
        ["eval", str(scifact_small_dir), "--dim", "64", "--precision", "int8", "--kind", "flat", "--rotation", "pca", "--out", str(out)],
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


def test_compare_short_form_json_and_html(tmp_path):
    from langchain_embcompare.data import demo_dataset_path

    out, html = tmp_path / "c.json", tmp_path / "c.html"
    res = runner.invoke(
        app,
        ["compare", str(demo_dataset_path()), "--model", "all-MiniLM-L6-v2", "--dims", "full,64", "--k", "20", "--metrics", "ndcg@10,recall@20,mrr@10",
         "--json", str(out), "--html", str(html)],
    )
    assert res.exit_code == 0, res.output
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"all-MiniLM-L6-v2@full", "all-MiniLM-L6-v2@64"}
    for r in runs.values():
        assert 0 < r["ndcg@10"] <= 1 and 0 < r["recall@20"] <= 1 and 0 < r["mrr@10"] <= 1
    assert runs["all-MiniLM-L6-v2@full"]["ndcg@10"] > runs["all-MiniLM-L6-v2@64"]["ndcg@10"]
    assert "plotly" in html.read_text()[:2_000_000]


def test_compare_bad_config_names_the_field(tmp_path):
    cfg = tmp_path / "ab.toml"
    cfg.write_text('[[runs]]\nmodel = "all-MiniLM-L6-v2"\ndim = "128"\n')
    res = runner.invoke(app, ["compare", str(tmp_path), "--config", str(cfg)])
    assert res.exit_code == 2 and "dim" in res.output


def test_map_writes_html_and_png_with_query_marker(tmp_path):
    from langchain_embcompare.data import demo_dataset_path

    html, png = tmp_path / "m.html", tmp_path / "m.png"
    res = runner.invoke(app, ["map", str(demo_dataset_path()), "--clusters", "6", "--query", "product marketing launch",
                              "--html", str(html), "--png", str(png)])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    assert "product marketing launch" in text and '"symbol":"x"' in text.replace(" ", "")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_demo_main_job_writes_report(tmp_path):
    """``embcompare demo``: the report, JSON and cluster map, with cluster, funnel, BM25 and hybrid arms."""
    res = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for name in ("report.html", "embcompare-demo.json", "cluster_map.html", "cluster_map.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    runs = json.loads((tmp_path / "embcompare-demo.json").read_text())["runs"]
    assert any("cluster" in n for n in runs) and any("funnel" in n for n in runs)
    assert all(0 < r["ndcg@10"] <= 1 for r in runs.values())
    assert "skipping LLM reranking" in res.output
    # the demo has a BM25 arm and one hybrid (RRF) arm, shown in the report
    assert runs["BM25"]["extra"]["kind"] == "lexical"
    hybrid = [n for n, r in runs.items() if r["extra"]["kind"] == "hybrid"]
    assert hybrid == ["MiniLM@384 +BM25 (RRF)"]
    assert "lexical" in (tmp_path / "report.html").read_text()


def test_store_options_come_from_the_registry(tmp_path):
    """--store choices and options are the registry's: an unknown store or option is refused by name; the
    URL's password never reaches the result JSON (a BM25 run on a store without full text builds no store)."""
    from langchain_embcompare.data import demo_dataset_path
    from langchain_embcompare.stores.registry import store_names

    data = str(demo_dataset_path())
    res = runner.invoke(app, ["eval", "--help"], terminal_width=200)
    assert all(name in res.output for name in store_names())
    bad = runner.invoke(app, ["eval", data, "--store", "nosuch"])
    assert bad.exit_code == 2 and "nosuch" in bad.output and "registered stores" in bad.output
    bad = runner.invoke(app, ["eval", data, "--store", "milvus", "--store-option", "colection=x"])
    assert bad.exit_code == 2 and "colection" in bad.output and "collection" in bad.output
    bad = runner.invoke(app, ["eval", data, "--store-url", "http://x"])  # the default store takes no URL
    assert bad.exit_code == 2 and "--store-url" in bad.output
    bad = runner.invoke(app, ["eval", data, "--store-option", "nprobe"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    out = tmp_path / "bm25.json"
    ok = runner.invoke(app, ["eval", data, "--retriever", "bm25", "--k", "10", "--metrics", "ndcg@10", "--store", "milvus",
                             "--store-url", "http://app:s3cr3t@milvus.example:19530", "--store-option", "full_text=false",
                             "--store-option", "token=root:s3cr3t", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    text = out.read_text()
    assert "s3cr3t" not in text and "s3cr3t" not in ok.output
    settings = json.loads(text)["settings"]
    assert settings["store"] == "milvus" and settings["store_options"]["full_text"] is False
    assert settings["store_options"]["uri"] == "http://app:***@milvus.example:19530"
