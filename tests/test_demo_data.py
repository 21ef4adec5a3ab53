"""The bundled demo data set: loads as BEIR, labels are consistent, files match their generator."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation.datasets import load_beir

ROOT = Path(__file__).resolve().parents[1]
SENIORITY_YEARS = {"junior": (1, 2), "mid": (3, 5), "senior": (6, 9), "lead": (10, 15)}


def _raw(name: str) -> list[dict]:
    return [json.loads(line) for line in (demo_dataset_path() / name).read_text(encoding="utf-8").splitlines()]


def test_demo_path_is_inside_the_package() -> None:
    path = demo_dataset_path()
    assert path.parts[-3:] == ("langchain_embcompare", "data", "demo")
    assert (path / "qrels" / "test.tsv").read_text(encoding="utf-8").startswith("query-id\tcorpus-id\tscore\n")
    assert "CC0" in (path / "README.md").read_text(encoding="utf-8")


def test_demo_loads_with_load_beir() -> None:
    ds = load_beir(demo_dataset_path())
    assert len(ds.corpus) == 300 and len(ds.queries) == 44
    assert set(ds.qrels) == set(ds.queries)
    doc = ds.corpus[0]
    assert doc.id == doc.metadata["doc_id"]
    assert {"category", "family", "seniority", "years"} <= set(doc.metadata)
    assert Counter(d.metadata["category"] for d in ds.corpus) == Counter({c: 25 for c in Counter(
        d.metadata["category"] for d in ds.corpus)})
    assert len({d.metadata["category"] for d in ds.corpus}) == 12


def test_ids_unique_and_every_qrel_points_to_a_doc_and_a_query() -> None:
    docs, queries = _raw("corpus.jsonl"), _raw("queries.jsonl")
    doc_ids = [d["_id"] for d in docs]
    query_ids = [q["_id"] for q in queries]
    assert len(set(doc_ids)) == len(doc_ids) and len(set(query_ids)) == len(query_ids)
    rows = (demo_dataset_path() / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    pairs = [r.split("\t") for r in rows]
    assert pairs and all(len(p) == 3 for p in pairs)
    assert {q for q, _, _ in pairs} == set(query_ids)  # every query is labelled
    assert {d for _, d, _ in pairs} <= set(doc_ids)
    assert len({(q, d) for q, d, _ in pairs}) == len(pairs)  # no duplicate label
    assert {g for _, _, g in pairs} == {"1", "2"}
    graded2 = Counter(q for q, _, g in pairs if g == "2")
    assert set(graded2) == set(query_ids)  # every query has at least one exact match


def test_metadata_is_typed_and_consistent() -> None:
    for doc in _raw("corpus.jsonl"):
        meta = doc["metadata"]
        assert isinstance(meta["years"], int)
        lo, hi = SENIORITY_YEARS[meta["seniority"]]
        assert lo <= meta["years"] <= hi, doc["_id"]
        assert meta["family"] in {"product", "delivery", "data"}
        assert doc["title"].strip() and 1 <= doc["text"].count(". ") + 1 <= 5


def test_role_queries_label_the_role_2_and_its_neighbours_1() -> None:
    docs = {d["_id"]: d["metadata"]["category"] for d in _raw("corpus.jsonl")}
    queries = {q["_id"]: q for q in _raw("queries.jsonl")}
    rows = [r.split("\t") for r in (demo_dataset_path() / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    pm = next(qid for qid, q in queries.items() if q["text"] == "Looking for a product manager")
    labels = {d: int(g) for q, d, g in rows if q == pm}
    assert {docs[d] for d, g in labels.items() if g == 2} == {"product_manager"}
    assert {docs[d] for d, g in labels.items() if g == 1} == {"product_marketing_manager", "business_analyst"}
    assert sum(1 for g in labels.values() if g == 2) == 25


def test_committed_files_match_the_generator() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_demo_data.py"), "--check", "--out", str(demo_dataset_path())],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
