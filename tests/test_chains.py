"""Chains (RAG, cited QA, A/B) with langchain_core fake chat models and an in-test retriever."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
    ParrotFakeChatModel,
)
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.chains import (
    build_ab_chain,
    build_qa_chain,
    build_rag_chain,
    doc_id,
    format_docs,
    overlap_metrics,
    pairwise_overlap,
    parse_citations,
)
from langchain_embcompare.errors import EmptyInputError, InvalidParameterError

DOCS = {
    "pm": Document("Owns the roadmap and prioritises the backlog.", id="pm", metadata={"title": "Product manager"}),
    "pmm": Document("Owns positioning, messaging and launches.", id="pmm", metadata={"title": "Product marketer"}),
    "prj": Document("Keeps one project on schedule and on budget.", id="prj"),
    "prg": Document("Coordinates many projects across teams.", id="prg"),
}


class ListRetriever(BaseRetriever):
    """Returns fixed ids in order, or per-query ids; optionally slow (sync and async)."""

    ids: list[str]
    by_query: dict[str, list[str]] = {}
    sleep: float = 0.0
    calls: int = 0

    def _pick(self, query: str) -> list[Document]:
        return [DOCS[i] for i in self.by_query.get(query, self.ids)]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        self.calls += 1
        time.sleep(self.sleep)
        return self._pick(query)

    async def _aget_relevant_documents(self, query: str, *, run_manager) -> list[Document]:
        self.calls += 1
        await asyncio.sleep(self.sleep)
        return self._pick(query)


class ReverseReranker(BaseDocumentCompressor):
    """Reverses and truncates: easy to see in the output."""

    top_n: int = 2

    def compress_documents(self, documents: Sequence[Document], query: str, callbacks=None) -> list[Document]:
        time.sleep(0.01)
        return list(reversed(documents))[: self.top_n]


def fake(text: str, n: int = 20) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([text] * n))


# ---------------------------------------------------------------- formatting


def test_format_docs_numbers_sources_from_one_with_ids_and_titles() -> None:
    text = format_docs([DOCS["pm"], DOCS["prj"]])
    assert text.splitlines()[0] == "[1] (id: pm) Product manager"
    assert "[2] (id: prj)\nKeeps one project on schedule and on budget." in text
    assert format_docs([]) == "(no sources found)"


def test_doc_id_falls_back_to_metadata_then_position() -> None:
    assert doc_id(Document("x", metadata={"doc_id": "d7"})) == "d7"
    assert doc_id(Document("x"), 3) == "#3"
    with pytest.raises(InvalidParameterError, match="no id"):
        doc_id(Document("x"))


# ---------------------------------------------------------------- RAG


def test_rag_invoke_returns_answer_sources_and_context() -> None:
    chain = build_rag_chain(ListRetriever(ids=["pmm", "pm"]), fake("Positioning belongs to the PMM [1]."))
    out = chain.invoke("who owns positioning?")
    assert set(out) == {"answer", "sources", "context"}
    assert out["answer"] == "Positioning belongs to the PMM [1]."
    assert out["sources"] == ["pmm", "pm"]
    assert [d.id for d in out["context"]] == ["pmm", "pm"]


def test_rag_prompt_holds_numbered_context_and_question() -> None:
    # ParrotFakeChatModel answers with the last message it got: the filled-in human prompt.
    out = build_rag_chain(ListRetriever(ids=["pm", "prg"]), ParrotFakeChatModel()).invoke({"question": "roadmap?"})
    assert "[1] (id: pm) Product manager\nOwns the roadmap" in out["answer"]
    assert "[2] (id: prg)" in out["answer"]
    assert out["answer"].rstrip().endswith("Question: roadmap?")


def test_rag_stream_yields_context_first_then_answer_tokens() -> None:
    chain = build_rag_chain(ListRetriever(ids=["pm"]), fake("The product manager owns the roadmap [1]."))
    chunks = list(chain.stream("who owns the roadmap?"))
    answer_chunks = [c["answer"] for c in chunks if "answer" in c]
    assert len(answer_chunks) > 3  # token by token, not one final blob
    assert "".join(answer_chunks) == "The product manager owns the roadmap [1]."
    first_answer = next(i for i, c in enumerate(chunks) if "answer" in c)
    assert any("context" in c for c in chunks[:first_answer])
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged["sources"] == ["pm"]


async def test_rag_ainvoke_and_astream() -> None:
    chain = build_rag_chain(ListRetriever(ids=["prj", "prg"]), fake("Projects vs programs [1][2]."))
    out = await chain.ainvoke("difference?")
    assert out["sources"] == ["prj", "prg"] and out["answer"] == "Projects vs programs [1][2]."
    tokens = [c["answer"] async for c in chain.astream("difference?") if "answer" in c]
    assert len(tokens) > 2 and "".join(tokens) == "Projects vs programs [1][2]."


def test_rag_batch_keeps_each_question_with_its_own_sources() -> None:
    retriever = ListRetriever(ids=["pm"], by_query={"q-marketing": ["pmm"], "q-projects": ["prj", "prg"]})
    outs = build_rag_chain(retriever, FakeListChatModel(responses=["ok [1]"])).batch(["q-marketing", "q-projects"])
    assert [o["sources"] for o in outs] == [["pmm"], ["prj", "prg"]]
    assert all(o["answer"] == "ok [1]" for o in outs)


def test_rag_rejects_bad_prompt_empty_question_and_non_retriever() -> None:
    bad = ChatPromptTemplate.from_messages([("human", "{docs} {question}")])
    with pytest.raises(InvalidParameterError, match="missing \\['context'\\]"):
        build_rag_chain(ListRetriever(ids=["pm"]), fake("x"), prompt=bad)
    chain = build_rag_chain(ListRetriever(ids=["pm"]), fake("x"))
    with pytest.raises(EmptyInputError, match="question is empty"):
        chain.invoke("   ")
    with pytest.raises(InvalidParameterError, match="keys"):
        chain.invoke({"text": "hi"})
    with pytest.raises(InvalidParameterError, match="BaseRetriever"):
        build_rag_chain(object(), fake("x"))  # type: ignore[arg-type]


def test_rag_accepts_custom_prompt() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "Q={question}\nS={context}")])
    out = build_rag_chain(ListRetriever(ids=["prj"]), ParrotFakeChatModel(), prompt=prompt).invoke("when?")
    assert out["answer"].startswith("Q=when?\nS=[1] (id: prj)")


# ---------------------------------------------------------------- QA with citations


@pytest.mark.parametrize(
    ("answer", "n", "valid", "invalid"),
    [
        ("Alpha [1]. Beta [2, 3] and [1][5].", 3, [1, 2, 3], [5]),
        ("See [2-4] and [Source 1].", 4, [2, 3, 4, 1], []),
        ("No markers at all.", 3, [], []),
        ("Zero is not a source [0]; [3;1] is.", 3, [3, 1], [0]),
        ("Word [x] and [ 2 ] only.", 3, [2], []),
    ],
)
def test_parse_citations(answer: str, n: int, valid: list[int], invalid: list[int]) -> None:
    assert parse_citations(answer, n) == (valid, invalid)


def test_qa_sources_are_the_cited_documents_in_citation_order() -> None:
    chain = build_qa_chain(ListRetriever(ids=["pm", "pmm", "prj"]), fake("Messaging is PMM work [2]; roadmap is PM [1] [9]."))
    out = chain.invoke("who writes messaging?")
    assert out["citations"] == [2, 1]
    assert out["sources"] == ["pmm", "pm"]
    assert out["invalid_citations"] == [9]
    assert [d.id for d in out["context"]] == ["pm", "pmm", "prj"]


def test_qa_answer_without_markers_cites_nothing() -> None:
    out = build_qa_chain(ListRetriever(ids=["pm"]), fake("I don't know.")).invoke("q")
    assert out["sources"] == [] and out["citations"] == []


def test_qa_stream_answer_tokens_then_citations() -> None:
    chain = build_qa_chain(ListRetriever(ids=["prj", "prg"]), fake("Programs span teams [2]."))
    chunks = list(chain.stream("what spans teams?"))
    answer_idx = [i for i, c in enumerate(chunks) if "answer" in c]
    cite_idx = [i for i, c in enumerate(chunks) if "sources" in c]
    assert len(answer_idx) > 2
    assert cite_idx and min(cite_idx) > max(answer_idx)  # parsed only once the answer is complete
    assert next(c["sources"] for c in chunks if "sources" in c) == ["prg"]


async def test_qa_ainvoke_and_batch() -> None:
    chain = build_qa_chain(ListRetriever(ids=["pm", "pmm"]), FakeListChatModel(responses=["PM [1]"]))
    out = await chain.ainvoke("q")
    assert out["sources"] == ["pm"]
    outs = await chain.abatch(["a", "b", "c"])
    assert [o["sources"] for o in outs] == [["pm"]] * 3


# ---------------------------------------------------------------- A/B: overlap numbers


def test_overlap_metrics_hand_made_cases() -> None:
    assert overlap_metrics(["a", "b"], ["a", "b"]) == {"jaccard": 1.0, "overlap_at_k": 1.0, "k": 2, "shared": ["a", "b"]}
    assert overlap_metrics(["a", "b"], ["c", "d"])["jaccard"] == 0.0
    # A={a,b,c,d}, B={c,d,e}: |A∩B|=2, |A∪B|=5 -> 0.4; k=3: top3 {a,b,c} vs {c,d,e} -> 1/3
    m = overlap_metrics(["a", "b", "c", "d"], ["c", "d", "e"])
    assert m["jaccard"] == 0.4 and m["k"] == 3 and m["overlap_at_k"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["shared"] == ["c", "d"]
    assert overlap_metrics(["a", "b", "c", "d"], ["c", "d", "e"], k=4)["overlap_at_k"] == 0.5
    assert overlap_metrics([], []) == {"jaccard": 1.0, "overlap_at_k": 1.0, "k": 0, "shared": []}
    assert overlap_metrics(["a"], [])["jaccard"] == 0.0
    with pytest.raises(InvalidParameterError, match="positive"):
        overlap_metrics(["a"], ["a"], k=0)


def test_pairwise_overlap_covers_every_pair() -> None:
    out = pairwise_overlap({"x": ["a", "b"], "y": ["b", "c"], "z": ["a", "b"]})
    assert list(out) == ["x vs y", "x vs z", "y vs z"]
    assert out["x vs z"]["jaccard"] == 1.0
    assert out["x vs y"]["jaccard"] == pytest.approx(1 / 3, abs=1e-4)


# ---------------------------------------------------------------- A/B chain


def test_ab_invoke_answers_context_latency_and_overlap() -> None:
    retrievers = {"A": ListRetriever(ids=["pm", "pmm", "prj"]), "B": ListRetriever(ids=["pmm", "prg"])}
    out = build_ab_chain(retrievers, FakeListChatModel(responses=["answer [1]"])).invoke("who?")
    assert out["question"] == "who?"
    assert set(out["results"]) == {"A", "B"}
    for name, res in out["results"].items():
        assert res["answer"] == "answer [1]"
        assert res["sources"] == retrievers[name].ids
        assert [d.id for d in res["context"]] == retrievers[name].ids
        assert res["latency_ms"] >= res["retrieval_ms"] >= 0 and res["rerank_ms"] == 0.0
    assert out["overlap"] == {"A vs B": {"jaccard": 0.25, "overlap_at_k": 0.5, "k": 2, "shared": ["pmm"]}}


def test_ab_reranker_dict_applies_only_to_named_retrievers() -> None:
    retrievers = {"plain": ListRetriever(ids=["pm", "pmm", "prj"]), "reranked": ListRetriever(ids=["pm", "pmm", "prj"])}
    out = build_ab_chain(retrievers, fake("x", 5), reranker={"reranked": ReverseReranker()}).invoke("q")
    assert out["results"]["plain"]["sources"] == ["pm", "pmm", "prj"]
    assert out["results"]["reranked"]["sources"] == ["prj", "pmm"]
    assert out["results"]["reranked"]["rerank_ms"] >= 10.0 and out["results"]["plain"]["rerank_ms"] == 0.0
    assert out["overlap"]["plain vs reranked"]["jaccard"] == pytest.approx(2 / 3, abs=1e-4)


def test_ab_single_reranker_applies_to_all_and_bad_rerankers_fail() -> None:
    retrievers = {"a": ListRetriever(ids=["pm", "pmm", "prj"]), "b": ListRetriever(ids=["prg", "prj", "pm"])}
    out = build_ab_chain(retrievers, None, reranker=ReverseReranker(top_n=1)).invoke("q")
    assert out["results"]["a"]["sources"] == ["prj"] and out["results"]["b"]["sources"] == ["pm"]
    assert out["results"]["a"]["answer"] is None  # llm=None: retrieval-only comparison
    with pytest.raises(InvalidParameterError, match="match no retriever"):
        build_ab_chain(retrievers, None, reranker={"c": ReverseReranker()})
    with pytest.raises(InvalidParameterError, match="not a BaseRetriever"):
        build_ab_chain({"a": "nope"}, None)  # type: ignore[dict-item]
    with pytest.raises(InvalidParameterError, match="at least one"):
        build_ab_chain({}, None)


def test_ab_runs_retrievers_concurrently_sync() -> None:
    slow = {"A": ListRetriever(ids=["pm"], sleep=0.4), "B": ListRetriever(ids=["pmm"], sleep=0.4)}
    chain = build_ab_chain(slow, FakeListChatModel(responses=["ok"]))
    t0 = time.perf_counter()
    out = chain.invoke("q")
    wall = time.perf_counter() - t0
    lat = [r["latency_ms"] for r in out["results"].values()]
    assert all(x >= 400 for x in lat)
    assert out["total_ms"] < sum(lat) and wall < 0.75  # in series it would take >= 0.8 s


async def test_ab_runs_retrievers_concurrently_async() -> None:
    slow = {"A": ListRetriever(ids=["pm"], sleep=0.4), "B": ListRetriever(ids=["pmm"], sleep=0.4)}
    chain = build_ab_chain(slow, FakeListChatModel(responses=["ok"]))
    t0 = time.perf_counter()
    out = await chain.ainvoke("q")
    assert time.perf_counter() - t0 < 0.75
    assert out["total_ms"] < sum(r["latency_ms"] for r in out["results"].values())


def test_ab_stream_interleaves_answer_tokens_per_retriever() -> None:
    retrievers = {"A": ListRetriever(ids=["pm"]), "B": ListRetriever(ids=["prj"])}
    chain = build_ab_chain(retrievers, FakeListChatModel(responses=["streamed answer"]))
    chunks = list(chain.stream("q"))
    tokens = {n: "".join(c["results"][n]["answer"] for c in chunks
                         if "results" in c and "answer" in c["results"].get(n, {})) for n in retrievers}
    assert tokens == {"A": "streamed answer", "B": "streamed answer"}
    assert sum(1 for c in chunks if "results" in c and "answer" in c["results"].get("A", {})) > 3
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged["overlap"]["A vs B"]["jaccard"] == 0.0
    assert merged["results"]["B"]["sources"] == ["prj"]


async def test_ab_astream_and_batch() -> None:
    retrievers = {"A": ListRetriever(ids=["pm", "pmm"]), "B": ListRetriever(ids=["pmm", "pm"])}
    chain = build_ab_chain(retrievers, FakeListChatModel(responses=["ok"]), k=1)
    last = [c async for c in chain.astream("q")][-1]
    assert "overlap" in last or "total_ms" in last
    outs = chain.batch(["q1", "q2"])
    assert len(outs) == 2
    # same set, different first document: jaccard 1, overlap@1 = 0
    assert outs[0]["overlap"]["A vs B"] == {"jaccard": 1.0, "overlap_at_k": 0.0, "k": 1, "shared": ["pm", "pmm"]}


# ---------------------------------------------------------------- offline extractive model


def test_extractive_model_quotes_and_cites_the_best_matching_source() -> None:
    from langchain_embcompare.chains import ExtractiveChatModel, extractive_answer

    prompt = "Sources:\n" + format_docs([DOCS["pm"], DOCS["prj"], DOCS["prg"]]) + "\n\nQuestion: who keeps a project on budget?"
    assert extractive_answer(prompt) == "Keeps one project on schedule and on budget [2]."
    assert extractive_answer("Sources:\n(no sources found)\n\nQuestion: x") == "I don't know."
    out = build_qa_chain(ListRetriever(ids=["pm", "prj", "prg"]), ExtractiveChatModel()).invoke(
        "Who coordinates projects across teams?"
    )
    assert out["sources"] == ["prg"] and out["answer"].endswith("[3].")
    tokens = [c["answer"] for c in build_rag_chain(ListRetriever(ids=["prg"]), ExtractiveChatModel()).stream("q")
              if "answer" in c]
    assert len(tokens) > 3 and "".join(tokens) == "Coordinates many projects across teams [1]."
