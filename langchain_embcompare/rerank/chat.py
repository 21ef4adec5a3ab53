"""make_chat_model: turn a CLI string into a LangChain chat model for the reranker.

Why: the CLI (``embcompare eval --rerank MODEL``) takes one string; users should not have to write
Python to point the reranker at OpenAI, a local llama.cpp / vLLM server or Ollama. Judges are built
deterministic (temperature 0) and with no client-side retries, because the reranker retries with
backoff itself and counts every call.

Specs:
- ``openai:gpt-4o-mini``: ChatOpenAI (needs ``langchain-openai`` and OPENAI_API_KEY);
- ``openai-compatible:http://127.0.0.1:8080/v1`` or ``...v1#model-name``: ChatOpenAI against a
  local OpenAI-compatible server (llama.cpp ``llama_cpp.server``, vLLM); the key is
  OPENAI_API_KEY if set, else a placeholder local servers ignore;
- ``ollama:llama3.2``: ChatOllama (needs ``langchain-ollama``);
- any other ``provider:model`` LangChain's ``init_chat_model`` knows (``anthropic:...``), if its
  integration package is installed.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import BaseChatModel

from langchain_embcompare.errors import InvalidParameterError

_FORMS = (
    "'openai:MODEL', 'openai-compatible:http://HOST:PORT/v1[#MODEL]', 'ollama:MODEL', "
    "or another 'provider:model' known to langchain's init_chat_model"
)
_JUDGE_DEFAULTS: dict[str, Any] = {"temperature": 0.0}


def _chat_openai() -> Any:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidParameterError(
            "this chat model needs langchain-openai: pip install langchain-openai"
        ) from exc
    return ChatOpenAI


def make_chat_model(spec: str, *, role: str = "reranker", **kwargs: Any) -> BaseChatModel:
    """Build the judge chat model named by ``spec`` (see the module docstring).

    ``role`` names the model's job in error messages (``"reranker"``, ``"judge"``, ``"generator"``), so
    that a wrong ``--judge`` or ``--generator`` spec is refused under its own option's name.
    Extra keyword arguments go to the chat model's constructor and override the defaults
    (temperature 0, 60 s timeout, no client retries, 16 answer tokens for local servers).

    Args:
        spec: ``"provider:model"``: ``openai:<model>``, ``openai-compatible:<url>#<model>``,
            ``ollama:<model>`` or any provider LangChain's ``init_chat_model`` knows.
        role: the model's job, named in error messages.
        **kwargs: passed to the chat model's constructor, over the defaults.

    Returns:
        The LangChain chat model.

    Raises:
        InvalidParameterError: a malformed spec, an ``oracle:`` spec, a non-http(s) server URL, a missing
            provider package or API key, or a provider LangChain cannot build.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise InvalidParameterError(f"{role} model {spec!r} is not a model spec; use {_FORMS}.")
    provider, _, rest = spec.partition(":")
    provider, rest = provider.strip().lower(), rest.strip()
    if not rest:
        raise InvalidParameterError(f"{role} model {spec!r} names no model after ':'; use {_FORMS}.")
    if provider == "oracle":
        raise InvalidParameterError(
            "'oracle:' judges are built from relevance judgements in code "
            "(OracleJudge.from_qrels(...)), not from the command line; use a real model spec."
        )
    if provider == "openai":
        params = {**_JUDGE_DEFAULTS, "timeout": 60.0, "max_retries": 0, "model": rest, **kwargs}
        try:
            return _chat_openai()(**params)
        except Exception as exc:  # openai.OpenAIError: no OPENAI_API_KEY, say so under the option's name
            if type(exc).__name__ != "OpenAIError":
                raise
            raise InvalidParameterError(f"{role} model {spec!r} cannot be built: {exc}") from None
    if provider == "openai-compatible":
        url, _, model = rest.partition("#")
        if not url.startswith(("http://", "https://")):
            raise InvalidParameterError(
                f"openai-compatible server {url!r} is not an http(s) URL; use e.g. "
                "'openai-compatible:http://127.0.0.1:8080/v1#model-name'."
            )
        params = {
            **_JUDGE_DEFAULTS,
            "timeout": 120.0,
            "max_retries": 0,
            "max_tokens": 16,
            # ChatOpenAI sends max_completion_tokens, which llama.cpp's server ignores: repeat the
            # limit under the older name so a chatty local model stops after a few tokens.
            "extra_body": {"max_tokens": kwargs.get("max_tokens", 16)},
            "base_url": url,
            "api_key": os.environ.get("OPENAI_API_KEY", "not-needed"),
            "model": model or "local-model",
            **kwargs,
        }
        return _chat_openai()(**params)
    if provider == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise InvalidParameterError(
                "'ollama:' models need langchain-ollama: pip install langchain-ollama "
                "(and a running Ollama server)."
            ) from exc
        return ChatOllama(**{**_JUDGE_DEFAULTS, "model": rest, **kwargs})
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:  # pragma: no cover - langchain is a dependency
        raise InvalidParameterError(f"unknown {role} provider {provider!r}; use {_FORMS}.") from exc
    try:
        return init_chat_model(spec, **{**_JUDGE_DEFAULTS, **kwargs})
    except (ValueError, ImportError) as exc:
        raise InvalidParameterError(
            f"cannot build {role} model {spec!r}: {exc}. Use {_FORMS}."
        ) from exc
