"""Data shapes -> BeirDataset: question/answer pairs, documents folder + queries, ir_datasets, dispatch, reports."""

from __future__ import annotations

import json

import pytest

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.loaders import (
    dataset_report,
    load_dataset,
    load_documents_folder,
    load_ir_dataset,
    load_qa_pairs,
    load_queries,
)


def test_qa_pairs_csv_with_passage_texts(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text(
        "question,answer\n"
        '"How do I reset my password?","Open Settings, then Security, then Reset."\n'
        "Where is my invoice?,Invoices are under Billing.\n"
        '"How do I reset my password?","Support can reset it for you."\n'
        "Can I pay by card?,Invoices are under Billing.\n"
    )
    ds = load_qa_pairs(path)
    assert ds.queries == {"q0": "How do I reset my password?", "q1": "Where is my invoice?", "q2": "Can I pay by card?"}
    assert [d.page_content for d in ds.corpus] == [
        "Open Settings, then Security, then Reset.", "Invoices are under Billing.", "Support can reset it for you."
    ]
    assert ds.qrels == {"q0": {"p0": 1, "p2": 1}, "q1": {"p1": 1}, "q2": {"p1": 1}}
    r = ds.report
    assert (r.kind, r.documents, r.queries, r.judged_pairs, r.queries_without_judgments) == ("qa-pairs", 3, 3, 4, 0)
    assert "3 documents, 3 queries, 4 judged pairs, 0 queries without judgments" in str(r)


def test_qa_pairs_jsonl_with_ids_corpus_and_grades(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(json.dumps(r) for r in [
            {"_id": "a", "title": "Reset", "text": "Use the reset link."},
            {"_id": "b", "text": "Billing lives in the dashboard."},
            {"_id": "c", "text": "A distractor."},
        ])
    )
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\n".join(json.dumps(r) for r in [
            {"qid": "x1", "query": "reset?", "doc_id": "a", "score": 2},
            {"qid": "x1", "query": "reset?", "doc_id": "b", "score": 0},
            {"qid": "x2", "query": "bills?", "doc_id": "b"},
            {"qid": "x3", "query": "nothing relevant", "doc_id": "c", "score": 0},
        ])
    )
    ds = load_qa_pairs(qa, corpus=corpus)
    assert [d.id for d in ds.corpus] == ["a", "b", "c"] and ds.corpus[0].page_content == "Reset Use the reset link."
    assert ds.qrels == {"x1": {"a": 2, "b": 0}, "x2": {"b": 1}}
    assert ds.report.queries_without_judgments == 1  # x3: only a grade-0 label


