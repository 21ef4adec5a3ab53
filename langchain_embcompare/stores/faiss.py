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
from collections.abc import Mapping, Sequence
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
from langchain_embcompare.stores.base import (
    METRICS,
    EmbStore,
    as_query_matrix,
    empty_result,
    exact_scores,
    filter_matches_nothing,
    last_wins,
    normalize_rows,
    prepare_documents,
    top_k,
)

FORMAT_VERSION = 1


@dataclass
class FaissIndexSpec:
    """How to index: the kind, the metric and each kind's knobs (defaults suit 1k-1M vectors).

    ``kind``: ``"flat"`` (exact), ``"ivf"`` (``nlist`` lists, default ``min(4 sqrt(n), n / 39)``;
    ``nprobe`` lists searched, 1..nlist), ``"hnsw"`` (``hnsw_m`` links per node, 4..64;
    ``ef_construction``; ``ef_search`` >= k candidates kept while searching). ``field_kind`` indexes
    the extra vector fields (the funnel's shortlist): ``"flat"`` (exact scan), ``"hnsw"``
    (``field_ef_search``), ``"ivf"`` (``field_nprobe``) or ``"binary"`` (sign bits, Hamming, HNSW
    over the codes): an approximate shortlist that does not scan every vector.
    """

    kind: Literal["flat", "ivf", "hnsw"] = "flat"
    metric: Literal["cosine", "ip", "l2"] = "cosine"
    nlist: int | None = None  # IVF lists; None -> 4 * sqrt(n) at first add
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    rescore_multiplier: int = 4  # binary: shortlist k * this by Hamming, then rescore in float
    exact_below: float = 0.05  # a filtered search over fewer rows than this fraction runs exactly in numpy
    field_kind: Literal["flat", "hnsw", "ivf", "binary"] = "flat"
    field_ef_search: int = 64
    field_nprobe: int = 16

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "ivf", "hnsw"):
            raise InvalidParameterError(f"FAISS index kind must be 'flat', 'ivf' or 'hnsw', got {self.kind!r}.")
        if self.metric not in METRICS:
            raise InvalidParameterError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        if self.field_kind not in ("flat", "hnsw", "ivf", "binary"):
            raise InvalidParameterError(f"field_kind must be 'flat', 'hnsw', 'ivf' or 'binary', got {self.field_kind!r}.")
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search", "rescore_multiplier", "field_ef_search", "field_nprobe"):
            if getattr(self, name) <= 0:
                raise InvalidParameterError(f"{name} must be positive, got {getattr(self, name)}.")


