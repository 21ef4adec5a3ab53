"""Batch loading shared by the media embeddings: cache keys and threaded decoding that refuse a batch at once.

One job: turn a list of media inputs into decoded objects (or cache keys) in ``num_workers`` threads,
and when any input fails, raise ONE error of the modality's class naming every bad input and why
(:func:`~langchain_embcompare.media.refs.raise_media_failures`). Decoders are the modality modules'
business (``audio.py``: waveforms, ``video.py``: frames); this module never looks inside a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_embcompare.errors import MediaLoadError
from langchain_embcompare.media.refs import describe_failure, media_cache_key, raise_media_failures

__all__ = ["MediaBatchLoader", "default_workers"]


def default_workers() -> int:
    """Decoding threads when none are asked for: min(4, CPUs)."""
    return min(4, os.cpu_count() or 1)


class MediaBatchLoader:
    """Keys and decodes batches of one modality's inputs, refusing a batch with one error.

    Args:
        modality: "audio", "video", ... (the word used in messages).
        error: the :class:`~langchain_embcompare.errors.MediaLoadError` subclass raised.
        num_workers: decoding threads (default :func:`default_workers`).
        timeout: seconds for an http(s) fetch.
    """

    def __init__(self, modality: str, error: type[MediaLoadError], num_workers: int | None = None, timeout: float = 30.0) -> None:
        self.modality = modality
        self.error = error
        self.num_workers = max(1, int(num_workers) if num_workers is not None else default_workers())
        self.timeout = float(timeout)
        #: bytes of URLs fetched for the current batch (keyed by URL), so a URL is fetched once per batch
        self.fetched: dict[str, bytes] = {}

    def keys(self, items: Sequence[Any], who: str, key_of: Callable[[Any], str] | None = None) -> list[str]:
        """Cache keys (:func:`media_cache_key`, or ``key_of`` for inputs that are not references) of
        ``items``; raises the modality's error naming every input whose key cannot be made."""
        keys, failures = [], {}
        for i, item in enumerate(items):
            try:
                keys.append(key_of(item) if key_of is not None else media_cache_key(item, self.fetched, self.timeout))
            except Exception as exc:  # noqa: BLE001 (collected and raised below, naming every input)
                failures[item if isinstance(item, str) else f"input {i}"] = describe_failure(exc, item, self.modality)
        if failures:
            self.fetched.clear()
            raise_media_failures(failures, len(items), who, self.error, self.modality)
        return keys

    def load(self, items: Sequence[Any], decode: Callable[[Any], Any], who: str) -> list[Any]:
        """``decode(item)`` for every item, in ``num_workers`` threads, in input order; when any fails,
        raise the modality's error naming all of them (nothing of the batch is returned)."""

        def one(item: Any) -> tuple[Any, str | None]:
            try:
                return decode(item), None
            except MediaLoadError as exc:  # a decoder's own worded reason (e.g. "no speech")
                return None, str(exc)
            except Exception as exc:  # noqa: BLE001 (every failure is reported below)
                return None, describe_failure(exc, item, self.modality)

        try:
            if self.num_workers > 1 and len(items) > 1:
                with ThreadPoolExecutor(self.num_workers) as pool:
                    results = list(pool.map(one, items))
            else:
                results = [one(item) for item in items]
        finally:
            self.fetched.clear()
        failures = {
            (item if isinstance(item, str) else f"input {i}"): why
            for i, (item, (_, why)) in enumerate(zip(items, results))
            if why is not None
        }
        if failures:
            raise_media_failures(failures, len(items), who, self.error, self.modality)
        return [value for value, _ in results]