def test_qa_pairs_malformed_rows_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nfine?,yes\n,no question here\n")
    with pytest.raises(InvalidParameterError, match=r"bad\.csv: line 3 has an empty question"):
        load_qa_pairs(bad)
    cells = tmp_path / "cells.csv"
    cells.write_text("question,answer\nfine?,yes\ntoo,many,cells\n")
    with pytest.raises(InvalidParameterError, match=r"cells\.csv: line 3 has 3 cells but the header has 2"):
        load_qa_pairs(cells)
    ids = tmp_path / "ids.jsonl"
    ids.write_text(json.dumps({"question": "q?", "passage_id": "zz"}) + "\n")
    with pytest.raises(InvalidParameterError, match=r"ids\.jsonl: line 1 names passage id 'zz', which is not in the corpus"):
        load_qa_pairs(ids)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n{oops\n")
    with pytest.raises(InvalidParameterError, match=r"broken\.jsonl: line 2 is not valid JSON"):
        load_qa_pairs(broken)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("prompt,reply\na,b\n")
    with pytest.raises(InvalidParameterError, match=r"nocol\.csv: line 2 has no question column"):
        load_qa_pairs(nocol)
    grade = tmp_path / "grade.csv"
    grade.write_text("question,answer,score\na?,b,high\n")
    with pytest.raises(InvalidParameterError, match=r"grade\.csv: line 2 has score 'high', not an integer grade"):
        load_qa_pairs(grade)
    clash = tmp_path / "clash.jsonl"
    clash.write_text(json.dumps({"qid": "1", "question": "a?", "answer": "x"}) + "\n" + json.dumps({"qid": "1", "question": "b?", "answer": "y"}) + "\n")
    with pytest.raises(InvalidParameterError, match=r"clash\.jsonl: line 2 gives query id '1' the question 'b\?'"):
        load_qa_pairs(clash)
    empty = tmp_path / "empty.csv"
    empty.write_text("question,answer\n")
    with pytest.raises(EmptyInputError, match="no question/answer rows"):
        load_qa_pairs(empty)


def test_documents_folder_label_free(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Alpha document.")
    (docs / "sub" / "b.md").write_text("# Beta\nSecond document.")
    (docs / "empty.txt").write_text("  ")
    (docs / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "q.txt").write_text("first query\n\nsecond query\n")
    ds = load_documents_folder(docs, tmp_path / "q.txt")
    assert [d.id for d in ds.corpus] == ["a.txt", "sub/b.md"]
    assert ds.queries == {"q0": "first query", "q1": "second query"} and ds.qrels == {}
    r = ds.report
    assert (r.documents, r.queries, r.judged_pairs, r.queries_without_judgments) == (2, 2, 0, 2)
    assert r.notes == ["1 empty files skipped"]
    (docs / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InvalidParameterError, match=r"bad\.txt: not UTF-8"):
        load_documents_folder(docs, ["q"])


def test_load_queries_formats(tmp_path):
    assert load_queries(["a", "b"]) == {"q0": "a", "q1": "b"}
    assert load_queries({1: "x"}) == {"1": "x"}
    (tmp_path / "q.jsonl").write_text(json.dumps({"_id": "k", "text": "t"}) + "\n")
    assert load_queries(tmp_path / "q.jsonl") == {"k": "t"}
    (tmp_path / "dup.jsonl").write_text(json.dumps({"_id": "k", "text": "t"}) + "\n" + json.dumps({"_id": "k", "text": "u"}) + "\n")
    with pytest.raises(InvalidParameterError, match=r"dup\.jsonl: line 2 repeats query id 'k'"):
        load_queries(tmp_path / "dup.jsonl")


def test_load_dataset_dispatch(tmp_path):
    from pathlib import Path

    scifact = Path(__file__).parent / "data" / "scifact-small"
    ds = load_dataset(scifact, max_queries=5)
    assert len(ds.queries) == 5 and ds.report.kind == "beir" and ds.report.documents == 400
    assert ds.report.judged_pairs == sum(len(ds.qrels[q]) for q in ds.queries)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("doc")
    with pytest.raises(InvalidParameterError, match="pass the queries"):
        load_dataset(tmp_path / "docs")
    assert load_dataset(tmp_path / "docs", queries=["x"]).report.kind == "documents-folder"
    (tmp_path / "qa.csv").write_text("question,answer\na?,b\nc?,d\n")
    ds = load_dataset(tmp_path / "qa.csv", max_queries=1)
    assert ds.queries == {"q0": "a?"} and ds.report.queries == 1 and ds.report.judged_pairs == 1
    with pytest.raises(InvalidParameterError, match="not found"):
        load_dataset(tmp_path / "nope")
    # any BeirDataset gets a report computed from itself
    from langchain_embcompare.evaluation.datasets import load_beir

    assert dataset_report(load_beir(scifact)).queries == 30


def test_ir_datasets_local_data_and_no_download(tmp_path, monkeypatch):
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.formats import TrecQrels, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    (tmp_path / "docs.tsv").write_text("d1\tfirst document\nd2\tsecond document\n")
    (tmp_path / "queries.tsv").write_text("1\tfirst?\n2\tunjudged?\n")
    (tmp_path / "qrels.txt").write_text("1 0 d1 1\n")
    name = "embcompare-test/local"
    if name not in ir_datasets.registry:
        ir_datasets.registry.register(name, Dataset(
            TsvDocs(LocalDownload(tmp_path / "docs.tsv")),
            TsvQueries(LocalDownload(tmp_path / "queries.tsv")),
            TrecQrels(LocalDownload(tmp_path / "qrels.txt"), {1: "relevant"}),
        ))
    ds = load_dataset(f"irds:{name}")
    assert [(d.id, d.page_content) for d in ds.corpus] == [("d1", "first document"), ("d2", "second document")]
    assert ds.queries == {"1": "first?"} and ds.qrels == {"1": {"d1": 1}}
    assert ds.report.kind == "ir_datasets" and ds.report.notes == ["1 queries without judgments dropped (as BEIR's evaluation does)"]
    # a known data set that is not stored locally: refused at once, nothing downloaded
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds-home"))
    with pytest.raises(InvalidParameterError, match=r"ir_datasets 'vaswani' is not stored locally.*nothing is downloaded"):
        load_ir_dataset("vaswani")
    with pytest.raises(InvalidParameterError, match="knows no data set 'no/such/set'"):
        load_ir_dataset("irds:no/such/set")
