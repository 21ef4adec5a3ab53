"""Talking to the judge model: retry classification, model names and ids, reading its replies."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from langchain_embcompare.rerank.prompt import ParsedAnswer, parse_answer

_UNJUDGED = "unjudged"
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
_RETRYABLE_NAMES = {
    "RateLimitError",
    "APITimeoutError",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "Timeout",
    "TimeoutException",
    "ReadTimeout",
    "ConnectTimeout",
}


@dataclass
class _Call:
    """One ordered comparison that needs the model."""

    slot: tuple[int, int]  # (pair index in round, order 0|1)
    key: str
    messages: list[BaseMessage]
    prompt_tokens: int
    output: Any = None
    error: BaseException | None = None


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, FuturesTimeout)):
        return True
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in _RETRYABLE_STATUS:
        return True
    return type(exc).__name__ in _RETRYABLE_NAMES


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError, FuturesTimeout)) or "Timeout" in type(exc).__name__


def _is_rate_limit(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return status == 429 or type(exc).__name__ == "RateLimitError"


def _unwrap(llm: Any) -> Any:
    while hasattr(llm, "bound") and not isinstance(llm, BaseChatModel):
        llm = llm.bound
    return llm


def model_name_of(llm: Any) -> str:
    """The model's name as providers bill it ("gpt-4o-mini"), else its LangChain type."""
    inner = _unwrap(llm)
    for attr in ("model_name", "model", "model_id"):
        value = getattr(inner, attr, None)
        if isinstance(value, str) and value:
            return value
    return str(getattr(inner, "_llm_type", type(inner).__name__))


def model_id_of(llm: Any) -> str:
    """A chat model's identity for cache keys: ``"<class>:<model name>[@<base url>]"`` (the same model
    behind another server is another judge)."""
    inner = _unwrap(llm)
    base = getattr(inner, "openai_api_base", None) or getattr(inner, "base_url", None)
    suffix = f"@{base}" if isinstance(base, str) and base else ""
    return f"{type(inner).__name__}:{model_name_of(llm)}{suffix}"


def _supports_structured(llm: Any) -> bool:
    """True when the chat model class implements tool calling / structured output itself."""
    if not isinstance(llm, BaseChatModel):
        return False
    cls = type(llm)
    return (
        cls.bind_tools is not BaseChatModel.bind_tools
        or cls.with_structured_output is not BaseChatModel.with_structured_output
    )


def _reply_text(output: Any) -> str:
    """The text the model produced (for completion-token counting)."""
    if isinstance(output, dict) and "raw" in output:
        output = output["raw"]
    if isinstance(output, BaseMessage):
        text = output.content if isinstance(output.content, str) else str(output.text)
        tool_calls = getattr(output, "tool_calls", None)
        if not text and tool_calls:
            text = json.dumps([call.get("args", {}) for call in tool_calls])
        return text
    return "" if output is None else str(output)


def _parse_output(output: Any) -> ParsedAnswer:
    if isinstance(output, dict) and "raw" in output:  # with_structured_output(include_raw=True)
        if output.get("parsed") is not None:
            return parse_answer(output["parsed"])
        return parse_answer(output["raw"])
    return parse_answer(output)
