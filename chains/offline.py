"""ExtractiveChatModel: a deterministic, offline stand-in for a chat model in chains.

Why: examples, the demo and CI must run the RAG / A/B chains without an LLM server. This model reads
the numbered sources the chain put in the prompt and answers with the sentence that shares the most
words with the question, citing its source (``"... [2]"``). It streams word by word, so LCEL
streaming can be seen end to end. It is plumbing, not a language model: use a real chat model
(ChatOpenAI against a llama.cpp server, ...) for answers worth reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_SOURCE = re.compile(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\]|\n\nQuestion:|\Z)", re.MULTILINE | re.DOTALL)
_QUESTION = re.compile(r"Question:\s*(.+)\s*\Z", re.DOTALL)
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STOP = frozenset("a an and are as at be by for from how in is it of on or the to what which who with".split())


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def extractive_answer(prompt: str) -> str:
    """The best-matching source sentence with its ``[n]`` marker, or "I don't know." without sources."""
    match = _QUESTION.search(prompt)
    question = _words(match.group(1)) if match else set()
    best: tuple[int, int, str] | None = None  # (overlap, -n, sentence)
    for source in _SOURCE.finditer(prompt):
        n = int(source.group(1))
        for sentence in _SENTENCE.split(source.group(2).strip()):
            score = len(question & _words(sentence))
            if best is None or (score, -n) > best[:2]:
                best = (score, -n, sentence.strip())
    if best is None:
        return "I don't know."
    sentence = best[2].rstrip(".")
    return f"{sentence} [{-best[1]}]."


class ExtractiveChatModel(BaseChatModel):
    """Offline, deterministic chat model that quotes and cites the best-matching numbered source."""

    @property
    def _llm_type(self) -> str:
        return "extractive-offline"

    def _answer(self, messages: list[BaseMessage]) -> str:
        return extractive_answer(str(messages[-1].content) if messages else "")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._answer(messages)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for token in re.findall(r"\S+\s*", self._answer(messages)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


__all__ = ["ExtractiveChatModel", "extractive_answer"]
