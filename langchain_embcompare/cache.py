"""A numpy embedding cache keyed by what determines a vector: (model, prompt, text).

LangChain's ``CacheBackedEmbeddings`` stores one JSON list of floats per text in a byte store. That is
the right interface for LangChain users, but a 5k-document corpus then costs 5k JSON decodes per run.
Here each (model, prompt) namespace is a folder of append-only ``.npy`` chunks plus a key list, loaded
with one ``np.load`` per chunk. Vectors are cached at the model's native dimension, before any
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

import numpy as np


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Cache of native-dimension float32 vectors for one (model, prompt) namespace.

    ``folder=None`` keeps the cache in memory only (for one process).
    """

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
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
                if len(keys) != len(chunk):
                    continue  # a torn write: ignore the chunk, its texts will be re-encoded
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
                name = uuid.uuid4().hex[:12]
                tmp = self.folder / f".{name}.tmp.npy"
                np.save(tmp, vectors)
                os.replace(tmp, self.folder / f"{name}.npy")
                tmp_keys = self.folder / f".{name}.tmp.json"
                tmp_keys.write_text(json.dumps(keys))
                os.replace(tmp_keys, self.folder / f"{name}.keys.json")  # the chunk exists once this lands
            self._add_chunk(keys, vectors)