class FaissVectorStore(EmbStore):
    """A LangChain ``VectorStore`` on FAISS that implements the store protocol (:mod:`.base`).

    Capabilities: ``candidate_rows``, ``clusters`` (a per-row label array, searched as contiguous
    blocks), ``vector_fields`` (extra float matrices, e.g. the funnel's shortlist prefix, searched
    exactly with a faiss flat index).

    Rows are positions in the store (0 .. n-1). Appending documents keeps every row; an upsert of a
    stored id or a delete compacts the store (the index is rebuilt from the kept float vectors), so
    rows are valid until the next write that replaces or removes documents. int8 calibration
    (per-dimension ranges) is refitted on all vectors whenever the store has doubled since the last
    fit, so an index started with one document does not collapse every later score onto one value.
    """

    capabilities = frozenset({"candidate_rows", "clusters", "vector_fields"})

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
        self._calibrated_on = 0 if self.quantizer.ranges is None else -1  # -1: ranges given, keep them
        self._trained_on = 0  # vectors the current index was built (IVF: trained) on
        self._space = self.embedding.space
        self.dim = self._space.dim
        self.index: Any = None
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._docs: list[Document] = []
        self._row_of: dict[str, int] = {}
        self._mask_cache: dict[str, np.ndarray] = {}
        self._labels: np.ndarray | None = None  # cluster label per row, -1 = none
        self._blocks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # perm, bounds, label values
        self._fields: dict[str, np.ndarray] = {}  # extra vector fields, row-aligned
        self._field_index: dict[str, Any] = {}

    # -- properties ------------------------------------------------------------------------------

    @property
    def space(self) -> VectorSpace:
        return self._space

    @property
    def documents(self) -> list[Document]:
        """The stored documents, row i = ``documents[i]`` (FAISS-specific; the protocol is ``documents_at``)."""
        return self._docs

    @property
    def vectors(self) -> np.ndarray:
        """The stored float vectors, row i = ``documents[i]`` (FAISS-specific; the protocol is ``vectors_at``)."""
        return self._vectors

    def count(self) -> int:
        return len(self._docs)

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
            return faiss.IndexHNSWFlat(d, spec.hnsw_m, metric)
        if spec.kind == "ivf":
            return faiss.IndexIVFFlat(faiss.IndexFlat(d, metric), d, self._nlist(n), metric)
        return faiss.IndexFlat(d, metric)

    def _nlist(self, n: int) -> int:
        # Default: 4 sqrt(n) lists, at most n / 39 (faiss's minimum of 39 training points per list).
        nlist = self.spec.nlist or max(1, min(int(4 * np.sqrt(n)), n // 39))
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

    def _rebuild(self) -> None:
        """A fresh index over every stored vector (after a compaction or an int8 recalibration)."""
        self.index = None
        self._mask_cache.clear()
        self._field_index.clear()
        self._blocks = None
        if len(self._vectors):
            self._index_append(self._vectors)

    def _index_append(self, vectors: np.ndarray) -> None:
        if self.index is None:
            if self.precision == "int8" and self._calibrated_on >= 0:
                self.quantizer.ranges = None
                self.quantizer.fit(self._vectors)
                self._calibrated_on = len(self._vectors)
            self.index = self._new_index(len(vectors))
            self._configure(self.index)
            self._trained_on = len(vectors)
        codes = self._codes(vectors)
        if not self.index.is_trained:
            self.index.train(codes)
            if self.precision == "int8":  # training an IVF-SQ refits its ranges: put ours back
                self._pin_ranges(self.index)
        self.index.add(codes)

    def upsert_vectors(
        self,
        vectors: np.ndarray,
        documents: Sequence[Document],
        *,
        extra_vectors: Mapping[str, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Index precomputed vectors (n, dim) float32 with their documents; returns every id passed.

        A document whose id is stored already replaces it (text, metadata, vector); one batch naming an
        id twice keeps the last. ``extra_vectors`` fills extra vector fields (default for a field not
        given: the Matryoshka prefix of ``vectors`` at the field's dim, re-normalised).
        Raises ``DimensionMismatchError``, ``InvalidVectorError`` (NaN/inf), ``InvalidParameterError``.
        """
        if kwargs:
            raise InvalidParameterError(f"FaissVectorStore.upsert_vectors got unsupported options {sorted(kwargs)}.")
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
        extras = self._check_extras(extra_vectors, len(docs))
        all_ids = [d.id for d in docs]
        keep = last_wins(docs)
        if len(keep) < len(docs):
            docs = [docs[i] for i in keep]
            vectors = vectors[keep]
            extras = {f: v[keep] for f, v in extras.items()}
        if self.metric == "cosine":
            vectors = normalize_rows(vectors)
        replaced = [self._row_of[d.id] for d in docs if d.id in self._row_of]
        if replaced:
            self._drop_rows(np.asarray(replaced, dtype=np.int64), rebuild=False)
        start = len(self._docs)
        self._docs.extend(docs)
        self._row_of.update({d.id: start + i for i, d in enumerate(docs)})
        self._vectors = np.concatenate([self._vectors, vectors]) if start else vectors
        if self._labels is not None:
            self._labels = np.concatenate([self._labels, np.full(len(docs), -1, np.int64)])
            self._blocks = None
        for name, dim in self.vector_fields.items():
            new = extras.get(name)
            if new is None:
                new = normalize_rows(vectors[:, :dim]) if dim <= self.dim else None
            if new is None:
                raise InvalidParameterError(f"Vector field {name!r} ({dim}-d) needs extra_vectors[{name!r}] for new documents.")
            self._fields[name] = np.concatenate([self._fields[name], new.astype(np.float32)])
            self._field_index.pop(name, None)
        self._mask_cache.clear()
        if replaced or self._needs_refit() or self.index is None:
            self._rebuild()
        else:
            self._index_append(vectors)
        return all_ids

    def _needs_refit(self) -> bool:
        """Fitted state gone stale as the store grew: int8 ranges fitted on under half of the vectors,
        or automatic IVF lists trained on under a quarter of them. Rebuilding at each doubling
        (quadrupling) keeps the amortised cost linear."""
        n = len(self._docs)
        if self.precision == "int8" and self._calibrated_on > 0 and n >= 2 * self._calibrated_on:
            return True
        return self.spec.kind == "ivf" and self.spec.nlist is None and 0 < self._trained_on and n >= 4 * self._trained_on

    def _check_extras(self, extra_vectors: Mapping[str, np.ndarray] | None, n: int) -> dict[str, np.ndarray]:
        out = {}
        for name, arr in (extra_vectors or {}).items():
            dim = self.vector_fields.get(name)
            if dim is None:
                raise InvalidParameterError(f"Vector field {name!r} does not exist (fields: {sorted(self.vector_fields)}).")
            a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
            if a.shape != (n, dim):
                raise DimensionMismatchError(f"extra_vectors[{name!r}] has shape {a.shape}; expected ({n}, {dim}).")
            out[name] = check_finite(a, f"{name!r} vectors")
        return out

    def _drop_rows(self, rows: np.ndarray, rebuild: bool = True) -> None:
        keep = np.ones(len(self._docs), dtype=bool)
        keep[rows] = False
        self._docs = [d for d, k in zip(self._docs, keep.tolist()) if k]
        self._row_of = {d.id: i for i, d in enumerate(self._docs)}
        self._vectors = np.ascontiguousarray(np.asarray(self._vectors)[keep])
        if self._labels is not None:
            self._labels = self._labels[keep]
        for name in self._fields:
            self._fields[name] = np.ascontiguousarray(self._fields[name][keep])
        if rebuild:
            self._rebuild()

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove documents by id (unknown ids are not an error); ``None`` removes every document.
        Rows of the remaining documents may change (the store is compacted)."""
        if ids is None:
            self._drop_rows(np.arange(len(self._docs), dtype=np.int64))
            return True
        rows = [self._row_of[i] for i in {str(i) for i in ids} if i in self._row_of]
        if rows:
            self._drop_rows(np.asarray(rows, dtype=np.int64))
        return True

    def _configure(self, index: Any) -> None:
        if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
            index.hnsw.efConstruction = self.spec.ef_construction
            index.hnsw.efSearch = self.spec.ef_search
        ivf = faiss.try_extract_index_ivf(index) if not isinstance(index, faiss.IndexBinary) else None
        if ivf is not None:
            ivf.nprobe = self.spec.nprobe
        if isinstance(index, faiss.IndexBinaryIVF):
            index.nprobe = self.spec.nprobe

    # -- optional capabilities -------------------------------------------------------------------

    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Set the cluster label (int >= 0) of ``rows``; rows never labelled hold -1."""
        rows = np.asarray(rows, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"{len(rows)} rows but {len(labels)} labels: pass one label per row.")
        if self._labels is None:
            self._labels = np.full(len(self._docs), -1, dtype=np.int64)
        self._labels[rows] = labels
        self._blocks = None

    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """The cluster label of each row (int64, -1 = none)."""
        if self._labels is None:
            return np.full(len(rows), -1, dtype=np.int64)
        return self._labels[np.asarray(rows, dtype=np.int64)]

    @property
    def vector_fields(self) -> dict[str, int]:
        return {name: int(v.shape[1]) for name, v in self._fields.items()}

    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Create the extra vector field ``name`` of ``dim`` (filled with re-normalised Matryoshka
        prefixes of the stored vectors when ``dim`` <= the store's dim, else zeros until written)."""
        have = self.vector_fields.get(name)
        if have is not None:
            if have != dim:
                raise DimensionMismatchError(f"Vector field {name!r} exists with dim {have}, not {dim}.")
            return
        if dim <= self.dim:
            self._fields[name] = normalize_rows(np.asarray(self._vectors)[:, :dim]) if len(self._docs) else np.zeros((0, dim), np.float32)
        else:
            self._fields[name] = np.zeros((len(self._docs), dim), np.float32)

    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Overwrite the field ``name`` at ``rows`` with ``vectors`` (len(rows), dim) float32."""
        if name not in self._fields:
            raise InvalidParameterError(f"Vector field {name!r} does not exist; call ensure_vector_field first.")
        v = check_finite(np.asarray(vectors, dtype=np.float32), f"{name!r} vectors")
        if v.shape != (len(rows), self._fields[name].shape[1]):
            raise DimensionMismatchError(f"{name!r} vectors have shape {v.shape}; expected ({len(rows)}, {self._fields[name].shape[1]}).")
        self._fields[name][np.asarray(rows, dtype=np.int64)] = v
        self._field_index.pop(name, None)

    # -- reading ---------------------------------------------------------------------------------

    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        docs = self._docs
        return [docs[r] for r in np.asarray(rows, dtype=np.int64).tolist()]

    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        src = self._vectors if vector_field is None else self._fields[vector_field]
        return np.asarray(src[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def all_rows(self) -> np.ndarray:
        return np.arange(len(self._docs), dtype=np.int64)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id, -1 for ids not stored."""
        get = self._row_of.get
        return np.fromiter((get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [self._docs[self._row_of[i]] for i in ids if i in self._row_of]

    # -- searching -------------------------------------------------------------------------------

    def allowed_rows(self, filter: Filter) -> np.ndarray | None:
        """Row numbers a filter keeps (None = all), cached per filter until the next write."""
        expr = as_expression(filter)
        if expr is None:
            return None
        key = str(expr)
        mask = self._mask_cache.get(key)
        if mask is None:
            mask = self._mask_cache[key] = evaluate_filter(expr, [d.metadata for d in self._docs])
        return np.flatnonzero(mask)

    def _exact(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vecs = np.asarray(self._vectors)[rows]
        if self.precision == "int8":
            vecs = self.quantizer.dequantize(self.quantizer.encode(vecs))
        return top_k(exact_scores(q, vecs, self.metric), k, rows)

    def _search_params(self, selector: Any, ef_search: int | None = None, nprobe: int | None = None) -> Any:
        """faiss search parameters: the selector (None = all rows) and this search's ef_search / nprobe
        (default: the spec's)."""
        index = self.index
        if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=ef_search or self.spec.ef_search)
        if isinstance(index, faiss.IndexBinaryIVF) or (
            not isinstance(index, faiss.IndexBinary) and faiss.try_extract_index_ivf(index) is not None
        ):
            return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or self.spec.nprobe)
        return None if selector is None else faiss.SearchParameters(sel=selector)

    def _faiss_search(
        self, q: np.ndarray, k: int, rows: np.ndarray | None, ef_search: int | None = None, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        sel = None if rows is None else faiss.IDSelectorBatch(rows.astype(np.int64))
        params = self._search_params(sel, ef_search, nprobe) if (sel is not None or ef_search or nprobe) else None
        scores, idx = self.index.search(q, k, params=params)
        if self.metric == "l2":
            scores = -np.sqrt(np.maximum(scores, 0))
        return np.where(idx >= 0, scores, -np.inf).astype(np.float32), idx.astype(np.int64)

    def _binary_search(
        self, q: np.ndarray, k: int, rows: np.ndarray | None, ef_search: int | None = None, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._docs) if rows is None else len(rows)
        shortlist = min(n, k * self.spec.rescore_multiplier)
        sel = None if rows is None else faiss.IDSelectorBatch(rows.astype(np.int64))
        params = self._search_params(sel, ef_search, nprobe) if (sel is not None or ef_search or nprobe) else None
        _, cand = self.index.search(self.quantizer.encode(q), shortlist, params=params)
        return _rescore(q, cand.astype(np.int64), np.asarray(self._vectors), k, self.metric)

    def _cluster_rows(self, clusters: Sequence[int]) -> np.ndarray:
        if self._labels is None:
            raise InvalidParameterError("No cluster labels are set: fit clusters first (set_cluster_labels).")
        if self._blocks is None:
            perm = np.argsort(self._labels, kind="stable")
            values, starts = np.unique(self._labels[perm], return_index=True)
            self._blocks = (perm, np.append(starts, len(perm)), values)
        perm, bounds, values = self._blocks
        pos = np.searchsorted(values, np.asarray(list(clusters), dtype=np.int64))
        parts = [perm[bounds[p] : bounds[p + 1]] for p, c in zip(pos.tolist(), clusters) if p < len(values) and values[p] == c]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def _field_index_for(self, field: str) -> Any:
        """The field's index, built on first use (and after any write to the field)."""
        index = self._field_index.get(field)
        if index is not None:
            return index
        vecs = np.ascontiguousarray(self._fields[field])
        d, kind, metric = vecs.shape[1], self.spec.field_kind, self._faiss_metric()
        if kind == "binary":
            if d % 8:
                raise InvalidParameterError(f"A binary field index needs a dim that is a multiple of 8, got {d} ({field!r}).")
            index = faiss.IndexBinaryHNSW(d, self.spec.hnsw_m)
            index.hnsw.efConstruction = self.spec.ef_construction
            index.add(np.ascontiguousarray(np.packbits(vecs > 0, axis=1)))
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.spec.hnsw_m, metric)
            index.hnsw.efConstruction = self.spec.ef_construction
            index.add(vecs)
        elif kind == "ivf" and len(vecs) >= 39:
            nlist = max(1, min(int(4 * np.sqrt(len(vecs))), len(vecs) // 39))
            index = faiss.IndexIVFFlat(faiss.IndexFlat(d, metric), d, nlist, metric)
            index.train(vecs)
            index.add(vecs)
        else:  # flat (or IVF over too few vectors to train: exact)
            index = faiss.IndexFlat(d, metric)
            index.add(vecs)
        self._field_index[field] = index
        return index

    def _field_search(
        self, q: np.ndarray, k: int, field: str, rows: np.ndarray | None, ef_search: int | None, nprobe: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        vecs = self._fields[field]
        if rows is not None and len(rows) <= max(256, self.spec.exact_below * len(vecs)):
            return top_k(exact_scores(q, vecs[rows], self.metric), k, rows)
        index = self._field_index_for(field)
        kk = min(k, len(vecs) if rows is None else len(rows))
        sel = None if rows is None else faiss.IDSelectorBatch(rows.astype(np.int64))
        binary = isinstance(index, faiss.IndexBinary)
        if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(kk, ef_search or self.spec.field_ef_search))
        elif not binary and faiss.try_extract_index_ivf(index) is not None:
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe or self.spec.field_nprobe)
        else:
            params = None if sel is None else faiss.SearchParameters(sel=sel)
        if binary:
            _, idx = index.search(np.ascontiguousarray(np.packbits(q > 0, axis=1)), kk, params=params)
            # Hamming order is not score order: score the codes' candidates on the field's floats
            scores, idx = _rescore(q, idx.astype(np.int64), vecs, kk, self.metric)
        else:
            scores, idx = index.search(q, kk, params=params)
            idx = idx.astype(np.int64)
            if self.metric == "l2":
                scores = -np.sqrt(np.maximum(scores, 0))
            scores = np.where(idx >= 0, scores, -np.inf)
        out_s, out_r = empty_result(len(q), k)
        out_s[:, :kk], out_r[:, :kk] = scores, idx
        return out_s, out_r

    def search_rows(
        self,
        query_vectors: np.ndarray,
        k: int,
        *,
        filter: Filter = None,
        candidate_rows: np.ndarray | None = None,
        clusters: Sequence[int] | None = None,
        vector_field: str | None = None,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, rows)`` (m, k), best first, padded -inf / -1 (protocol: :mod:`.base`).

        Every restriction (filter, candidate rows, clusters) is a true prefilter: a faiss
        ``IDSelector``, or an exact numpy scan when the allowed rows are few (``exact_below``). When an
        approximate search (IVF, HNSW, binary) returns fewer than ``min(k, allowed)`` rows for a query,
        that query is answered by an exact scan of the allowed rows, so ``k`` results come back
        whenever ``k`` documents qualify.
        """
        ef_search, nprobe = kwargs.pop("ef_search", None), kwargs.pop("nprobe", None)
        if kwargs:
            raise InvalidParameterError(
                f"FaissVectorStore.search_rows got unsupported options {sorted(kwargs)}; it takes filter, "
                "candidate_rows, clusters, vector_field, ef_search, nprobe."
            )
        if k <= 0:
            raise InvalidParameterError(f"k must be positive, got {k}.")
        self.check_search_args(candidate_rows, clusters, vector_field)
        dim = self.dim if vector_field is None else self.vector_fields[vector_field]
        q = as_query_matrix(query_vectors, dim, f"index (model {self._space.model!r})")
        if self.metric == "cosine":
            q = normalize_rows(q)
        if self.index is None or not self._docs or filter_matches_nothing(filter):
            return empty_result(len(q), k)
        rows = self.allowed_rows(filter)
        if candidate_rows is not None:
            cand = np.unique(np.asarray(candidate_rows, dtype=np.int64))
            cand = cand[(cand >= 0) & (cand < len(self._docs))]
            rows = cand if rows is None else np.intersect1d(rows, cand, assume_unique=True)
        if clusters is not None:
            crow = self._cluster_rows(clusters)
            rows = crow if rows is None else np.intersect1d(rows, crow, assume_unique=True)
        if rows is not None and len(rows) == 0:
            return empty_result(len(q), k)
        if vector_field is not None:
            return self._field_search(q, k, vector_field, rows, ef_search, nprobe)
        n_allowed = len(self._docs) if rows is None else len(rows)
        if rows is not None and len(rows) <= max(256, self.spec.exact_below * len(self._docs)):
            return self._exact(q, k, rows)
        kk = min(k, n_allowed)
        if self.precision == "binary":
            scores, idx = self._binary_search(q, kk, rows, ef_search, nprobe)
        else:
            scores, idx = self._faiss_search(q, kk, rows, ef_search, nprobe)
        short = (idx >= 0).sum(1) < kk
        if short.any():  # an approximate index found fewer than it should: answer those queries exactly
            s2, i2 = self._exact(q[short], kk, self.all_rows() if rows is None else rows)
            scores[short], idx[short] = s2, i2
        out_s, out_r = empty_result(len(q), k)
        out_s[:, :kk], out_r[:, :kk] = scores[:, :kk], idx[:, :kk]
        return out_s, out_r

    def search_vectors_raw(
        self, query_vectors: np.ndarray, k: int = 4, filter: Filter = None, candidate_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Deprecated: :meth:`search_rows` (``candidate_ids`` is ``candidate_rows``)."""
        return self.search_rows(query_vectors, k, filter=filter, candidate_rows=candidate_ids)

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
            "calibrated_on": self._calibrated_on,
            "count": len(self._docs),
            "vector_fields": self.vector_fields,
            "cluster_labels": self._labels is not None,
        }
        if self._labels is not None:
            np.save(folder / "cluster_labels.npy", self._labels)
        for name, vecs in self._fields.items():
            np.save(folder / f"field_{name}.npy", vecs)
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
        store._calibrated_on = int(meta.get("calibrated_on", -1))
        store._trained_on = len(store._docs)
        if meta.get("cluster_labels"):
            store._labels = np.load(folder / "cluster_labels.npy")
        for name in meta.get("vector_fields", {}):
            store._fields[name] = np.load(folder / f"field_{name}.npy")
        if not (len(store._docs) == len(store._vectors) == store.index.ntotal == meta["count"]):
            raise SchemaMismatchError(
                f"{folder} is inconsistent: {len(store._docs)} documents, {len(store._vectors)} vectors, "
                f"{store.index.ntotal} indexed, {meta['count']} recorded. Rebuild it with save_local()."
            )
        return store



def _rescore(q: np.ndarray, cand: np.ndarray, vectors: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of each query's candidate rows (m, c; -1 = none), best ``k`` first (padded)."""
    valid = cand >= 0
    vecs = vectors[np.where(valid, cand, 0)]
    if metric == "l2":
        sims = -np.linalg.norm(vecs - q[:, None, :], axis=2)
    else:
        sims = np.einsum("md,mkd->mk", q, vecs)
    sims = np.where(valid, sims, -np.inf).astype(np.float32)
    order = np.lexsort((np.where(valid, cand, np.iinfo(np.int64).max), -sims), axis=1)[:, :k]
    out_s, out_r = empty_result(len(q), k)
    s = np.take_along_axis(sims, order, 1)
    r = np.take_along_axis(np.where(valid, cand, -1), order, 1)
    out_s[:, : s.shape[1]] = s
    out_r[:, : r.shape[1]] = np.where(np.isfinite(s), r, -1)
    return out_s, out_r


__all__ = ["FaissIndexSpec", "FaissVectorStore"]
