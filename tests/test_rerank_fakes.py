"""Scripted chat models for the reranker tests: every fault a real judge server can produce."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from langchain_embcompare.rerank.prompt import extract_fields

Script = Callable[[str, str, str, int], Any]
"""(query, passage A, passage B, call number) -> reply text, or an exception to raise."""


class ScriptedJudge(BaseChatModel):
    """Answers each pairwise prompt with ``script(query, a, b, n)``; raises what it returns if it
    is an exception; optional async delay per call; counts calls and peak concurrency."""

    script: Any
    delay: float = 0.0
    first_delay: float = 0.0
    model_name: str = "scripted"

    _calls: int = PrivateAttr(default=0)
    _active: int = PrivateAttr(default=0)
    _peak: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted-judge"

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def peak_concurrency(self) -> int:
        return self._peak

    def _answer(self, messages: list[BaseMessage]) -> tuple[int, Any]:
        with self._lock:
            n = self._calls
            self._calls += 1
        fields = extract_fields(messages)
        assert fields is not None, "the reranker sent a prompt the fake cannot read"
        return n, self.script(*fields, n)

    @staticmethod
    def _result(reply: Any) -> ChatResult:
        if isinstance(reply, BaseException):
            raise reply
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        _, reply = self._answer(messages)
        return self._result(reply)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        with self._lock:
            self._active += 1
            self._peak = max(self._peak, self._active)
        try:
            n, reply = self._answer(messages)
            pause = self.first_delay if n == 0 and self.first_delay else self.delay
            if pause:
                await asyncio.sleep(pause)
        finally:
            with self._lock:
                self._active -= 1
        return self._result(reply)


def doc_grade(text: str) -> int:
    """Test documents carry their true grade in their text: "doc 3 grade 2"."""
    match = re.search(r"grade (\d+)", text)
    return int(match.group(1)) if match else 0


def truthful(query: str, a: str, b: str, n: int) -> str:
    """A perfect judge for :func:`make_docs` documents (ties: the lexically smaller text wins)."""
    ga, gb = doc_grade(a), doc_grade(b)
    if ga != gb:
        return "A" if ga > gb else "B"
    return "A" if a < b else "B"


def make_docs(grades: list[int]) -> list[Document]:
    """Documents in retriever order whose text states their grade."""
    return [
        Document(page_content=f"doc {i} grade {g}", id=f"d{i}", metadata={"score": 1.0 - i / 100})
        for i, g in enumerate(grades)
    ]


def ids(docs: Any) -> list[str]:
    return [d.id for d in docs]


def test_truthful_fake_prefers_higher_grade() -> None:
    assert truthful("q", "doc 1 grade 0", "doc 2 grade 3", 0) == "B"
    assert truthful("q", "doc 2 grade 3", "doc 1 grade 0", 0) == "A"
    assert doc_grade("doc 7 grade 12") == 12
