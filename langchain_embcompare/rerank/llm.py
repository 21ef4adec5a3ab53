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

#: The answer recorded for a comparison the budget left unasked (counts as a tie).
UNJUDGED = "unjudged"
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
class JudgeCall:
    """One ordered comparison that needs the model.

    Args:
        slot: ``(pair index in the round, order 0|1)``.
        key: the cache key of this comparison.
        messages: the prompt sent to the judge.
        prompt_tokens: tokens of ``messages``.
        output: the model's reply, once called.
        error: the exception of the last failed call, if any.
    """

    slot: tuple[int, int]  # (pair index in round, order 0|1)
    key: str
    messages: list[BaseMessage]
    prompt_tokens: int
    output: Any = None
    error: BaseException | None = None


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed judge call is worth retrying: a timeout, HTTP 408/409/429/5xx, or a provider's
    rate-limit / timeout / connection / server error class.

    Args:
        exc: the exception the call raised.

    Returns:
        True for a transient failure.
    """
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, FuturesTimeout)):
        return True
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in _RETRYABLE_STATUS:
        return True
    return type(exc).__name__ in _RETRYABLE_NAMES


def is_timeout(exc: BaseException) -> bool:
    """Whether a failed judge call timed out.

    Args:
        exc: the exception the call raised.

    Returns:
        True for a timeout (asyncio's, concurrent.futures', or a class named ``*Timeout*``).
    """
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError, FuturesTimeout)) or "Timeout" in type(exc).__name__


def is_rate_limit(exc: BaseException) -> bool:
    """Whether a failed judge call was rate limited.

    Args:
        exc: the exception the call raised.

    Returns:
        True for HTTP 429 or a ``RateLimitError``.
    """
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return status == 429 or type(exc).__name__ == "RateLimitError"


def unwrap(llm: Any) -> Any:
    """The chat model under LangChain bindings (``llm.bind(...)``, ``with_config``...).

    Args:
        llm: a chat model or a runnable binding one.

    Returns:
        The innermost ``BaseChatModel`` (or the last object found when there is none).
    """
    while hasattr(llm, "bound") and not isinstance(llm, BaseChatModel):
        llm = llm.bound
    return llm


def model_name_of(llm: Any) -> str:
    """The model's name as providers bill it ("gpt-4o-mini"), else its LangChain type."""
    inner = unwrap(llm)
    for attr in ("model_name", "model", "model_id"):
        value = getattr(inner, attr, None)
        if isinstance(value, str) and value:
            return value
    return str(getattr(inner, "_llm_type", type(inner).__name__))


def model_id_of(llm: Any) -> str:
    """A chat model's identity for cache keys: ``"<class>:<model name>[@<base url>]"`` (the same model
    behind another server is another judge)."""
    inner = unwrap(llm)
    base = getattr(inner, "openai_api_base", None) or getattr(inner, "base_url", None)
    suffix = f"@{base}" if isinstance(base, str) and base else ""
    return f"{type(inner).__name__}:{model_name_of(llm)}{suffix}"


def supports_structured(llm: Any) -> bool:
    """Whether the chat model class implements tool calling / structured output itself.

    Args:
        llm: the judge model.

    Returns:
        True when its class overrides ``bind_tools`` or ``with_structured_output``.
    """
    if not isinstance(llm, BaseChatModel):
        return False
    cls = type(llm)
    return (
        cls.bind_tools is not BaseChatModel.bind_tools
        or cls.with_structured_output is not BaseChatModel.with_structured_output
    )


def reply_text(output: Any) -> str:
    """The text the model produced (for completion-token counting).

    Args:
        output: a reply: a message, ``{"raw": message, "parsed": ...}`` from structured output, or text.

    Returns:
        The reply's text (tool-call arguments as JSON when the text is empty); ``""`` for None.
    """
    if isinstance(output, dict) and "raw" in output:
        output = output["raw"]
    if isinstance(output, BaseMessage):
        text = output.content if isinstance(output.content, str) else str(output.text)
        tool_calls = getattr(output, "tool_calls", None)
        if not text and tool_calls:
            text = json.dumps([call.get("args", {}) for call in tool_calls])
        return text
    return "" if output is None else str(output)


def parse_output(output: Any) -> ParsedAnswer:
    """The judge's answer in a reply (the structured answer when it parsed, else the raw text).

    Args:
        output: a reply, as :func:`reply_text` takes.

    Returns:
        The :class:`~langchain_embcompare.rerank.prompt.ParsedAnswer`.
    """
    if isinstance(output, dict) and "raw" in output:  # with_structured_output(include_raw=True)
        if output.get("parsed") is not None:
            return parse_answer(output["parsed"])
        return parse_answer(output["raw"])
    return parse_answer(output)
