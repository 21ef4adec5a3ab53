"""synthetic.py + the corpus-only data shapes: inverse-cloze and LLM-written queries, the BEIR folder they
are saved as, and the whole path from the CLI (compare and advise) on a folder with only documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import SimpleChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.datasets import BeirDataset, load_beir
from langchain_embcompare.evaluation.loaders import load_corpus, load_dataset
from langchain_embcompare.evaluation.synthetic import (
    cloze_dataset,
    leaked,
    llm_dataset,
    near_duplicates,
    parse_queries_option,
    provenance_lines,
    save_synthetic,
    stratified_sample,
    synthesize,
)
from langchain_embcompare.rerank.report import RerankerCallError
from langchain_embcompare.retrievers.calibration import cloze_split

TEXT = "Cells divide by mitosis in most tissues. The spindle pulls chromosomes apart quickly. Short one. Cytokinesis then splits the cell."


def test_cloze_split_takes_one_sentence_out():
    query, rest = cloze_split(TEXT, np.random.default_rng(0))
    assert query in TEXT and query not in rest and len(query.split()) >= 4
    assert sorted((query + " " + rest).split()) == sorted(TEXT.split())  # nothing else lost
    assert cloze_split(TEXT, np.random.default_rng(0)) == (query, rest)  # seeded
    assert cloze_split("too short", np.random.default_rng(0)) is None
    window, around = cloze_split(" ".join(f"w{i}" for i in range(30)), np.random.default_rng(1), min_words=40)
    assert len(window.split()) == 12 and len(around.split()) == 18


def test_stratified_sample_draws_from_every_length_quartile():
    lengths = np.repeat([10, 100, 1000, 10000], 25)
    pick = stratified_sample(lengths, 8, np.random.default_rng(0))
    assert len(set(pick.tolist())) == 8 and np.all(np.diff(pick) > 0)
    assert np.bincount(np.searchsorted([50, 500, 5000], lengths[pick]), minlength=4).tolist() == [2, 2, 2, 2]
    assert stratified_sample(lengths, 500, np.random.default_rng(0)).tolist() == list(range(100))


def test_cloze_dataset_takes_the_sentence_out_of_its_document(scifact_small):
    syn = cloze_dataset(scifact_small, 40, seed=3)
    assert len(syn.queries) == 40 and syn.label_provenance["kinds"]["cloze"] == 40
    by_id = {d.id: d.page_content for d in syn.corpus}
    old = {d.id: d.page_content for d in scifact_small.corpus}
    assert list(by_id) == list(old)  # same documents, same ids, same order
    for qid, text in syn.queries.items():
        (doc,) = syn.qrels[qid]
        assert syn.qrels[qid][doc] == 1
        assert text in old[doc] and text not in by_id[doc]  # known item, sentence taken out
        assert by_id[doc].startswith(scifact_small.corpus[list(old).index(doc)].metadata["title"].strip())  # title kept
    assert syn.label_provenance["documents_changed"] == 40
    assert cloze_dataset(scifact_small, 40, seed=3).queries == syn.queries
    assert cloze_dataset(scifact_small, 40, seed=4).queries != syn.queries


def test_cloze_short_documents_get_title_or_keyword_queries():
    docs = [
        Document(page_content="Mitosis in yeast Spindle checkpoint genes.", metadata={"title": "Mitosis in yeast"}, id="t1"),
        Document(page_content="kinase phosphatase kinase receptor membrane signalling cascade", metadata={}, id="k1"),
        Document(page_content="x", metadata={}, id="tiny"),
        Document(page_content="cells grow and divide and die in tissue culture flasks", metadata={}, id="k2"),
    ]
    syn = cloze_dataset(docs, 10, seed=0, short_words=25)
    got = {next(iter(syn.qrels[q])): t for q, t in syn.queries.items()}
    assert got["t1"] == "Mitosis in yeast"
    assert {d.id: d.page_content for d in syn.corpus}["t1"] == "Spindle checkpoint genes."  # the title left the text
    assert got["k1"].split()[0] in {"kinase", "phosphatase"} and len(got["k1"].split()) == 5
    assert "tiny" not in got
    assert syn.label_provenance["kinds"] == {"cloze": 0, "title": 1, "keywords": 2}
    with pytest.raises(EmptyInputError, match="enough words"):
        cloze_dataset([Document(page_content="x", id="a")], 1)
    with pytest.raises(InvalidParameterError, match="n_queries"):
        cloze_dataset(docs, 0)


def test_saved_folder_reads_back_with_its_provenance(tmp_path, scifact_small):
    syn = cloze_dataset(scifact_small, 20, seed=0)
    root = save_synthetic(syn, tmp_path / "syn")
    back = load_beir(root)
    assert back.queries == syn.queries and back.qrels == syn.qrels
    assert [d.page_content for d in back.corpus] == [d.page_content for d in syn.corpus]
    assert back.label_provenance == json.loads(json.dumps(syn.label_provenance))
    assert (root / "qrels" / "test.tsv").read_text().startswith("query-id\tcorpus-id\tscore\n")
    (root / "synthetic_manifest.json").write_text("[1]")
    with pytest.raises(Exception, match="expected a JSON object"):
        load_beir(root)


def test_leakage_and_near_duplicates():
    passage = "The spindle pulls chromosomes apart during anaphase of mitosis in yeast cells."
    assert leaked("Does the spindle pull chromosomes apart during anaphase?", passage) is False
    assert leaked("the spindle pulls chromosomes apart during anaphase", passage) is True
    assert leaked("What pulls chromosomes apart during anaphase of mitosis?", passage, n=6) is True
    drop = near_duplicates(["what is mitosis", "What is mitosis?", "how do cells divide", "what is meiosis"])
    assert drop.tolist() == [False, True, False, False]
    assert near_duplicates([]).tolist() == []


class QuestionWriter(SimpleChatModel):
    """A fake generator: a fixed reply per passage keyword (a good question, a copy, a duplicate, a speech)."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake-question-writer"

    def _call(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        self.calls += 1
        passage = messages[-1].content.split("<passage>\n")[1].split("\n</passage>")[0]
        if "alpha" in passage:
            return "Question: How do cells split their chromosomes?"
        if "beta" in passage:
            return passage  # copies its passage: leaked
        if "gamma" in passage:
            return "how do cells split their chromosomes"  # a near-duplicate of alpha's
        return " ".join(["word"] * 60)  # too long: invalid


DOCS = [
    Document(page_content=f"{k} passage about the spindle apparatus pulling chromosomes to the poles", id=k)
    for k in ("alpha", "beta", "gamma", "delta")
]


def test_llm_dataset_filters_and_counts():
    llm = QuestionWriter()
    cache: dict[str, str] = {}
    syn = llm_dataset(DOCS, llm, 4, cache=cache, max_concurrency=1)
    assert list(syn.queries.values()) == ["How do cells split their chromosomes?"]
    assert syn.qrels == {"syn-0": {"alpha": 1}}
    m = syn.label_provenance
    assert m["method"] == "llm" and m["filters"] == {"asked": 4, "not_sent": 0, "failed": 0, "invalid": 1, "leaked": 1, "echoed": 0, "duplicates": 1}
    assert m["generator"]["calls"] == 4 and m["generator"]["prompt_tokens"] > 0 and m["generator"]["cost_usd"] is None
    assert len(cache) == 3  # the invalid reply is not cached
    llm_dataset(DOCS, llm, 4, cache=cache, max_concurrency=1)
    assert llm.calls == 5  # only the uncached passage is asked again
    assert "SYNTHETIC" in provenance_lines(m)[0] and "generator fake-question-writer" in provenance_lines(m)[1]


def test_llm_dataset_drops_questions_echoing_the_prompt():
    """Found with SmolLM2-135M on SciFact: a small model repeats the instructions ("What is the answer to this
    question: do not copy phrases from the passage?"), a question about no passage; it is dropped as echoed."""

    class Echo(QuestionWriter):
        def _call(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
            if "alpha" in messages[-1].content:
                return "How do cells split their chromosomes?"
            return "What is the answer to this question: do not copy phrases from the passage?"

    syn = llm_dataset(DOCS, Echo(), 4, max_concurrency=1)
    assert list(syn.queries.values()) == ["How do cells split their chromosomes?"]
    assert syn.label_provenance["filters"]["echoed"] == 3 and syn.label_provenance["filters"]["duplicates"] == 0


def test_llm_dataset_budget_and_failures():
    llm = QuestionWriter()
    syn = llm_dataset(DOCS, llm, 4, max_calls=1, max_concurrency=1)
    assert llm.calls == 1 and syn.label_provenance["filters"]["not_sent"] == 3
    assert syn.label_provenance["generator"]["budget_exhausted"] is True
    with pytest.raises(EmptyInputError, match="No LLM-written question survived"):
        llm_dataset(DOCS, FakeListChatModel(responses=[""]), 4)

    class Down(SimpleChatModel):
        @property
        def _llm_type(self) -> str:
            return "fake-down"

        def _call(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001, ANN003
            raise ConnectionError("refused")

    with pytest.raises(RerankerCallError, match="every call"):
        llm_dataset(DOCS, Down(), 2)


def test_parse_queries_option_and_synthesize_guards():
    assert parse_queries_option("synthetic:cloze") == "cloze"
    assert parse_queries_option("synthetic:llm") == "llm"
    assert parse_queries_option("queries.txt") is None and parse_queries_option(None) is None
    with pytest.raises(InvalidParameterError, match="unknown synthetic method 'gpt'"):
        parse_queries_option("synthetic:gpt")
    with pytest.raises(InvalidParameterError, match="--generator"):
        synthesize(DOCS, "llm")
    with pytest.raises(InvalidParameterError, match="drop --generator"):
        synthesize(DOCS, "cloze", generator=QuestionWriter())


def _corpus_only(tmp_path: Path, scifact_small: BeirDataset, n: int = 60) -> Path:
    root = tmp_path / "mydocs"
    root.mkdir()
    with (root / "corpus.jsonl").open("w") as f:
        for d in scifact_small.corpus[:n]:
            f.write(json.dumps({"_id": d.id, "title": d.metadata["title"], "text": d.page_content[len(d.metadata["title"]) + 1 :]}) + "\n")
    return root


def test_corpus_only_folder_errors_no_longer_contradict(tmp_path, scifact_small):
    root = _corpus_only(tmp_path, scifact_small)
    with pytest.raises(InvalidParameterError) as exc:
        load_dataset(root)
    assert "no queries.jsonl" in str(exc.value) and "synthetic:cloze" in str(exc.value) and "--queries FILE" in str(exc.value)
    (tmp_path / "q.txt").write_text("mitosis\nbile acids\n")
    ds = load_dataset(root, queries=tmp_path / "q.txt")  # the advice of the error works
    assert len(ds.queries) == 2 and ds.qrels == {} and len(ds.corpus) == 60
    docs = tmp_path / "plain"
    docs.mkdir()
    (docs / "a.txt").write_text(TEXT)
    with pytest.raises(InvalidParameterError, match="synthetic:cloze"):
        load_dataset(docs)
    assert [d.id for d in load_corpus(docs).corpus] == ["a.txt"]
    assert len(load_corpus(root).corpus) == 60


def test_cli_compare_refuses_generator_without_synthetic(tmp_path, scifact_small):
    from langchain_embcompare.cli import app

    root = _corpus_only(tmp_path, scifact_small)
    res = CliRunner().invoke(app, ["compare", str(root), "--queries", "synthetic:cloze", "--generator", "openai:gpt-4o-mini", "--lexical"])
    assert res.exit_code == 2 and "synthetic:cloze uses no LLM" in res.output
    res = CliRunner().invoke(app, ["compare", str(root), "--queries", "synthetic:llm", "--lexical"])
    assert res.exit_code == 2 and "--generator" in res.output
    res = CliRunner().invoke(app, ["compare", str(root), "--queries", "synthetic:llm", "--generator", "nonsense", "--lexical"])
    assert res.exit_code == 2 and "generator model 'nonsense'" in res.output
    res = CliRunner().invoke(app, ["advise", str(root), "--queries", "synthetic:cloze", "--judge", "nonsense"])
    assert res.exit_code == 2 and "judge model 'nonsense'" in res.output  # advise --judge: refused under its own name


def test_cli_compare_corpus_only_folder_with_cloze_queries_end_to_end(tmp_path, scifact_small, minilm):
    """The whole path, offline, from the shell: a folder holding only corpus.jsonl -> cloze queries -> MiniLM,
    BM25 and hybrid runs -> quality under synthetic labels, said so in the table, the JSON and the HTML."""
    from langchain_embcompare.cli import app

    root = _corpus_only(tmp_path, scifact_small)
    out, html, saved = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "saved"
    res = CliRunner().invoke(
        app,
        ["compare", str(root), "--queries", "synthetic:cloze", "--synthetic-queries", "30", "--model", "all-MiniLM-L6-v2",
         "--lexical", "--json", str(out), "--html", str(html), "--save-queries", str(saved)],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["labelled"] is True and data["n_queries"] == 30
    assert data["labels"]["synthetic"] is True and data["labels"]["method"] == "cloze"
    assert set(data["runs"]) == {"all-MiniLM-L6-v2@full", "bm25", "all-MiniLM-L6-v2@full+bm25"}
    for run in data["runs"].values():
        assert 0.3 < run["ndcg@10"] <= 1.0  # a known item in a 60-document corpus is found
    assert "SYNTHETIC" in res.output
    page = html.read_text()
    assert "SYNTHETIC labels" in page and "How the labels were made" in page and "inverse cloze" in page
    assert load_beir(saved).queries == {q: t for q, t in load_beir(saved).queries.items()} and len(load_beir(saved).queries) == 30


def test_advise_on_synthetic_queries_says_so(tmp_path, scifact_small, minilm):
    """The advisor on cloze queries from the corpus alone: its answer says the labels are synthetic."""
    from langchain_embcompare.evaluation.advise import advise

    syn = cloze_dataset(scifact_small, 40, seed=0)
    result = advise(
        syn, models=[minilm], dims=[384, 128], precisions=("float32",), rotations=("none",), indexes=(), cluster=False,
        funnel=False, hybrid=False, latency_queries=2, throughput_texts=8, n_resamples=200,
    )
    text = result.summary_text()
    assert "40 labelled queries (SYNTHETIC labels (cloze))" in text.splitlines()[0]  # said on the answer's first line
    assert "labels are SYNTHETIC (cloze, 40 queries" in text
    assert "SYNTHETIC labels (cloze)" in result.to_table().title
    assert result.to_dict()["labels"]["method"] == "cloze"
    assert "How the labels were made" in result.to_html(tmp_path / "a.html").read_text()


def test_cli_names_a_missing_api_key_under_the_option(tmp_path, scifact_small, monkeypatch):
    from langchain_embcompare.cli import app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = _corpus_only(tmp_path, scifact_small)
    res = CliRunner().invoke(app, ["compare", str(root), "--queries", "synthetic:llm", "--generator", "openai:gpt-4o-mini", "--lexical"])
    assert res.exit_code == 2 and "generator model 'openai:gpt-4o-mini' cannot be built" in res.output
