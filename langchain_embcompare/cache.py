"""A numpy embedding cache keyed by what determines a vector: (model configuration, role, prompt, text).

LangChain's ``CacheBackedEmbeddings`` stores one JSON list of floats per text in a byte store. That is
the right interface for LangChain users, but a 5k-document corpus then costs 5k JSON decodes per run.
Here each namespace is a folder of append-only ``.npy`` chunks plus a key list, loaded with one
``np.load`` per chunk. The namespace is chosen by the caller
(:class:`~langchain_embcompare.matryoshka.MatryoshkaEmbeddings`) from the wrapped model's class and
configuration (:func:`~langchain_embcompare.embedding_base.embedding_cache_key`: model name, output size,
task prompts...), the role (query or document) and the prompt; the folder's ``key.json`` records it. Vectors are cached at the model's native dimension, before any
truncation, so a second run at another Matryoshka dimension or with another index re-encodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.errors import DimensionMismatchError


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Cache of native-dimension float32 vectors for one namespace (model configuration, role, prompt).

    ``folder=None`` keeps the cache in memory only (for one process). ``key`` (JSON-ready), if given,
    is written to ``folder/key.json`` so a cache folder says what it holds. Every vector in one
    namespace has one width: a model returning another width raises :class:`DimensionMismatchError`
    instead of mixing them.
    """

    def __init__(self, folder: str | Path | None, key: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.key = key
        self.owner: Any = None  # set by the caller to keep the object the namespace belongs to alive
        self._rows: dict[str, tuple[int, int]] = {}
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()
        if self.folder is not None and self.folder.is_dir():
            for keys_file in sorted(self.folder.glob("*.keys.json")):
                vec_file = keys_file.with_name(keys_file.name.replace(".keys.json", ".npy"))
                if not vec_file.exists():
                    continue
                try:
                    keys = json.loads(keys_file.read_text())
                    chunk = np.load(vec_file, mmap_mode="r")
                except (ValueError, OSError):
                    continue  # a torn chunk: ignore it, its texts will be re-encoded
                if len(keys) != len(chunk) or chunk.ndim != 2:
                    continue  # a torn write: ignore the chunk, its texts will be re-encoded
                if self._chunks and chunk.shape[1] != self._chunks[0].shape[1]:
                    continue  # written under an older key scheme by another configuration: not ours
                self._add_chunk(keys, chunk)

    def _add_chunk(self, keys: Sequence[str], chunk: np.ndarray) -> None:
        idx = len(self._chunks)
        self._chunks.append(chunk)
        self._rows.update({k: (idx, row) for row, k in enumerate(keys)})

    def __len__(self) -> int:
        return len(self._rows)

    def get_or_compute(
        self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray], chunk: int = 2048
    ) -> np.ndarray:
        """Vectors for ``texts``; only the texts not cached yet go to ``compute``, ``chunk`` at a time,
        each chunk stored as soon as it is encoded (an interrupted long encode keeps what it did)."""
        keys = [_key(t) for t in texts]
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts):
            if k not in self._rows and k not in missing:
                missing[k] = t
        todo = list(missing.items())
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            new = np.ascontiguousarray(compute([t for _, t in part]), dtype=np.float32)
            if new.ndim != 2 or len(new) != len(part):
                raise DimensionMismatchError(
                    f"The model returned an array of shape {new.shape} for {len(part)} texts; expected ({len(part)}, d)."
                )
            if self._chunks and new.shape[1] != self._chunks[0].shape[1]:
                where = f"the cache folder {self.folder}" if self.folder is not None else "this in-memory cache"
                raise DimensionMismatchError(
                    f"The model returned {new.shape[1]}-d vectors but {where} holds {self._chunks[0].shape[1]}-d ones "
                    "for the same configuration: a setting that changes the output size is missing from the cache key. "
                    "Give the embeddings class a cache_config() naming it, or pass cache_dir=None."
                )
            self._store([k for k, _ in part], new)
        return self._gather(keys)

    def _gather(self, keys: Sequence[str]) -> np.ndarray:
        locs = np.asarray([self._rows[k] for k in keys], dtype=np.int64).reshape(-1, 2)
        if len(locs) == 0:
            return np.zeros((0, 0), np.float32)
        dim = self._chunks[int(locs[0, 0])].shape[1]
        out = np.empty((len(keys), dim), dtype=np.float32)
        for c in np.unique(locs[:, 0]):
            sel = locs[:, 0] == c
            out[sel] = self._chunks[int(c)][locs[sel, 1]]
        return out

    def _store(self, keys: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                if self.key is not None and not (self.folder / "key.json").exists():
                    (self.folder / "key.json").write_text(json.dumps(self.key, indent=1, sort_keys=True))
                name = uuid.uuid4().hex[:12]
                tmp = self.folder / f".{name}.tmp.npy"
                np.save(tmp, vectors)
                os.replace(tmp, self.folder / f"{name}.npy")
                tmp_keys = self.folder / f".{name}.tmp.json"
                tmp_keys.write_text(json.dumps(keys))
                os.replace(tmp_keys, self.folder / f"{name}.keys.json")  # the chunk exists once this lands
            self._add_chunk(keys, vectors)
