"""The embedded default store: FAISS in-process, no server.

Index kinds ``flat`` (exact), ``ivf`` and ``hnsw`` (approximate); metrics ``cosine``, ``ip``, ``l2``;
precisions from the embeddings' vector space:

* ``float32``: ``IndexFlat*`` / ``IndexIVFFlat`` / ``IndexHNSWFlat``.
* ``int8``: a faiss 8-bit scalar quantizer (1 byte per dimension) whose per-dimension ranges are set
  to the calibration of ``sentence_transformers.quantize_embeddings`` (saved with the index), so faiss
  stores the same codes; queries stay float and are scored against the de-quantised documents.
* ``binary``: packed sign bits in ``IndexBinaryFlat`` / ``IndexBinaryHNSW`` (Hamming), a shortlist of
  ``k * rescore_multiplier`` rescored with the float vectors (memory-mapped from disk after a load).

Filters (see :mod:`langchain_embcompare.filters`) and cluster candidates become a faiss
``IDSelector``: a true prefilter. A selection small enough is scored exactly with numpy instead, as
graph and IVF searches lose recall when most of the corpus is excluded.

Saved as ``index.faiss`` + ``vectors.npy`` + ``documents.jsonl`` + ``store.json``: no pickle, so loading
an index never runs code (LangChain's FAISS store needs ``allow_dangerous_deserialization``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    SchemaMismatchError,
)
from langchain_embcompare.filters import Filter, as_expression, evaluate_filter
from langchain_embcompare.matryoshka import (
    MatryoshkaEmbeddings,
    PCARotation,
    Quantizer,
    VectorSpace,
    as_matryoshka,
    check_finite,
)
from langchain_embcompare.stores.base import METRICS, EmbStore, as_query_matrix, prepare_documents

FORMAT_VERSION = 1


@dataclass
class FaissIndexSpec:
    """How to index: the kind, the metric and each kind's knobs (defaults suit 1k-1M vectors)."""

    kind: Literal["flat", "ivf", "hnsw"] = "flat"
    metric: Literal["cosine", "ip", "l2"] = "cosine"
    nlist: int | None = None  # IVF lists; None -> 4 * sqrt(n) at first add
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    rescore_multiplier: int = 4  # binary: shortlist k * this by Hamming, then rescore in float
    exact_below: float = 0.05  # a filtered search over fewer rows than this fraction runs exactly in numpy

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "ivf", "hnsw"):
            raise InvalidParameterError(f"FAISS index kind must be 'flat', 'ivf' or 'hnsw', got {self.kind!r}.")
        if self.metric not in METRICS:
            raise InvalidParameterError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search", "rescore_multiplier"):
            if getattr(self, name) <= 0:
                raise InvalidParameterError(f"{name} must be positive, got {getattr(self, name)}.")


