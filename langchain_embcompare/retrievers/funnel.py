"""Matryoshka funnel retrieval: shortlist with small vectors, rescore the shortlist at full dimension.

Why: search cost grows with dimension x corpus size, but only the few candidates near the top need
full precision. The funnel scans the whole corpus with the first ``shortlist_dim`` dimensions
(re-normalised: a Matryoshka prefix), keeps ``shortlist`` candidates, and rescores only those with the
stored full-dimension vectors (``store.vectors_at`` of the candidates, one batched product). Returned
scores are the full-dimension scores, on the store's metric.

Where the shortlist runs (store protocol of :mod:`langchain_embcompare.stores.base`):

* float shortlist: on an extra vector field of the store (capability ``"vector_fields"``), named
  ``vector_field`` or by default ``f"vector_{shortlist_dim}"`` (``..._pca`` when rotated). The
  retriever creates it (``ensure_vector_field``) and writes the small vectors of every row into it
  (``write_vector_field``) when it builds; a store that cannot create fields must declare one of that
  dim (Redis: ``RedisIndexSpec(extra_vector_fields={"vector_128": 128})``). The filter is the store's
  prefilter on that field. A store without the capability raises ``MissingCapabilityError``; a
  shortlist at full dimension without rotation needs no field (the main one is searched).
* binary shortlist (``precision="binary"``, 1 bit per dimension, Hamming distance): no store of the
  package holds binary codes next to float vectors, so the retriever keeps them itself, in a faiss
  ``IndexBinaryFlat`` built from ``vectors_at(all_rows())`` (packed sign bits from
  ``sentence_transformers.quantize_embeddings(..., "ubinary")``); a filter is evaluated on the stored
  documents' metadata (``filters.evaluate_filter``) into a faiss ``IDSelector``.

For models not trained for Matryoshka (all-MiniLM-L6-v2 ...), ``rotation="pca"`` first rotates the
vectors onto their principal axes (:class:`~langchain_embcompare.matryoshka.PCARotation`, fitted on the
store's vectors; orthogonal, so full-dimension scores are unchanged) so that the prefix carries the most
variance; queries are rotated the same way. On SciFact with MiniLM a 128-d shortlist of 50 keeps
99.0 % of full-dim nDCG@10 with the raw prefix and 100 % after the rotation. ``rotation="auto"``
(default) rotates a float shortlist of fewer dimensions than the store's when the store's vectors are
not rotated already, on every store alike; a binary shortlist is never rotated by "auto" (sign bits of
the low-variance PCA axes are noise: 95 % vs 99 % at 384 bits).

**At scale the shortlist must not be a scan.** An exact shortlist over 1M vectors is itself a scan of
1M x ``shortlist_dim`` floats; the field can instead have an approximate index (FAISS:
``FaissIndexSpec(field_kind="hnsw" | "ivf" | "binary" | "hnsw_sq8" | "ivf_sq8" | "ivf_rabitq" | "hnsw_rabitq")``,
or the funnel's ``shortlist_index_kind``; Redis: every field of an HNSW index is HNSW;
Milvus: the spec's index kind), searched with ``shortlist_ef_search`` / ``shortlist_nprobe`` (``None``:
the store's default). :meth:`MatryoshkaFunnelRetriever.calibrate` chooses ``shortlist`` and that knob
from a target recall@k on held-out queries (:mod:`~langchain_embcompare.retrievers.calibration`) and
saves them with the retriever; ``store.field_index_kind(field)`` says which knob applies. Measured
(``benchmarks/bench_scale.py`` -> ``benchmarks/results/scale.json``, one thread): at 1M x 384 an HNSW
shortlist on the 128-d PCA field is many times faster than exact search at recall@10 >= 0.98, where
the exact shortlist is ~3x.

**Memory layout** (FAISS): with ``FaissIndexSpec(vector_storage="mmap")`` the full vectors and the
field's floats stay in memory-mapped files and only the shortlist index is in RAM (e.g. 8-bit codes of
the 128-d PCA prefix in IVF, ``field_kind="ivf_sq8"``, or RaBitQ codes of the full vectors,
``vector_field="vector_384"``, ``shortlist_dim=384``, ``rotation=None``, ``field_kind="ivf_rabitq"``);
rescoring reads just the ``shortlist`` rows from the file. ``calibrate(index_kinds=...,
max_bytes_per_vector=...)`` picks the kind too. Measured: ``benchmarks/results/scale_growth.md``.

The retriever rebuilds (re-reads the vectors, rewrites the field) when the store's documents change
(:class:`~langchain_embcompare.retrievers.snapshot.RowsSnapshot`), and
re-writes the field when a sample of it no longer holds this retriever's small vectors (another
funnel wrote other content under the same name).

Example::

    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=128, shortlist=50, k=10)
    funnel.invoke("what do product managers do?")

    # a store whose shortlist field has an approximate index (on FAISS: field_kind="hnsw")
    funnel = MatryoshkaFunnelRetriever(store=ann_store, shortlist_dim=128, k=10)
    funnel.calibrate(held_out_queries, target_recall=0.98)     # sets shortlist + shortlist_ef_search
    funnel.save("index/funnel")                                 # ... kept with the retriever
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from langchain_core.documents import Document
from pydantic import ConfigDict, PrivateAttr

from langchain_embcompare.errors import DimensionMismatchError, EmptyInputError, InvalidParameterError, MissingCapabilityError
from langchain_embcompare.filters import evaluate_filter, filter_tree
from langchain_embcompare.matryoshka import PCARotation
from langchain_embcompare.retrievers.calibration import Calibration, calibrate_funnel
from langchain_embcompare.retrievers.clustering import few_threads
from langchain_embcompare.retrievers.snapshot import RowsSnapshot
from langchain_embcompare.stores.base import (
    BatchRetriever,
    EmbStore,
    empty_result,
    filter_matches_nothing,
    normalize_rows,
    with_scores,
)
from langchain_embcompare.stores.ops import rescore

__all__ = ["MatryoshkaFunnelRetriever", "binary_codes", "prefix_normalize"]

_FIELD_SAMPLE = 8  # rows of the shortlist field re-checked on every search
_BUILD_BLOCK = 65_536  # rows read and written per step while filling the shortlist field


def prefix_normalize(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` dimensions of (n, d) vectors, re-normalised to unit length (a Matryoshka prefix), float32."""
    return normalize_rows(np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[:, :dim]))


