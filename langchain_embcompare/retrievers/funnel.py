"""Matryoshka funnel retrieval: shortlist with small vectors, rescore the shortlist at full dimension.

Why: search cost grows with dimension x corpus size, but only the few candidates near the top need
full precision. The funnel scans the whole corpus with the first ``shortlist_dim`` dimensions
(re-normalised: a Matryoshka prefix), or with 1 bit per dimension (``precision="binary"``: packed sign
bits from ``sentence_transformers.quantize_embeddings(..., "ubinary")`` in a faiss ``IndexBinaryFlat``,
Hamming distance), keeps ``shortlist`` candidates, and rescores only those with the stored full-dimension
vectors (a numpy gather + one batched product). Returned scores are the full-dimension scores.

For models not trained for Matryoshka (all-MiniLM-L6-v2 ...), ``rotation="pca"`` first rotates the
vectors onto their principal axes (:class:`~langchain_embcompare.matryoshka.PCARotation`, fitted on the
store's vectors; orthogonal, so full-dimension scores are unchanged) so that the prefix carries the most
variance. On SciFact with MiniLM a 128-d shortlist of 50 keeps 99.0 % of full-dim nDCG@10 with the raw
prefix and 100 % after the rotation. ``rotation="auto"`` (default) rotates a float shortlist of fewer
dimensions than the store's on FAISS when the store's vectors are not rotated already; a binary
shortlist is never rotated (sign bits of the low-variance PCA axes are noise: 95 % vs 99 % at 384 bits). On Redis the shortlist runs on a second, small vector field of the index
(``RedisIndexSpec(extra_vector_fields={"vector_128": 128})``, filled with the prefixes at ingest), then
the shortlist's full vectors are fetched (one pipelined round trip) and rescored.

Example::

    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=50, k=10)
    funnel.invoke("what do product managers do?")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from langchain_core.documents import Document
from pydantic import ConfigDict, PrivateAttr

from langchain_embcompare.retrievers.vector import BatchRetriever
from langchain_embcompare.errors import DimensionMismatchError, EmptyInputError, InvalidParameterError

__all__ = ["MatryoshkaFunnelRetriever", "prefix_normalize", "binary_codes"]


def prefix_normalize(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` dimensions, re-normalised to unit length (a Matryoshka prefix), float32."""
    small = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[:, :dim])
    norms = np.linalg.norm(small, axis=1, keepdims=True)
    return (small / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


def binary_codes(vectors: np.ndarray) -> np.ndarray:
    """Packed sign bits (``ubinary``): ``dim / 8`` bytes per vector, for faiss binary indexes."""
    from sentence_transformers import quantize_embeddings

    return np.ascontiguousarray(quantize_embeddings(np.asarray(vectors, dtype=np.float32), precision="ubinary"))


class MatryoshkaFunnelRetriever(BatchRetriever):
    """Shortlist ``shortlist`` candidates with small (or binary) vectors, rescore at full dim, return ``k``.

    ``shortlist_dim=None`` uses the full dimension for the shortlist (with ``precision="binary"``: full
    binary codes, then float rescoring). ``vector_field`` names the Redis field holding the small
    vectors (default ``f"vector_{shortlist_dim}"``). ``filter`` is ANDed to the shortlist search.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    k: int = 4
    shortlist_dim: int | None = 128
    shortlist: int = 50
    precision: Literal["float32", "binary"] = "float32"
    rotation: Literal["pca", "auto"] | None = "auto"
    filter: Any = None
    vector_field: str | None = None
    seed: int = 0

    _small: Any = PrivateAttr(default=None)
    _rot: Any = PrivateAttr(default=None)
    _n: int = PrivateAttr(default=-1)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._validate()  # after pydantic, so the package's own error class reaches the caller

    # ------------------------------------------------------------------ checks

    @property
    def full_dim(self) -> int:
        return int(self.store.space.dim)

    @property
    def small_dim(self) -> int:
        return int(self.shortlist_dim or self.full_dim)

    def _validate(self) -> None:
        full = self.full_dim
        if self.k <= 0:
            raise InvalidParameterError(f"k must be positive, got {self.k}.")
        if self.shortlist_dim is not None and not 0 < self.shortlist_dim <= full:
            raise DimensionMismatchError(
                f"shortlist_dim={self.shortlist_dim} must lie in 1..{full}: the store's vectors are {full}-d "
                f"(model {self.store.space.model!r}); pick a Matryoshka prefix such as {min(128, full)} or {full // 2}."
            )
        if self.shortlist < self.k:
            raise InvalidParameterError(
                f"shortlist={self.shortlist} is smaller than k={self.k}: the shortlist must hold at least k "
                f"candidates; use shortlist >= k (5-10x k is typical)."
            )
        if self.precision not in ("float32", "binary"):
            raise InvalidParameterError(f"precision must be 'float32' or 'binary', got {self.precision!r}.")
        if self.precision == "binary" and self.small_dim % 8:
            raise InvalidParameterError(
                f"a binary shortlist packs 8 dimensions per byte: shortlist_dim={self.small_dim} must be a multiple of 8."
            )
        if _is_redis(self.store):
            if self.precision == "binary":
                raise InvalidParameterError(
                    "Redis has no binary vector type: use precision='float32' with a small vector field on Redis, "
                    "or the FAISS store for a binary shortlist."
                )
            if self.rotation == "pca":
                raise InvalidParameterError(
                    "rotation='pca' needs the small vectors stored rotated; on Redis build the store with "
                    "MatryoshkaEmbeddings(..., rotation=...) instead and leave rotation=None here."
                )
            field = self.redis_field
            have = dict(self.store.spec.extra_vector_fields)
            if self.shortlist_dim is not None and self.shortlist_dim != full and have.get(field) != self.shortlist_dim:
                raise InvalidParameterError(
                    f"The Redis index has no {self.shortlist_dim}-d vector field {field!r} (it has {have or 'none'}): "
                    f"create it with RedisIndexSpec(extra_vector_fields={{{field!r}: {self.shortlist_dim}}}) and re-index, "
                    "or pass vector_field= naming the existing small field."
                )

    @property
    def rotates(self) -> bool:
        """Whether the shortlist runs on PCA-rotated prefixes (``rotation`` resolved)."""
        if self.rotation == "pca":
            return True
        if self.rotation != "auto" or _is_redis(self.store) or self.precision == "binary":
            return False
        return self.small_dim < self.full_dim and getattr(self.store.space, "rotation", None) is None

    @property
    def redis_field(self) -> str:
        if self.vector_field:
            return self.vector_field
        if self.shortlist_dim is None or self.shortlist_dim == self.full_dim:
            return "vector"
        return f"vector_{self.shortlist_dim}"

    # ------------------------------------------------------------------ the small index (FAISS)

    def build(self) -> MatryoshkaFunnelRetriever:
        """(Re)build the small index from the store's vectors; done lazily on the first search."""
        if _is_redis(self.store):
            return self
        full = np.asarray(self.store.vectors, dtype=np.float32)
        if len(full) == 0:
            raise EmptyInputError("The store holds no documents: add documents before searching.")
        if self.rotates and self._rot is None:
            from langchain_embcompare.matryoshka import PCARotation
            from langchain_embcompare.retrievers.cluster import _few_threads

            with _few_threads(min(len(full), 20000) * full.shape[1] ** 2):
                self._rot = PCARotation.fit(full, seed=self.seed)
        small = self._small_vectors(full)
        if self.precision == "binary":
            index = faiss.IndexBinaryFlat(self.small_dim)
            index.add(binary_codes(small))
        else:
            index = faiss.IndexFlat(self.small_dim, faiss.METRIC_L2 if _metric(self.store) == "l2" else faiss.METRIC_INNER_PRODUCT)
            index.add(small)
        self._small = index
        self._n = len(full)
        return self

    def _small_vectors(self, full: np.ndarray) -> np.ndarray:
        x = self._rot.apply(full) if self._rot is not None else full
        if _metric(self.store) == "cosine" or self.shortlist_dim not in (None, self.full_dim):
            return prefix_normalize(x, self.small_dim)
        return np.ascontiguousarray(x[:, : self.small_dim], dtype=np.float32)

    def save(self, folder: str | Path) -> Path:
        """Settings (JSON) and the fitted rotation (``rotation.npy``); the small index is rebuilt on load."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.rotates:
            if self._rot is None:
                self.build()
            self._rot.save(folder)
        settings = {
            "k": self.k, "shortlist_dim": self.shortlist_dim, "shortlist": self.shortlist,
            "precision": self.precision, "rotation": self.rotation, "vector_field": self.vector_field, "seed": self.seed,
        }
        (folder / "funnel.json").write_text(json.dumps(settings))
        return folder

    @classmethod
    def load(cls, folder: str | Path, store: Any, **kwargs: Any) -> MatryoshkaFunnelRetriever:
        folder = Path(folder)
        settings = {**json.loads((folder / "funnel.json").read_text()), **kwargs}
        retriever = cls(store=store, **settings)
        if retriever.rotates and (folder / "rotation.npy").exists():
            from langchain_embcompare.matryoshka import PCARotation

            retriever._rot = PCARotation.load(folder)
        return retriever

    # ------------------------------------------------------------------ search

    def _queries(self, query_vectors: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(np.asarray(query_vectors, dtype=np.float32))
        if q.ndim == 1:
            q = q[None, :]
        if q.shape[1] != self.full_dim:
            raise DimensionMismatchError(
                f"{q.shape[1]}-d query vectors cannot search a {self.full_dim}-d store: embed queries with the "
                "store's embeddings (full dimension; the funnel truncates them itself)."
            )
        if _metric(self.store) == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        return q

    def search_vectors(
        self, query_vectors: np.ndarray, k: int | None = None, filter: Any = None
    ) -> list[list[tuple[Document, float]]]:
        """Funnel top-``k`` per full-dimension query vector, scores at full dimension."""
        k = k or self.k
        q = self._queries(query_vectors)
        filt = filter if filter is not None else self.filter
        n_short = max(self.shortlist, k)
        if _is_redis(self.store):
            return self._search_redis(q, k, n_short, filt)
        scores, rows = self.search_vectors_raw(q, k, filt)
        docs = self.store.documents
        return [
            [(docs[i], float(s)) for s, i in zip(srow.tolist(), irow.tolist()) if i >= 0]
            for srow, irow in zip(scores, rows)
        ]

    def search_vectors_raw(self, q: np.ndarray, k: int, filt: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS: (scores, rows) matrices for normalised full-dim queries; rows -1 where none qualify."""
        if self._small is None or self._n != len(self.store.documents):
            self.build()
        n_short = max(self.shortlist, k)
        rows = self.store.allowed_rows(filt) if filt is not None else None
        if rows is not None and len(rows) == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        qs = self._small_vectors(q)
        cand = self._shortlist(qs, n_short, rows)
        return rescore(q, cand, self.store.vectors, k, _metric(self.store))

    def _shortlist(self, qs: np.ndarray, n_short: int, rows: np.ndarray | None) -> np.ndarray:
        n_short = min(n_short, self._n if rows is None else len(rows))
        if self.precision == "binary":
            codes = binary_codes(qs)
            if rows is None:
                return self._small.search(codes, n_short)[1]
            # faiss binary indexes ignore IDSelectors: Hamming over the allowed rows in numpy.
            sub = binary_codes(self._small_vectors(np.asarray(self.store.vectors)[rows]))
            out = np.empty((len(qs), n_short), np.int64)
            for j in range(len(qs)):  # one query at a time keeps the (rows, bytes) XOR small
                ham = np.unpackbits(sub ^ codes[j][None, :], axis=1).sum(1)
                out[j] = rows[np.argpartition(ham, n_short - 1)[:n_short]]
            return out
        params = None if rows is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows.astype(np.int64)))
        return self._small.search(qs, n_short, params=params)[1]

    def _search_redis(self, q: np.ndarray, k: int, n_short: int, filt: Any) -> list[list[tuple[Document, float]]]:
        field = self.redis_field
        qs = prefix_normalize(q, self.small_dim) if field != "vector" else q
        short = self.store.search_vectors(qs, n_short, filt, vector_field=field)
        out = []
        for qi, hits in enumerate(short):
            if not hits:
                out.append([])
                continue
            ids = [d.id for d, _ in hits]
            full = self.store.fetch_vectors(ids)
            s = _scores(q[qi : qi + 1], full[None], _metric(self.store))[0]
            top = np.argsort(-s, kind="stable")[:k]
            out.append([(hits[t][0], float(s[t])) for t in top])
        return out

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once: one embedding batch, one shortlist search, one rescoring product."""
        q = self.store.embedding.encode_queries(list(queries))
        hits = self.search_vectors(q, k=k, filter=filter)
        return [
            [Document(page_content=d.page_content, id=d.id, metadata={**d.metadata, "score": s}) for d, s in row]
            for row in hits
        ]


def _scores(q: np.ndarray, vecs: np.ndarray, metric: str) -> np.ndarray:
    """(m, n) scores of q (m, d) against vecs (m, n, d) in the package convention (higher = closer)."""
    if metric == "l2":
        return -np.linalg.norm(vecs - q[:, None, :], axis=2)
    return np.einsum("md,mnd->mn", q, vecs)


def rescore(
    q: np.ndarray, cand: np.ndarray, vectors: np.ndarray, k: int, metric: str = "cosine", chunk: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Full-dimension top-``k`` of each query's candidate rows (-1 = no candidate).

    A gather of the candidates' full vectors and one batched product, ``chunk`` queries at a time into
    one reused buffer: gathering all queries at once allocates (m, N, d) floats (150 MB for 200 x 500 x
    384), and fresh allocations that size cost more than the arithmetic.
    """
    vectors = np.asarray(vectors)
    m, n = cand.shape
    valid = cand >= 0
    safe = np.where(valid, cand, 0)
    s = np.empty((m, n), np.float32)
    buf = np.empty((min(chunk, m), n, vectors.shape[1]), np.float32)
    for start in range(0, m, chunk):
        stop = min(m, start + chunk)
        vecs = buf[: stop - start]
        np.take(vectors, safe[start:stop], axis=0, out=vecs)
        s[start:stop] = _scores(q[start:stop], vecs, metric)
    s[~valid] = -np.inf
    kk = min(k, n)
    part = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (m, 1))
    ps = np.take_along_axis(s, part, 1)
    order = np.argsort(-ps, axis=1, kind="stable")
    top_s = np.take_along_axis(ps, order, 1)
    top_i = np.take_along_axis(np.take_along_axis(cand, part, 1), order, 1)
    top_i[~np.isfinite(top_s)] = -1
    return top_s, top_i


def _metric(store: Any) -> str:
    if hasattr(store, "metric"):
        return str(store.metric)
    spec = getattr(store, "spec", None)
    return str(getattr(spec, "metric", "cosine"))


def _is_redis(store: Any) -> bool:
    return type(store).__name__ == "RedisVectorStore" or (hasattr(store, "fetch_vectors") and not hasattr(store, "vectors"))
