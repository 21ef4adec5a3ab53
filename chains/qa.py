"""Question answering with cited sources: the answer must cite ``[n]`` markers, which are parsed back
to document ids, so a caller can check every claim against the passage it came from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from langchain_embcompare.chains.rag import answer_runnable, retrieve_step, source_ids, to_question

QA_SYSTEM_PROMPT = (
    "Answer the question using only the numbered sources. After every sentence, cite the sources it "
    "relies on with their numbers in square brackets, for example [2] or [1][3]. Do not cite sources "
    "that are not listed. If the sources do not answer the question, reply exactly: I don't know."
)

DEFAULT_QA_PROMPT = ChatPromptTemplate.from_messages(
    [("system", QA_SYSTEM_PROMPT), ("human", "Sources:\n{context}\n\nQuestion: {question}")]
)

# [1]  [1, 2]  [1,2;3]  [2-4]  [2–4]  (also "[Source 1]" / "[source 2]", which small models like to write)
_MARKER = re.compile(
    r"\[\s*(?:sources?\s*)?(\d+(?:\s*(?:[,;]|-|–|and)\s*(?:sources?\s*)?\d+)*)\s*\]", re.IGNORECASE
)
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")
_NUMBER = re.compile(r"\d+")
_MAX_RANGE = 100  # "[1-100000]" is a typo, not a request to expand 100k citations


def parse_citations(answer: str, n_sources: int | None = None) -> tuple[list[int], list[int]]:
    """Cited source numbers (1-based, in first-seen order, unique) and those outside ``1..n_sources``.

    >>> parse_citations("Alpha [1]. Beta [2, 3] and [1][5].", n_sources=3)
    ([1, 2, 3], [5])
    """
    cited: list[int] = []
    for match in _MARKER.finditer(answer):
        body = match.group(1)
        numbers: list[int] = []
        for rng in _RANGE.finditer(body):
            lo, hi = int(rng.group(1)), int(rng.group(2))
            if lo <= hi and hi - lo <= _MAX_RANGE:
                numbers.extend(range(lo, hi + 1))
            else:
                numbers.extend((lo, hi))
        numbers.extend(int(n) for n in _NUMBER.findall(_RANGE.sub(" ", body)))
        cited.extend(numbers)
    unique = list(dict.fromkeys(cited))
    if n_sources is None:
        return unique, []
    valid = [n for n in unique if 1 <= n <= n_sources]
    invalid = [n for n in unique if not 1 <= n <= n_sources]
    return valid, invalid


def cited_sources(answer: str, context: Sequence[Document]) -> dict[str, Any]:
    """Citation fields for an answer over ``context``: numbers, the cited doc ids, and bad markers."""
    valid, invalid = parse_citations(answer, len(context))
    ids = source_ids(context)
    return {
        "citations": valid,
        "sources": [ids[n - 1] for n in valid],
        "invalid_citations": invalid,
    }


def build_qa_chain(
    retriever: BaseRetriever,
    llm: BaseChatModel | Runnable,
    prompt: BasePromptTemplate | None = None,
) -> Runnable:
    """QA with citations. Input: a question string or {"question": ...}.

    Output: ``{"answer", "citations": [n], "sources": [cited doc ids], "invalid_citations": [n],
    "context": [Document]}``. ``sources`` lists only the documents the answer cites (in citation
    order); an answer without markers has ``sources == []``, which callers can treat as unsupported.
    Streaming yields the context first, the answer tokens next, the parsed citations last.
    """
    prompt = prompt if prompt is not None else DEFAULT_QA_PROMPT

    def field(name: str) -> Runnable:
        return RunnableLambda(lambda x: cited_sources(x["answer"], x["context"])[name], name=f"parse_{name}")

    chain = (
        RunnableLambda(to_question, name="to_question")
        | retrieve_step(retriever).pick(["question", "context"])
        | RunnablePassthrough.assign(answer=answer_runnable(llm, prompt))
        | RunnablePassthrough.assign(
            citations=field("citations"), sources=field("sources"), invalid_citations=field("invalid_citations")
        )
    ).pick(["answer", "citations", "sources", "invalid_citations", "context"])
    return chain.with_config(run_name="qa_chain")


__all__ = ["DEFAULT_QA_PROMPT", "build_qa_chain", "cited_sources", "parse_citations"]