def binary_codes(vectors: np.ndarray) -> np.ndarray:
    """Packed sign bits (``ubinary``): (n, dim / 8) uint8, for faiss binary indexes."""
    from sentence_transformers import quantize_embeddings

    return np.ascontiguousarray(quantize_embeddings(np.asarray(vectors, dtype=np.float32), precision="ubinary"))


class MatryoshkaFunnelRetriever(BatchRetriever):
    """Shortlist ``shortlist`` candidates with small (or binary) vectors, rescore at full dim, return ``k``.

    ``shortlist_dim=None`` uses the full dimension for the shortlist (with ``precision="binary"``: full
    binary codes, then float rescoring). ``vector_field`` names the store field holding the small
    vectors (default ``f"vector_{shortlist_dim}"``, ``f"vector_{shortlist_dim}_pca"`` when rotated).
    ``filter`` is ANDed to the shortlist search. ``shortlist_ef_search`` / ``shortlist_nprobe``: the
    shortlist index's search knob (HNSW / IVF fields; ``None`` = the store's default), usually set by
    :meth:`calibrate`, whose record is :attr:`calibration`. Raises ``DimensionMismatchError`` /
    ``InvalidParameterError`` for impossible settings and ``MissingCapabilityError`` when the store has
    no extra vector fields for a float shortlist below full dimension.

    Args:
        store: the store searched (any store of the package).
        k: documents returned per query, > 0.
        shortlist_dim: dimension of the shortlist vectors (None: full dimension), <= the store's dimension.
        shortlist: candidates kept by the shortlist search and rescored at full dimension.
        precision: ``"float32"`` or ``"binary"`` (1 bit per dimension, Hamming shortlist).
        rotation: ``"pca"``, ``"auto"`` (PCA when the model is not Matryoshka-trained) or None.
        filter: a filter expression or LangChain-style dict ANDed to the shortlist search.
        vector_field: the store field holding the small vectors (default derived from ``shortlist_dim``).
        seed: seed of the PCA fit.
        shortlist_ef_search: HNSW ``ef_search`` of the shortlist search (None: the store's default).
        shortlist_nprobe: IVF ``nprobe`` of the shortlist search (None: the store's default).
        shortlist_index_kind: the index kind to ask of the store for the shortlist field (FAISS: one of
            ``store.field_index_kinds``, e.g. ``"ivf_rabitq"``, set with ``set_field_index_kind`` when the
            funnel builds; a store that cannot change it must already have it); ``None``: the store's.
            Usually chosen by :meth:`calibrate` (``index_kinds=``).
        calibration: the calibration record (set by :meth:`calibrate`).

    Raises:
        InvalidParameterError: a non-positive ``k`` or index knob, or an impossible setting.
        DimensionMismatchError: ``shortlist_dim`` above the store's dimension.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: EmbStore
    k: int = 4
    shortlist_dim: int | None = 128
    shortlist: int = 50
    precision: Literal["float32", "binary"] = "float32"
    rotation: Literal["pca", "auto"] | None = "auto"
    filter: Any = None
    vector_field: str | None = None
    seed: int = 0
    shortlist_ef_search: int | None = None
    shortlist_nprobe: int | None = None
    shortlist_index_kind: str | None = None
    calibration: dict[str, Any] | None = None

    _rot: PCARotation | None = PrivateAttr(default=None)
    _rows: np.ndarray | None = PrivateAttr(default=None)  # the store's rows when built
    _snapshot: RowsSnapshot | None = PrivateAttr(default=None)
    _binary: Any = PrivateAttr(default=None)  # faiss IndexBinaryFlat, position i = _bpos[i]
    _bpos: np.ndarray | None = PrivateAttr(default=None)  # rows in document-id order (Hamming ties by id)
    _metas: list[dict] | None = PrivateAttr(default=None)  # binary + filter: metadata per position
    _masks: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._validate()  # after pydantic, so the package's own error class reaches the caller

    # ------------------------------------------------------------------ checks

    @property
    def full_dim(self) -> int:
        """The store's vector dimension: the rescoring vectors' width."""
        return int(self.store.space.dim)

    @property
    def small_dim(self) -> int:
        """The shortlist vectors' dimension: ``shortlist_dim``, else the full dimension (binary codes of it)."""
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
        for name in ("shortlist_ef_search", "shortlist_nprobe"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InvalidParameterError(f"{name}={value} must be a positive integer (or None: the store's default).")
        if self.precision == "binary" and self.small_dim % 8:
            raise InvalidParameterError(
                f"a binary shortlist packs 8 dimensions per byte: shortlist_dim={self.small_dim} must be a multiple of 8."
            )
        if self.shortlist_index_kind is not None:
            if self.field is None:
                raise InvalidParameterError(
                    f"shortlist_index_kind={self.shortlist_index_kind!r} names the index of a shortlist vector field, but this "
                    "funnel searches no field (a binary shortlist, or the main vectors): pass vector_field= or a "
                    "shortlist_dim below the store's, or shortlist_index_kind=None."
                )
            kinds = getattr(self.store, "field_index_kinds", None)
            if kinds is not None and self.shortlist_index_kind not in kinds:
                raise InvalidParameterError(
                    f"shortlist_index_kind={self.shortlist_index_kind!r} is not a kind {type(self.store).__name__} can build "
                    f"for a field: use one of {tuple(kinds)}."
                )
        if self.field is not None:
            have = self.store.vector_fields.get(self.field)
            if have is None:
                self.store.require("vector_fields", f"a {self.small_dim}-d shortlist field {self.field!r}")
            elif have != self.small_dim:
                raise DimensionMismatchError(
                    f"The store's vector field {self.field!r} is {have}-d but the shortlist is {self.small_dim}-d: "
                    f"pass vector_field= naming a {self.small_dim}-d field, or shortlist_dim={have}."
                )

    @property
    def rotates(self) -> bool:
        """Whether the shortlist runs on PCA-rotated prefixes (``rotation`` resolved, the same on every store)."""
        if self.rotation == "pca":
            return True
        if self.rotation != "auto" or self.precision == "binary":
            return False
        return self.small_dim < self.full_dim and self.store.space.rotation is None

    @property
    def field(self) -> str | None:
        """The store field the float shortlist searches (``None``: the main vectors, or a binary shortlist)."""
        if self.precision == "binary":
            return None
        if self.vector_field:
            return self.vector_field
        if self.small_dim == self.full_dim and not self.rotates:
            return None
        return f"vector_{self.small_dim}" + ("_pca" if self.rotates else "")

    @property
    def fitted_rotation(self) -> PCARotation | None:
        """The PCA rotation in use (fitted on the store's vectors at the first build), or ``None``."""
        return self._rot

    def use_rotation(self, rotation: PCARotation) -> None:
        """Use a fitted PCA rotation (e.g. a saved one) instead of fitting one at the first build.

        Args:
            rotation: the fitted rotation, over this store's full dimension.
        """
        self._rot = rotation

    # ------------------------------------------------------------------ building

    def small_vectors(self, full: np.ndarray) -> np.ndarray:
        """(n, shortlist_dim) float32 shortlist vectors of (n, full_dim) store-form vectors or queries:
        rotated if :attr:`rotates`, cut to the prefix, re-normalised (cosine, or any proper prefix).

        Args:
            full: (n, full_dim) float32 vectors in the store's form.

        Returns:
            (n, shortlist_dim) float32 vectors.
        """
        x = self._rot.apply(full) if self._rot is not None else np.asarray(full, dtype=np.float32)
        if self.store.metric == "cosine" or self.small_dim != self.full_dim:
            return prefix_normalize(x, self.small_dim)
        return np.ascontiguousarray(x[:, : self.small_dim], dtype=np.float32)

    def build(self, rotation: PCARotation | None = None) -> MatryoshkaFunnelRetriever:
        """Read the store's vectors and prepare the shortlist (done lazily on the first search, and again
        when the store's rows change): fit the rotation (or take ``rotation``, e.g. one shared by several
        funnels), then write the small vectors into the store's field, or build the binary index.
        Raises ``EmptyInputError`` for an empty store.

        Args:
            rotation: a fitted PCA rotation to use instead of fitting one (only when the funnel rotates).

        Returns:
            This retriever, built.

        Raises:
            EmptyInputError: the store is empty.
            MissingCapabilityError: the store has no extra vector fields for a float shortlist below full dimension.
        """
        rows = self.store.all_rows()
        if len(rows) == 0:
            raise EmptyInputError("The store holds no documents: add documents before searching.")
        full = None
        if self.rotates and (rotation is not None or self._rot is None):
            if rotation is None:
                full = self.store.vectors_at(rows)
                with few_threads(min(len(full), 20000) * full.shape[1] ** 2):
                    rotation = PCARotation.fit(full, seed=self.seed)
            self._rot = rotation
        if self.precision == "binary":
            full = self.store.vectors_at(rows) if full is None else full
            # positions in document-id order: Hamming distances tie often, and faiss breaks ties by
            # position, so ordering by id (not by row handle) gives the same shortlist on every store
            order = np.argsort(np.asarray([str(d.id) for d in self.store.documents_at(rows)]), kind="stable")
            self._bpos = rows[order]
            index = faiss.IndexBinaryFlat(self.small_dim)
            index.add(binary_codes(self.small_vectors(full[order])))
            self._binary, self._metas, self._masks = index, None, {}
        elif self.field is not None:
            if self.field not in self.store.vector_fields:
                try:
                    self.store.ensure_vector_field(self.field, self.small_dim)
                except (MissingCapabilityError, InvalidParameterError) as exc:
                    raise type(exc)(
                        f"{exc} The funnel needs a {self.small_dim}-d vector field {self.field!r}: declare it on the "
                        f"store when it is built (extra_vector_fields={{{self.field!r}: {self.small_dim}}}), or "
                        f"pass vector_field= naming an existing {self.small_dim}-d field"
                        + (", or rotation=None to use raw prefixes." if self.rotates else ".")
                    ) from exc
            for start in range(0, len(rows), _BUILD_BLOCK):  # in blocks: a mapped store is never read whole
                part = rows[start : start + _BUILD_BLOCK]
                block = self.store.vectors_at(part) if full is None else full[start : start + _BUILD_BLOCK]
                self.store.write_vector_field(self.field, part, self.small_vectors(block))
            self.apply_index_kind()
        self._rows, self._snapshot = rows, RowsSnapshot(self.store, rows)
        return self

    def apply_index_kind(self) -> None:
        """Give the shortlist field the index kind :attr:`shortlist_index_kind` asks for (nothing when
        ``None`` or already so).

        Raises:
            InvalidParameterError: the store cannot change a field's index kind and has another one.
        """
        want = self.shortlist_index_kind
        if want is None or self.field is None or self.store.field_index_kind(self.field) == want:
            return
        setter = getattr(self.store, "set_field_index_kind", None)
        if setter is None:
            raise InvalidParameterError(
                f"shortlist_index_kind={want!r}: {type(self.store).__name__} indexes the field {self.field!r} as "
                f"{self.store.field_index_kind(self.field)!r} and cannot change it: build the store with that field "
                "index, or shortlist_index_kind=None."
            )
        setter(self.field, want)

    def ensure_built(self) -> np.ndarray:
        """The rows to search; (re)build the shortlist field when the store's rows changed or the field lost its content.

        Returns:
            (n,) int64 store rows.

        Raises:
            EmptyInputError: the store holds no documents.
        """
        if self._snapshot is None or self._snapshot.changed(self.store):
            self.build()
        elif self.field is not None:
            self.apply_index_kind()
            pick = self._rows[np.linspace(0, len(self._rows) - 1, min(_FIELD_SAMPLE, len(self._rows))).astype(np.int64)]
            try:
                ok = np.allclose(self.store.vectors_at(pick, self.field), self.small_vectors(self.store.vectors_at(pick)), atol=1e-4)
            except (KeyError, IndexError):  # rows without a value in the field
                ok = False
            if not ok:
                self.build()
        assert self._rows is not None
        return self._rows

    def save(self, folder: str | Path) -> Path:
        """Settings (``funnel.json``: the knobs, including calibrated ones and the :attr:`calibration`
        record) and the fitted rotation (``rotation.npy``); the shortlist is rebuilt on load.

        Args:
            folder: the target folder (created if missing).

        Returns:
            ``folder`` as a ``Path``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.rotates:
            if self._rot is None:
                self.build()
            assert self._rot is not None
            self._rot.save(folder)
        settings = {
            "k": self.k, "shortlist_dim": self.shortlist_dim, "shortlist": self.shortlist,
            "precision": self.precision, "rotation": self.rotation, "vector_field": self.vector_field, "seed": self.seed,
            "shortlist_ef_search": self.shortlist_ef_search, "shortlist_nprobe": self.shortlist_nprobe,
            "shortlist_index_kind": self.shortlist_index_kind, "calibration": self.calibration,
        }
        (folder / "funnel.json").write_text(json.dumps(settings))
        return folder

    @classmethod
    def load(cls, folder: str | Path, store: EmbStore, **kwargs: Any) -> MatryoshkaFunnelRetriever:
        """A funnel with the settings and rotation saved by :meth:`save`, over ``store``.

        Args:
            folder: the folder :meth:`save` wrote.
            store: the store to search (the one the funnel was saved for, or one with the same documents).
            **kwargs: settings overriding the saved ones.

        Returns:
            The :class:`MatryoshkaFunnelRetriever`.

        Raises:
            InvalidVectorError: ``rotation.npy`` does not match its recorded fingerprint.
        """
        folder = Path(folder)
        settings = {**json.loads((folder / "funnel.json").read_text()), **kwargs}
        retriever = cls(store=store, **settings)
        if retriever.rotates and (folder / "rotation.npy").exists():
            retriever.use_rotation(PCARotation.load(folder))
        return retriever

    # ------------------------------------------------------------------ search

    def query_matrix(self, query_vectors: np.ndarray) -> np.ndarray:
        """Full-dimension query vectors as the funnel searches them: (m, full_dim) float32, C-contiguous,
        L2-normalised on a cosine store.

        Args:
            query_vectors: (m, full_dim) or (full_dim,) query vectors.

        Returns:
            (m, full_dim) float32.

        Raises:
            DimensionMismatchError: the vectors are not full-dimension.
        """
        q = np.ascontiguousarray(np.asarray(query_vectors, dtype=np.float32))
        if q.ndim == 1:
            q = q[None, :]
        if q.shape[1] != self.full_dim:
            raise DimensionMismatchError(
                f"{q.shape[1]}-d query vectors cannot search a {self.full_dim}-d store: embed queries with the "
                "store's embeddings (full dimension; the funnel truncates them itself)."
            )
        return normalize_rows(q) if self.store.metric == "cosine" else q

    def search_rows(self, query_vectors: np.ndarray, k: int | None = None, filter: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Funnel top-``k`` per full-dimension query vector: ``(scores, rows)`` (m, k) float32 / int64,
        full-dimension scores, best first, padded ``-inf`` / ``-1`` (the store protocol's form).

        Args:
            query_vectors: (m, full_dim) or (full_dim,) float32 query vectors (the store's embeddings).
            k: documents per query (default: the retriever's ``k``).
            filter: a filter expression or LangChain-style dict, ANDed to the shortlist search (default: the
                retriever's ``filter``).

        Returns:
            ``(scores, rows)``: (m, k) float32 full-dimension scores and (m, k) int64 store rows, best first,
                padded with ``-inf`` / ``-1``.

        Raises:
            DimensionMismatchError: the query vectors are not full-dimension.
            EmptyInputError: the store holds no documents.
            MissingCapabilityError: the store cannot hold the shortlist's vector field.
        """
        k = k or self.k
        q = self.query_matrix(query_vectors)
        filt = filter if filter is not None else self.filter
        if filter_matches_nothing(filt):
            return empty_result(len(q), k)
        rows = self.ensure_built()
        cand = self.shortlist_rows(q, max(self.shortlist, k), filt, self.shortlist_ef_search, self.shortlist_nprobe, rows)
        return self.rescore_rows(q, cand, k)

    def shortlist_rows(
        self, q: np.ndarray, n_short: int, filt: Any, ef_search: int | None, nprobe: int | None, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """(m, n_short) candidate rows of full-dimension queries ``q``, ranked by shortlist score (-1 = none).

        Args:
            q: (m, full_dim) float32 queries from :meth:`query_matrix`.
            n_short: shortlist length.
            filt: a filter (as :meth:`search_rows` takes), or None.
            ef_search: the shortlist index's ``ef_search`` (HNSW / binary), or None for its own.
            nprobe: the shortlist index's ``nprobe`` (IVF), or None for its own.
            rows: the rows :meth:`ensure_built` returned (default: call it).

        Returns:
            (m, n_short) int64 store rows, best first, -1 where none.
        """
        rows = self.ensure_built() if rows is None else rows
        if self.precision == "binary":
            return self._binary_shortlist(self.small_vectors(q), n_short, rows, filt)
        qs = q if self.field is None else self.small_vectors(q)
        knobs = {name: v for name, v in (("ef_search", ef_search), ("nprobe", nprobe)) if v is not None}
        return self.store.search_rows(qs, n_short, filter=filt, vector_field=self.field, **knobs)[1]

    @property
    def index_kind_in_use(self) -> str:
        """The index answering the shortlist search now (:meth:`EmbStore.field_index_kind`); a binary
        shortlist is the retriever's own exact Hamming scan (``"flat"``)."""
        if self.precision == "binary":
            return "flat"
        return self.store.field_index_kind(self.field)

    def shortlist_index_bytes(self) -> int:
        """Bytes the shortlist search touches beside the store's main index (for memory accounting): a
        binary shortlist's own Hamming index as faiss serialises it; a float shortlist on an extra vector
        field its vectors (rows x ``shortlist_dim`` x 4 bytes of float32, what a flat field index holds);
        0 when the shortlist searches the store's main vectors. Builds the shortlist first if needed.

        Returns:
            Bytes (int >= 0).

        Raises:
            EmptyInputError: the store is empty.
        """
        rows = self.ensure_built()
        if self.precision == "binary":
            return int(faiss.serialize_index_binary(self._binary).nbytes)
        if self.field is None:
            return 0
        return int(len(rows)) * self.small_dim * 4

    def calibrate(
        self,
        queries: Sequence[str] | np.ndarray | None = None,
        *,
        target_recall: float = 0.98,
        k: int | None = None,
        n_queries: int = 200,
        shortlists: Sequence[int] | None = None,
        index_params: Sequence[int] | None = None,
        seed: int = 0,
        index_kinds: Sequence[str] | None = None,
        max_bytes_per_vector: float | None = None,
    ) -> Calibration:
        """Choose ``shortlist`` (and the shortlist index's ``ef_search`` on HNSW / binary HNSW fields, or
        ``nprobe`` on IVF fields) as the fastest setting whose recall@``k`` against exact full-dimension
        search reaches ``target_recall`` on held-out queries; set them on this retriever and return the
        :class:`~langchain_embcompare.retrievers.calibration.Calibration` (also kept in
        :attr:`calibration` and saved by :meth:`save`).

        ``queries``: held-out query texts or (m, full_dim) vectors (default: ``n_queries`` stored
        pseudo-queries made from stored documents, with a tightened target, see
        :mod:`~langchain_embcompare.retrievers.calibration`); ``k`` defaults
        to the retriever's. ``shortlists``: lengths tried (default k x 2, 3, 5, 10, 20, 50, 100, up to the
        corpus); ``index_params``: ``ef_search`` (HNSW) or ``nprobe`` (IVF) values tried (default powers of
        two). Recall of a shortlist length comes from the ranked shortlist itself (rescoring is exact), so
        each index setting is searched once; the candidates that reach the target are then timed and the
        fastest kept. When none reaches the target, the setting of highest recall is kept, ``met`` is
        ``False`` and a ``UserWarning`` names the recall reached. Raises ``InvalidParameterError`` for a
        target outside (0, 1], ``EmptyInputError`` for an empty store.

        ``index_kinds`` makes the shortlist field's index kind part of the choice (FAISS: any of
        ``store.field_index_kinds``, e.g. ``["hnsw", "hnsw_sq8", "ivf_rabitq"]``; each is built and
        measured in turn); the chosen one is set as :attr:`shortlist_index_kind` and saved. With
        ``max_bytes_per_vector`` a kind whose index is bigger (``store.field_index_bytes`` per stored
        vector: what it holds in RAM) is skipped (recorded in ``tried``). ``None`` (default): the
        field's current kind only.

        Args:
            queries: held-out query texts or an (m, full_dim) float32 array (default: pseudo-queries).
            target_recall: the recall@k to reach, a fraction in (0, 1].
            k: the rank cut-off of the recall (default: the retriever's ``k``).
            n_queries: number of pseudo-queries when ``queries`` is None.
            shortlists: shortlist lengths tried.
            index_params: ``ef_search`` (HNSW) or ``nprobe`` (IVF) values tried.
            seed: seed of the pseudo-query sample.
            index_kinds: shortlist index kinds to choose from (``None``: the field's current kind).
            max_bytes_per_vector: memory budget of the shortlist index, bytes per stored vector (``None``: none).

        Returns:
            The :class:`~langchain_embcompare.retrievers.calibration.Calibration` record (also set on the retriever).

        Raises:
            InvalidParameterError: a target outside (0, 1], ``index_kinds`` the store cannot build (or any on a
                store whose field index is fixed), a non-positive budget, or a budget no kind fits.
            EmptyInputError: the store is empty.
        """
        return calibrate_funnel(self, queries, target_recall=target_recall, k=k, n_queries=n_queries, shortlists=shortlists,
                                index_params=index_params, seed=seed, index_kinds=index_kinds, max_bytes_per_vector=max_bytes_per_vector)

    def _binary_shortlist(self, qs: np.ndarray, n_short: int, rows: np.ndarray, filt: Any) -> np.ndarray:
        """Hamming shortlist in the retriever's own binary index; a filter becomes a faiss IDSelector."""
        rows = self._bpos if self._bpos is not None else rows
        params = None
        tree = filter_tree(filt)
        if tree is not None:
            key = repr(tree)
            if key not in self._masks:
                if self._metas is None:
                    self._metas = [d.metadata for d in self.store.documents_at(rows)]
                self._masks[key] = np.flatnonzero(evaluate_filter(tree, self._metas)).astype(np.int64)
            allowed = self._masks[key]
            if len(allowed) == 0:
                return np.full((len(qs), n_short), -1, np.int64)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        pos = self._binary.search(binary_codes(qs), min(n_short, len(rows)), params=params)[1]
        return np.where(pos >= 0, rows[np.maximum(pos, 0)], -1)

    def rescore_rows(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact full-dimension top ``k`` of each query's candidate rows, one ``vectors_at`` for the batch.

        Args:
            q: (m, full_dim) float32 queries from :meth:`query_matrix`.
            cand: (m, n) int64 candidate rows from :meth:`shortlist_rows` (-1 = none).
            k: documents per query.

        Returns:
            ``(scores, rows)``: (m, k) float32 full-dimension scores and int64 rows, best first, padded ``-inf`` / ``-1``.
        """
        valid = cand >= 0
        uniq = np.unique(cand[valid])
        if len(uniq) == 0:
            return empty_result(len(q), k)
        vectors = self.store.vectors_at(uniq)
        pos = np.where(valid, np.searchsorted(uniq, np.where(valid, cand, uniq[0])), -1)
        scores, top = rescore(q, pos, vectors, k, self.store.metric)
        return scores, np.where(top >= 0, uniq[np.maximum(top, 0)], -1)

    def search_vectors(
        self, query_vectors: np.ndarray, k: int | None = None, filter: Any = None
    ) -> list[list[tuple[Document, float]]]:
        """Funnel top-``k`` (Document, score) lists per full-dimension query vector, scores at full dimension.

        Args:
            query_vectors: as :meth:`search_rows`.
            k: as :meth:`search_rows`.
            filter: as :meth:`search_rows`.

        Returns:
            One list of (Document, full-dimension score as float) per query, best first.

        Raises:
            DimensionMismatchError: as :meth:`search_rows`.
            EmptyInputError: as :meth:`search_rows`.
            MissingCapabilityError: as :meth:`search_rows`.
        """
        return self.store.hits(*self.search_rows(query_vectors, k=k, filter=filter))

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once: one embedding batch, one shortlist search, one rescoring product.

        Args:
            queries: the query texts.
            k: documents per query (default: the retriever's ``k``).
            filter: a filter expression or LangChain-style dict, applied to the shortlist search.

        Returns:
            One list of Documents per query, best first, each with ``metadata["score"]`` (full-dimension).
        """
        q = self.store.embedding.encode_queries(list(queries))
        return [with_scores(h) for h in self.search_vectors(q, k=k, filter=filter)]