class FaissVectorStore(EmbStore):
    """A LangChain ``VectorStore`` on FAISS that knows its vector space and refuses any other."""

    def __init__(
        self,
        embedding: Embeddings | str,
        spec: FaissIndexSpec | None = None,
        *,
        quantizer: Quantizer | None = None,
        **spec_kwargs: Any,
    ) -> None:
        self.embedding: MatryoshkaEmbeddings = as_matryoshka(embedding)
        self.spec = spec or FaissIndexSpec(**spec_kwargs)
        self.metric = self.spec.metric
        self.precision = self.embedding.precision
        self.quantizer = quantizer or Quantizer(self.precision)
        self._space = self.embedding.space
        self.dim = self._space.dim
        self.index: Any = None
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._docs: list[Document] = []
        self._row_of: dict[str, int] = {}
        self._mask_cache: dict[str, np.ndarray] = {}

    # -- properties ------------------------------------------------------------------------------

    @property
    def space(self) -> VectorSpace:
        return self._space

    @property
    def documents(self) -> list[Document]:
        return self._docs

    @property
    def vectors(self) -> np.ndarray:
        """The stored float vectors, row i = ``documents[i]`` (for clustering, rescoring, plots)."""
        return self._vectors

    def __len__(self) -> int:
        return len(self._docs)

    def index_bytes(self) -> int:
        """Bytes of the searchable index (what a query touches), as faiss serialises it."""
        if self.index is None:
            return 0
        writer = faiss.serialize_index_binary if self.precision == "binary" else faiss.serialize_index
        return int(writer(self.index).nbytes)

    # -- building --------------------------------------------------------------------------------

    def _faiss_metric(self) -> int:
        return faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def _new_index(self, n: int) -> Any:
        d, spec, metric = self.dim, self.spec, self._faiss_metric()
        if self.precision == "binary":
            if d % 8:
                raise InvalidParameterError(f"Binary indexes need a dim that is a multiple of 8, got {d}.")
            if spec.kind == "hnsw":
                return faiss.IndexBinaryHNSW(d, spec.hnsw_m)
            if spec.kind == "ivf":
                return faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(d), d, self._nlist(n))
            return faiss.IndexBinaryFlat(d)
        if self.precision == "int8":
            qtype = faiss.ScalarQuantizer.QT_8bit
            if spec.kind == "hnsw":
                index = faiss.IndexHNSWSQ(d, qtype, spec.hnsw_m, metric)
                sq_index = faiss.downcast_index(index.storage)
            elif spec.kind == "ivf":
                index = sq_index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlat(d, metric), d, self._nlist(n), qtype, metric, False)
            else:
                index = sq_index = faiss.IndexScalarQuantizer(d, qtype, metric)
            self._pin_ranges(sq_index)
            if spec.kind != "ivf":
                sq_index.is_trained = True
                index.is_trained = True
            return index
        if spec.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, spec.hnsw_m, metric)
        elif spec.kind == "ivf":
            index = faiss.IndexIVFFlat(faiss.IndexFlat(d, metric), d, self._nlist(n), metric)
        else:
            return faiss.IndexFlat(d, metric)
        return index

    def _nlist(self, n: int) -> int:
        nlist = self.spec.nlist or max(1, int(4 * np.sqrt(n)))
        if nlist > n:
            raise InvalidParameterError(
                f"An IVF index with nlist={nlist} needs at least {nlist} vectors to train, got {n}: "
                "use a smaller nlist or kind='flat'."
            )
        return nlist

    def _pin_ranges(self, sq_index: Any) -> None:
        """Make faiss's 8-bit codes the ``quantize_embeddings`` int8 codes (+128): same per-dim ranges."""
        lo, hi = self.quantizer.ranges
        faiss.copy_array_to_vector(np.concatenate([lo, hi - lo]).astype(np.float32), sq_index.sq.trained)

    def _codes(self, vectors: np.ndarray) -> np.ndarray:
        if self.precision == "binary":
            return self.quantizer.encode(vectors)
        return vectors

    def add_vectors(self, vectors: np.ndarray, documents: Sequence[Document], **kwargs: Any) -> list[str]:
        """Index precomputed vectors. Documents whose id is already indexed are skipped (one copy per id)."""
        docs = prepare_documents(list(documents))
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if vectors.ndim != 2 or len(vectors) != len(docs):
            raise InvalidParameterError(f"Got {len(vectors)} vectors for {len(docs)} documents: pass one vector per document.")
        if vectors.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"Cannot add {vectors.shape[1]}-d vectors to a {self.dim}-d index (model {self._space.model!r}): "
                f"embed documents with the store's embeddings (dim={self.dim})."
            )
        check_finite(vectors, "document vectors")
        seen = set(self._row_of)
        keep = []
        for i, d in enumerate(docs):  # skip ids already indexed, and repeats within this batch
            if d.id not in seen:
                seen.add(d.id)
                keep.append(i)
        if not keep:
            return [d.id for d in docs]
        docs = [docs[i] for i in keep]
        vectors = vectors[keep]
        if self.metric == "cosine":
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms == 0, 1, norms)
        if self.index is None:
            self.quantizer.fit(vectors)
            self.index = self._new_index(len(vectors))
            self._configure(self.index)
        codes = self._codes(vectors)
        if not self.index.is_trained:
            self.index.train(codes)
            if self.precision == "int8":  # training an IVF-SQ refits its ranges: put ours back
                self._pin_ranges(self.index)
        self.index.add(codes)
        start = len(self._docs)
        self._docs.extend(docs)
        self._row_of.update({d.id: start + i for i, d in enumerate(docs)})
        self._vectors = np.concatenate([self._vectors, vectors]) if start else vectors
        self._mask_cache.clear()
        return [d.id for d in docs]

    def _configure(self, index: Any) -> None:
        if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
            index.hnsw.efConstruction = self.spec.ef_construction
            index.hnsw.efSearch = self.spec.ef_search
        ivf = faiss.try_extract_index_ivf(index) if not isinstance(index, faiss.IndexBinary) else None
        if ivf is not None:
            ivf.nprobe = self.spec.nprobe
        if isinstance(index, faiss.IndexBinaryIVF):
            index.nprobe = self.spec.nprobe

    # -- searching -------------------------------------------------------------------------------

    def allowed_rows(self, filter: Filter) -> np.ndarray | None:
        """Row numbers a filter keeps (None = all), cached per filter until the next add."""
        expr = as_expression(filter)
        if expr is None:
            return None
        key = str(expr)
        mask = self._mask_cache.get(key)
        if mask is None:
            mask = self._mask_cache[key] = evaluate_filter(expr, [d.metadata for d in self._docs])
        return np.flatnonzero(mask)

    def _exact_scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if self.precision == "int8":
            vecs = self.quantizer.dequantize(self.quantizer.encode(self._vectors[rows]))
        else:
            vecs = self._vectors[rows]
        if self.metric == "l2":
            d2 = (q * q).sum(1)[:, None] - 2 * q @ vecs.T + (vecs * vecs).sum(1)[None, :]
            return -np.sqrt(np.maximum(d2, 0))
        return q @ vecs.T

    def _topk_exact(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self._exact_scores(q, rows)
        k = min(k, len(rows))
        if k == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, 1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        return np.take_along_axis(part_scores, order, 1), rows[np.take_along_axis(part, order, 1)]

    def _search_params(self, selector: Any) -> Any:
        index = self.index
        if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.spec.ef_search)
        if isinstance(index, faiss.IndexBinaryIVF) or (
            not isinstance(index, faiss.IndexBinary) and faiss.try_extract_index_ivf(index) is not None
        ):
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.spec.nprobe)
        return faiss.SearchParameters(sel=selector)

    def _faiss_search(self, q: np.ndarray, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        params = None
        if rows is not None:
            params = self._search_params(faiss.IDSelectorBatch(rows.astype(np.int64)))
        scores, idx = self.index.search(q, k, params=params)
        if self.metric == "l2":
            scores = -np.sqrt(np.maximum(scores, 0))
        return scores, idx

    def _binary_search(self, q: np.ndarray, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        shortlist = min(len(self._docs), k * self.spec.rescore_multiplier)
        params = None if rows is None else self._search_params(faiss.IDSelectorBatch(rows.astype(np.int64)))
        _, cand = self.index.search(self.quantizer.encode(q), shortlist, params=params)
        scores = np.full(cand.shape, -np.inf, dtype=np.float32)
        valid = cand >= 0
        vecs = self._vectors[np.where(valid, cand, 0)]
        if self.metric == "l2":
            sims = -np.linalg.norm(vecs - q[:, None, :], axis=2)
        else:
            sims = np.einsum("md,mkd->mk", q, vecs)
        scores[valid] = sims[valid]
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(np.where(valid, cand, -1), order, 1)

    def search_vectors(
        self,
        query_vectors: np.ndarray,
        k: int = 4,
        filter: Filter = None,
        candidate_ids: np.ndarray | None = None,
        **kwargs: Any,
    ) -> list[list[tuple[Document, float]]]:
        """Top ``k`` per query vector; ``candidate_ids`` restricts the search to those rows."""
        return self._to_documents(*self.search_vectors_raw(query_vectors, k, filter, candidate_ids))

    def search_vectors_raw(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, candidate_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) matrices, rows -1 where fewer than k documents qualify: the zero-copy path."""
        if k <= 0:
            raise InvalidParameterError(f"k must be positive, got {k}.")
        q = as_query_matrix(query_vectors, self.dim, f"index (model {self._space.model!r})")
        if self.index is None or not self._docs:
            raise EmptyInputError("The index is empty: add documents before searching.")
        if self.metric == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        rows = self.allowed_rows(filter)
        if candidate_ids is not None:
            cand = np.asarray(candidate_ids, dtype=np.int64)
            rows = cand if rows is None else np.intersect1d(rows, cand)
        if rows is not None and len(rows) == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        k_eff = min(k, len(self._docs) if rows is None else len(rows))
        if rows is not None and len(rows) <= max(256, self.spec.exact_below * len(self._docs)):
            scores, idx = self._topk_exact(q, k_eff, rows)
        elif self.precision == "binary":
            scores, idx = self._binary_search(q, k_eff, rows)
        else:
            scores, idx = self._faiss_search(q, k_eff, rows)
        return scores.astype(np.float32, copy=False), idx

    def _to_documents(self, scores: np.ndarray, idx: np.ndarray) -> list[list[tuple[Document, float]]]:
        docs = self._docs
        return [
            [(docs[i], float(s)) for s, i in zip(srow.tolist(), irow.tolist()) if i >= 0]
            for srow, irow in zip(scores, idx)
        ]

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [self._docs[self._row_of[i]] for i in ids if i in self._row_of]

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        return np.asarray([self._row_of[i] for i in ids], dtype=np.int64)

    # -- persistence -----------------------------------------------------------------------------

    def save_local(self, folder: str | Path) -> Path:
        """Write the index folder: faiss file, float vectors, documents, JSON metadata. No pickle."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.index is None:
            raise EmptyInputError("Nothing to save: the index is empty.")
        if self.precision == "binary":
            faiss.write_index_binary(self.index, str(folder / "index.faiss"))
        else:
            faiss.write_index(self.index, str(folder / "index.faiss"))
        np.save(folder / "vectors.npy", self._vectors)
        with (folder / "documents.jsonl").open("w", encoding="utf-8") as f:
            for d in self._docs:
                f.write(json.dumps({"id": d.id, "page_content": d.page_content, "metadata": d.metadata}) + "\n")
        if self.embedding.rotation is not None:
            self.embedding.rotation.save(folder)
        meta = {
            "format": "langchain-embcompare/faiss",
            "version": FORMAT_VERSION,
            "space": self._space.to_dict(),
            "spec": asdict(self.spec),
            "quantizer": self.quantizer.to_dict(),
            "count": len(self._docs),
        }
        (folder / "store.json").write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def load_local(
        cls, folder: str | Path, embedding: Embeddings | str | None = None, *, mmap: bool = True
    ) -> FaissVectorStore:
        """Load a folder written by :meth:`save_local`.

        Without ``embedding`` the query embeddings are rebuilt from the recorded vector space (model,
        dim, prompts, layer-norm, rotation, precision). With one, it must produce the same space.
        """
        folder = Path(folder)
        meta_path = folder / "store.json"
        if not meta_path.exists():
            raise SchemaMismatchError(f"{folder} is not a langchain-embcompare FAISS index (no store.json): save one with save_local().")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != "langchain-embcompare/faiss" or meta.get("version", 0) > FORMAT_VERSION:
            raise SchemaMismatchError(f"{folder}/store.json has format {meta.get('format')!r} v{meta.get('version')}: not readable by this version.")
        space = VectorSpace.from_dict(meta["space"])
        rotation = PCARotation.load(folder) if space.rotation else None
        if embedding is None:
            emb = MatryoshkaEmbeddings(
                space.model,
                dim=space.dim,
                query_prompt=space.query_prompt,
                document_prompt=space.document_prompt,
                layer_norm=space.layer_norm,
                rotation=rotation,
                precision=space.precision,
            )
        else:
            emb = as_matryoshka(embedding)
            if emb.rotation is None and rotation is not None and space.rotation:
                emb = emb.with_dim(emb.dim, rotation=rotation)
        space.check_same(emb.space, where=f"index at {folder}")
        store = cls(emb, FaissIndexSpec(**meta["spec"]), quantizer=Quantizer.from_dict(meta["quantizer"]))
        if space.precision == "binary":
            store.index = faiss.read_index_binary(str(folder / "index.faiss"))
        else:
            store.index = faiss.read_index(str(folder / "index.faiss"))
        store._configure(store.index)
        store._vectors = np.load(folder / "vectors.npy", mmap_mode="r" if mmap else None)
        with (folder / "documents.jsonl").open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        store._docs = [Document(page_content=r["page_content"], metadata=r["metadata"], id=r["id"]) for r in rows]
        store._row_of = {d.id: i for i, d in enumerate(store._docs)}
        if not (len(store._docs) == len(store._vectors) == store.index.ntotal == meta["count"]):
            raise SchemaMismatchError(
                f"{folder} is inconsistent: {len(store._docs)} documents, {len(store._vectors)} vectors, "
                f"{store.index.ntotal} indexed, {meta['count']} recorded. Rebuild it with save_local()."
            )
        return store


__all__ = ["FaissIndexSpec", "FaissVectorStore"]
