"""LCEL RAG chain: any BaseRetriever → numbered context → prompt → chat model → answer with sources.

Built only from LCEL parts (RunnablePassthrough.assign, pick), so invoke / ainvoke / batch / stream /
astream behave as LangChain users expect: streaming yields the retrieved ``context`` and ``sources``
first, then the answer token by token as ``{"answer": "<chunk>"}`` dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources below. "
    "Cite every claim with the number of its source in square brackets, like [1] or [2][3]. "
    "If the sources do not contain the answer, say that you do not know."
)

DEFAULT_RAG_PROMPT = ChatPromptTemplate.from_messages(
    [("system", SYSTEM_PROMPT), ("human", "Sources:\n{context}\n\nQuestion: {question}")]
)

PROMPT_VARIABLES = frozenset({"context", "question"})


def doc_id(doc: Document, position: int | None = None) -> str:
    """The id a source is reported under: Document.id, else metadata doc_id / id, else its position."""
    for value in (doc.id, doc.metadata.get("doc_id"), doc.metadata.get("id")):
        if value not in (None, ""):
            return str(value)
    if position is None:
        raise InvalidParameterError(
            "document has no id (Document.id or metadata['doc_id']); give documents ids so sources can be cited"
        )
    return f"#{position}"


def format_docs(docs: Sequence[Document]) -> str:
    """Numbered sources, 1-based, as the prompt shows them: ``[1] (id: d007) title\\ntext``."""
    blocks = []
    for n, doc in enumerate(docs, start=1):
        title = doc.metadata.get("title")
        head = f"[{n}] (id: {doc_id(doc, n)})" + (f" {title}" if title else "")
        blocks.append(f"{head}\n{doc.page_content.strip()}")
    return "\n\n".join(blocks) if blocks else "(no sources found)"


def source_ids(docs: Sequence[Document]) -> list[str]:
    """Ids of the context documents, in the order they were numbered."""
    return [doc_id(d, n) for n, d in enumerate(docs, start=1)]


def to_question(value: Any) -> dict[str, str]:
    """Accept a plain string or a mapping with "question" (or "query"/"input"); reject empty questions."""
    if isinstance(value, Mapping):
        for key in ("question", "query", "input"):
            if key in value:
                value = value[key]
                break
        else:
            raise InvalidParameterError(
                f"chain input dict has keys {sorted(value)}; pass a string or {{'question': '...'}}"
            )
    if not isinstance(value, str):
        raise InvalidParameterError(f"question must be a string, got {type(value).__name__}")
    if not value.strip():
        raise EmptyInputError("question is empty; pass a non-empty question string")
    return {"question": value}


def check_prompt(prompt: BasePromptTemplate | None) -> BasePromptTemplate:
    """Use the default prompt, or check a custom one takes exactly the variables the chain fills."""
    if prompt is None:
        return DEFAULT_RAG_PROMPT
    missing = PROMPT_VARIABLES - set(prompt.input_variables)
    extra = set(prompt.input_variables) - PROMPT_VARIABLES
    if missing or extra:
        raise InvalidParameterError(
            f"prompt variables {sorted(prompt.input_variables)} do not match the chain's "
            f"{sorted(PROMPT_VARIABLES)} (missing {sorted(missing)}, unknown {sorted(extra)}); "
            "write the prompt with {context} and {question}"
        )
    return prompt


def answer_runnable(llm: BaseChatModel | Runnable, prompt: BasePromptTemplate | None = None) -> Runnable:
    """{"question", "context": [Document]} → answer string (streams token chunks)."""
    prompt_inputs = RunnableLambda(
        lambda x: {"context": format_docs(x["context"]), "question": x["question"]}, name="format_sources"
    )
    return (prompt_inputs | check_prompt(prompt) | llm | StrOutputParser()).with_config(run_name="answer")


def retrieve_step(retriever: BaseRetriever) -> Runnable:
    """{"question"} → adds "context" (retrieved documents) and "sources" (their ids)."""
    if not isinstance(retriever, BaseRetriever):
        raise InvalidParameterError(
            f"retriever must be a langchain_core BaseRetriever, got {type(retriever).__name__}; "
            "wrap a vector store with store.as_retriever()"
        )
    return RunnablePassthrough.assign(
        context=RunnableLambda(lambda x: x["question"], name="question") | retriever
    ) | RunnablePassthrough.assign(sources=RunnableLambda(lambda x: source_ids(x["context"]), name="source_ids"))


def build_rag_chain(
    retriever: BaseRetriever,
    llm: BaseChatModel | Runnable,
    prompt: BasePromptTemplate | None = None,
) -> Runnable:
    """RAG over any retriever. Input: a question string or {"question": ...}.

    Output: ``{"answer": str, "sources": [doc ids in context order], "context": [Document]}``.
    A custom ``prompt`` must use the variables ``{context}`` (numbered sources) and ``{question}``.
    """
    chain = (
        RunnableLambda(to_question, name="to_question")
        | retrieve_step(retriever)
        | RunnablePassthrough.assign(answer=answer_runnable(llm, prompt))
    ).pick(["answer", "sources", "context"])
    return chain.with_config(run_name="rag_chain")


__all__ = [
    "DEFAULT_RAG_PROMPT",
    "build_rag_chain",
    "doc_id",
    "format_docs",
    "source_ids",
]
