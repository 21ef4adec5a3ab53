"""The embedded default store: FAISS in-process, no server.

Index kinds ``flat`` (exact), ``ivf`` and ``hnsw`` (approximate); metrics ``cosine``, ``ip``, ``l2``;
precisions from the embeddings' vector space:

* ``float32``: ``IndexFlat*`` / ``IndexIVFFlat`` / ``IndexHNSWFlat``.
* ``int8``: a faiss 8-bit scalar quantizer (1 byte per dimension) whose per-dimension ranges are set
  to the calibration of ``sentence_transformers.quantize_embeddings`` (saved with the index), so faiss
  stores the same codes; queries stay float and are scored against the de-quantised documents.
* ``binary``: packed sign bits in ``IndexBinaryFlat`` / ``IndexBinaryHNSW`` (Hamming), a shortlist of
  ``k * rescore_multiplier`` rescored with the float vectors (memory-mapped from disk after a load).

Vector storage (``FaissIndexSpec.vector_storage``): ``"ram"`` keeps the float vectors (full-dimension and
extra fields) in process memory; ``"mmap"`` keeps them in memory-mapped files (:mod:`.faiss_vectors`), so
only the index in RAM (e.g. a funnel's quantised shortlist field: ``field_kind="ivf_rabitq"``) and the
pages of the rows read (the shortlist being rescored) are resident. A float32 ``"mmap"`` store has no
main faiss index: its exact search scans the file in blocks.

Filters (see :mod:`langchain_embcompare.filters`) and cluster candidates become a faiss
``IDSelector``: a true prefilter. A selection small enough is scored exactly with numpy instead, as
graph and IVF searches lose recall when most of the corpus is excluded.

Saved as ``index.faiss`` + ``vectors.npy`` + ``documents.jsonl`` + ``store.json``: no pickle, so loading
an index never runs code (LangChain's FAISS store needs ``allow_dangerous_deserialization``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
)
from langchain_embcompare.filters import Filter, FilterTree, RowMask, filter_tree
from langchain_embcompare.matryoshka import (
    MatryoshkaEmbeddings,
    Quantizer,
    VectorSpace,
    as_matryoshka,
    check_finite,
)
from langchain_embcompare.stores.cluster_blocks import ClusterBlocks
from langchain_embcompare.stores.locking import ReadWriteLock, reads, writes
from langchain_embcompare.stores.faiss_index import (
    FIELD_KINDS,
    FaissIndexSpec,
    check_field_kind,
    configure,
    field_index,
    field_search_params,
    new_index,
    pin_ranges,
    search_params,
)
from langchain_embcompare.stores.faiss_io import FaissFolder, query_embeddings, read_folder, write_folder
from langchain_embcompare.stores.faiss_vectors import MappedRows, RamRows, iter_blocks, new_rows
from langchain_embcompare.stores.base import (
    EmbStore,
    SearchRequest,
    empty_result,
    exact_scores,
    last_wins,
    normalize_rows,
    prepare_documents,
    top_k,
)
from langchain_embcompare.stores.ops import rescore
from langchain_embcompare.stores.registry import StoreOptions


class FaissOptions(StoreOptions):
    """Typed options of the FAISS store (registry name ``"faiss"``): index overrides of
    :class:`FaissIndexSpec` (the index kind and metric come from the run). No connection: FAISS is in process.

    Args:
        nlist: IVF lists (None: ``4 * sqrt(n)`` at the first add).
        nprobe: IVF lists searched per query.
        hnsw_m: HNSW links per node.
        ef_construction: HNSW build beam width.
        ef_search: HNSW search beam width.
        rescore_multiplier: binary: shortlist ``k *`` this by Hamming distance, then rescore in float.
        vector_storage: ``"ram"`` or ``"mmap"`` (float vectors in memory-mapped files; :class:`FaissIndexSpec`).
        storage_dir: folder of the ``"mmap"`` files (``None``: a temporary directory).

    Raises:
        InvalidParameterError: a value of the wrong type.
    """

    nlist: int | None = None
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    rescore_multiplier: int = 4
    vector_storage: str = "ram"
    storage_dir: str | None = None


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

    Thread-safe: searches and reads share :attr:`lock` (a readers-writer lock; faiss releases the GIL,
    so searches run in parallel), every write holds it alone, and a search with the reads that follow
    it sees one snapshot (``asyncio.gather`` over ``aadd_documents`` and searches is safe on every
    index kind).

    Args:
        embedding: LangChain ``Embeddings`` or a model name (wrapped in ``MatryoshkaEmbeddings``); its
            vector space (dim, precision) decides the index.
        spec: :class:`FaissIndexSpec` (default: flat cosine).
        quantizer: the int8 / binary :class:`Quantizer` with given ranges (default: fitted on the data).
        **spec_kwargs: build the :class:`FaissIndexSpec` when ``spec`` is not given.

    Raises:
        InvalidParameterError: a bad spec setting (from :class:`FaissIndexSpec`).
    """

    capabilities = frozenset({"candidate_rows", "clusters", "vector_fields"})
    options_type = FaissOptions

    @classmethod
    def from_options(
        cls,
        options: FaissOptions,
        embedding: Embeddings | str,
        *,
        kind: str = "flat",
        metric: str = "cosine",
        extra_vector_fields: Mapping[str, int] | None = None,
        dataset_name: str | None = None,
        overwrite: bool = True,
    ) -> FaissVectorStore:
        """A new, empty store from its registry options (``stores.registry.build_store``).

        Args:
            options: the :class:`FaissOptions`.
            embedding: LangChain ``Embeddings`` or a model name.
            kind: ``"flat"``, ``"ivf"`` or ``"hnsw"``.
            metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
            extra_vector_fields: unused: FAISS adds a vector field on first use (``ensure_vector_field``).
            dataset_name: unused (an in-process store has no name).
            overwrite: unused (an in-process store always starts empty).

        Returns:
            The store.

        Raises:
            InvalidParameterError: a bad kind, metric or option value (from :class:`FaissIndexSpec`).
        """
        spec = FaissIndexSpec(kind=kind, metric=metric, **options.to_dict())  # type: ignore[arg-type]
        return cls(embedding, spec)

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
        self._main: RamRows | MappedRows = new_rows(self.dim, self.spec.vector_storage, self.spec.storage_dir)
        self._docs: list[Document] = []
        self._row_of: dict[str, int] = {}
        self._mask_cache: dict[str, np.ndarray] = {}
        self._labels: np.ndarray | None = None  # cluster label per row, -1 = none
        self._blocks: ClusterBlocks | None = None  # vectors regrouped by cluster label
        self._fields: dict[str, RamRows | MappedRows] = {}  # extra vector fields, row-aligned
        self._field_index: dict[str, Any] = {}
        self._field_kinds: dict[str, str] = {}  # per-field index kind overriding spec.field_kind
        self.lock = ReadWriteLock()  # searches share it, every mutation holds it alone (stores/locking.py)

    # -- properties ------------------------------------------------------------------------------

    def reading(self) -> AbstractContextManager[None]:
        """The read side of :attr:`lock`: rows and the index stay put inside it (see ``EmbStore.reading``).

        Returns:
            A context manager holding the read lock while entered.
        """
        return self.lock.read()

    @property
    def space(self) -> VectorSpace:
        """The :class:`VectorSpace` recorded with the index; queries from another space are refused."""
        return self._space

    @property
    def documents(self) -> list[Document]:
        """The stored documents, row i = ``documents[i]`` (FAISS-specific; the protocol is ``documents_at``)."""
        return self._docs

    @property
    def vectors(self) -> np.ndarray:
        """The stored float vectors, row i = ``documents[i]`` (FAISS-specific; the protocol is ``vectors_at``);
        a read-only map with ``vector_storage="mmap"``."""
        return self._main.array

    @property
    def _vectors(self) -> np.ndarray:
        return self._main.array

    @property
    def block_scan(self) -> bool:
        """Whether the main vectors have no faiss index and exact search scans them in blocks (a float32
        store with ``vector_storage="mmap"``)."""
        return self.spec.vector_storage == "mmap" and self.precision == "float32"

    def mapped_bytes(self) -> int:
        """Bytes of the memory-mapped vector files (main vectors and extra fields; 0 with ``"ram"``).

        Returns:
            Bytes on disk (int >= 0).
        """
        return self._main.file_bytes() + sum(f.file_bytes() for f in self._fields.values())

    def count(self) -> int:
        """The number of documents stored.

        Returns:
            The document count.
        """
        return len(self._docs)

    def __len__(self) -> int:
        return len(self._docs)

    @reads
    def index_bytes(self) -> int:
        """Bytes of the searchable index (what a query touches), as faiss serialises it.

        Returns:
            The serialised index size in bytes; 0 before the first write.
        """
        if self.index is None:
            return 0
        writer = faiss.serialize_index_binary if self.precision == "binary" else faiss.serialize_index
        return int(writer(self.index).nbytes)

    # -- building --------------------------------------------------------------------------------

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
            self._main.release()  # the build read every row: do not keep them resident

    def _index_append(self, vectors: np.ndarray) -> None:
        if self.block_scan:
            return  # no index: the exact search scans the mapped vectors
        if self.index is None:
            if self.precision == "int8" and self._calibrated_on >= 0:
                self.quantizer.ranges = None
                self.quantizer.fit(self._vectors)
                self._calibrated_on = len(self._vectors)
            self.index = new_index(self.spec, self.dim, self.precision, len(vectors), self.quantizer)
            configure(self.index, self.spec)
            self._trained_on = len(vectors)
        codes = self._codes(vectors)
        if not self.index.is_trained:
            self.index.train(codes)
            if self.precision == "int8":  # training an IVF-SQ refits its ranges: put ours back
                pin_ranges(self.quantizer, self.index)
        self.index.add(codes)

    @writes
    def upsert_vectors(
        self,
        vectors: np.ndarray,
        documents: Sequence[Document],
        *,
        extra_vectors: Mapping[str, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Index precomputed vectors with their documents.

        A document whose id is stored already replaces it (text, metadata, vector); one batch naming an
        id twice keeps the last.

        Args:
            vectors: (n, dim) float32, one per document (normalised here for cosine).
            documents: n documents; ids by the id rule (:func:`prepare_documents`).
            extra_vectors: ``{field: (n, d_field) float32}`` for extra vector fields (default for a field
                not given: the Matryoshka prefix of ``vectors`` at the field's dim, re-normalised).
            **kwargs: none are supported; any raises.

        Returns:
            Every id passed, in order.

        Raises:
            InvalidParameterError: an unsupported option, a vector count that is not the document count,
                an unknown extra field, or a field wider than ``dim`` without its ``extra_vectors``.
            DimensionMismatchError: ``vectors`` (or an extra field's vectors) of the wrong width.
            InvalidVectorError: a NaN or infinite component.
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
        self._main.append(vectors)
        if self._labels is not None:
            self._labels = np.concatenate([self._labels, np.full(len(docs), -1, np.int64)])
            self._blocks = None
        for name, dim in self.vector_fields.items():
            new = extras.get(name)
            if new is None:
                new = normalize_rows(vectors[:, :dim]) if dim <= self.dim else None
            if new is None:
                raise InvalidParameterError(f"Vector field {name!r} ({dim}-d) needs extra_vectors[{name!r}] for new documents.")
            self._fields[name].append(new.astype(np.float32))
            self._field_index.pop(name, None)
        self._mask_cache.clear()
        if replaced or self._needs_refit() or (self.index is None and not self.block_scan):
            self._rebuild()
        else:
            self._index_append(vectors)
        return all_ids

    @writes
    def bulk_load(self, vectors: np.ndarray, documents: Sequence[Document], ids: Sequence[str], *, normalized: bool = False) -> None:
        """Fill an EMPTY store in one batch. The result searches exactly as
        :meth:`upsert_vectors` would; this path skips per-document copies for million-row tables.

        Args:
            vectors: (n, dim) float32 (used without a copy when contiguous float32).
            documents: any sequence of n Documents (e.g. one that builds them lazily on access).
            ids: their n unique ids.
            normalized: ``True`` promises unit-length rows (checked by the caller) for cosine.

        Raises:
            InvalidParameterError: the store is not empty, the counts disagree or an id repeats.
            DimensionMismatchError: ``vectors`` of another width than the store's dim.
            InvalidVectorError: a NaN or infinite component.
        """
        if self._docs:
            raise InvalidParameterError(f"bulk_load fills an empty store; this one holds {len(self._docs)} documents (use upsert_vectors).")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(ids)
        if vecs.ndim != 2 or len(vecs) != n or len(documents) != n:
            raise InvalidParameterError(f"bulk_load got {len(vecs)} vectors, {len(documents)} documents and {n} ids: pass one of each per row.")
        if vecs.shape[1] != self.dim:
            raise DimensionMismatchError(f"Cannot load {vecs.shape[1]}-d vectors into a {self.dim}-d index (model {self._space.model!r}).")
        check_finite(vecs, "document vectors")
        row_of = {str(i): r for r, i in enumerate(ids)}
        if len(row_of) != n:
            raise InvalidParameterError(f"bulk_load got {n - len(row_of)} repeated ids; ids must be unique.")
        if self.metric == "cosine" and not normalized:
            vecs = normalize_rows(vecs)
        self._docs, self._row_of = documents, row_of  # type: ignore[assignment]
        self._main.replace(vecs)
        self._rebuild()

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
        self._main.keep(keep)
        if self._labels is not None:
            self._labels = self._labels[keep]
        for rows_ in self._fields.values():
            rows_.keep(keep)
        if rebuild:
            self._rebuild()

    @writes
    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove documents by id (unknown ids are not an error).
        Rows of the remaining documents may change (the store is compacted).

        Args:
            ids: the ids to remove; ``None`` removes every document.
            **kwargs: ignored (LangChain's signature).

        Returns:
            ``True``.
        """
        if ids is None:
            self._drop_rows(np.arange(len(self._docs), dtype=np.int64))
            return True
        rows = [self._row_of[i] for i in {str(i) for i in ids} if i in self._row_of]
        if rows:
            self._drop_rows(np.asarray(rows, dtype=np.int64))
        return True

    # -- optional capabilities -------------------------------------------------------------------

    @writes
    def set_cluster_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Set the cluster label of ``rows``; rows never labelled hold -1.

        Args:
            rows: (n,) int64 row handles.
            labels: (n,) int64 cluster labels (>= 0), one per row.

        Raises:
            InvalidParameterError: ``rows`` and ``labels`` differ in shape.
        """
        rows = np.asarray(rows, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if rows.shape != labels.shape:
            raise InvalidParameterError(f"{len(rows)} rows but {len(labels)} labels: pass one label per row.")
        if self._labels is None:
            self._labels = np.full(len(self._docs), -1, dtype=np.int64)
        self._labels[rows] = labels
        self._blocks = None

    @reads
    def cluster_labels(self, rows: np.ndarray) -> np.ndarray:
        """The cluster label of each row.

        Args:
            rows: (n,) int64 row handles.

        Returns:
            (n,) int64 labels, -1 = none.
        """
        if self._labels is None:
            return np.full(len(rows), -1, dtype=np.int64)
        return self._labels[np.asarray(rows, dtype=np.int64)]

    @property
    def vector_fields(self) -> dict[str, int]:
        """The extra vector fields (capability ``"vector_fields"``): ``{field name: dimension}``."""
        return {name: int(v.dim) for name, v in self._fields.items()}

    def field_index_kind(self, vector_field: str | None = None) -> str:
        """``spec.kind`` for the main vectors (``"int8"``/``"binary"`` precisions keep their kind), the
        field's kind for an extra field (:meth:`set_field_index_kind`, default ``spec.field_kind``; see
        :meth:`EmbStore.field_index_kind`).

        Args:
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            ``"flat"``, ``"ivf"`` or ``"hnsw"`` for the main vectors; one of ``FIELD_KINDS`` for a field
                (``hnsw*`` kinds take ``ef_search``, ``ivf*`` kinds ``nprobe``).
        """
        if vector_field is None:
            return self.spec.kind
        return self._field_kinds.get(vector_field, self.spec.field_kind)

    @property
    def field_index_kinds(self) -> tuple[str, ...]:
        """The index kinds this store can build for an extra field (its metric allowing), what a funnel
        calibration may choose from (:meth:`set_field_index_kind`)."""
        return tuple(k for k in FIELD_KINDS if not (k == "hnsw_rabitq" and self.metric == "ip"))

    @writes
    def set_field_index_kind(self, vector_field: str, kind: str) -> None:
        """Index the extra field ``vector_field`` with ``kind`` from now on (its index is rebuilt on the
        next search; saved with the store).

        Args:
            vector_field: an extra vector field (it need not exist yet).
            kind: one of :attr:`field_index_kinds`.

        Raises:
            InvalidParameterError: a kind this store cannot build (naming it and the kinds it can).
        """
        check_field_kind(kind, self.metric)
        if self.field_index_kind(vector_field) != kind:
            self._field_index.pop(vector_field, None)
        self._field_kinds[vector_field] = kind

    @reads
    def field_index_bytes(self, vector_field: str) -> int:
        """Bytes of the extra field's index as faiss serialises it (built first if needed): what it holds
        in RAM. A ``"flat"`` field of a ``"mmap"`` store has no index (0: it is scanned from its file).

        Args:
            vector_field: an extra vector field.

        Returns:
            Bytes (int >= 0).

        Raises:
            KeyError: an unknown field.
        """
        index = self._field_faiss_index(vector_field)
        if index is None:
            return 0
        if isinstance(index, faiss.IndexBinary):
            return int(faiss.serialize_index_binary(index).nbytes)
        return int(faiss.serialize_index(index).nbytes)

    @writes
    def ensure_vector_field(self, name: str, dim: int) -> None:
        """Create the extra vector field ``name`` of ``dim`` (filled with re-normalised Matryoshka
        prefixes of the stored vectors when ``dim`` <= the store's dim, else zeros until written);
        nothing to do when it exists with that dim.

        Args:
            name: the field name.
            dim: the field's width (float32 components).

        Raises:
            DimensionMismatchError: the field exists with another dim.
        """
        have = self.vector_fields.get(name)
        if have is not None:
            if have != dim:
                raise DimensionMismatchError(f"Vector field {name!r} exists with dim {have}, not {dim}.")
            return
        field = new_rows(dim, self.spec.vector_storage, self.spec.storage_dir)
        n = len(self._docs)
        for sl in iter_blocks(n):
            field.append(normalize_rows(np.asarray(self._vectors[sl, :dim])) if dim <= self.dim else np.zeros((sl.stop - sl.start, dim), np.float32))
        self._main.release()
        self._fields[name] = field

    @writes
    def write_vector_field(self, name: str, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Overwrite the field ``name`` at ``rows`` with ``vectors``.

        Args:
            name: an extra vector field created by :meth:`ensure_vector_field`.
            rows: (n,) int64 row handles.
            vectors: (n, d_field) float32.

        Raises:
            InvalidParameterError: the field does not exist.
            DimensionMismatchError: ``vectors`` is not (len(rows), d_field).
            InvalidVectorError: a NaN or infinite component.
        """
        if name not in self._fields:
            raise InvalidParameterError(f"Vector field {name!r} does not exist; call ensure_vector_field first.")
        v = check_finite(np.asarray(vectors, dtype=np.float32), f"{name!r} vectors")
        dim = self._fields[name].dim
        if v.shape != (len(rows), dim):
            raise DimensionMismatchError(f"{name!r} vectors have shape {v.shape}; expected ({len(rows)}, {dim}).")
        self._fields[name].write_rows(self._valid_rows(rows), v)
        self._field_index.pop(name, None)

    # -- reading ---------------------------------------------------------------------------------

    def _valid_rows(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        r = np.asarray(rows, dtype=np.int64).ravel()
        bad = (r < 0) | (r >= len(self._docs))
        if bad.any():
            raise KeyError(f"rows {r[bad][:10].tolist()} are not in this FaissVectorStore (rows 0..{len(self._docs) - 1}).")
        return r

    @reads
    def documents_at(self, rows: np.ndarray | Sequence[int]) -> list[Document]:
        """The documents of ``rows``, in order.

        Args:
            rows: 1-d int64 row handles.

        Returns:
            One ``Document`` per row.

        Raises:
            KeyError: naming invalid rows (-1 too).
        """
        docs = self._docs
        return [docs[r] for r in self._valid_rows(rows).tolist()]

    @reads
    def vectors_at(self, rows: np.ndarray | Sequence[int], vector_field: str | None = None) -> np.ndarray:
        """The stored vectors of ``rows``.

        Args:
            rows: 1-d int64 row handles.
            vector_field: an extra vector field, or ``None`` for the main vectors.

        Returns:
            (len(rows), d) float32 stored vectors (unit rows for cosine); with ``vector_storage="mmap"``
                read from the file without keeping its pages resident (``MappedRows.read``).

        Raises:
            KeyError: invalid rows, or an unknown ``vector_field``.
        """
        src = self._main if vector_field is None else self._fields[vector_field]
        return src.read(self._valid_rows(rows))

    @reads
    def all_rows(self) -> np.ndarray:
        """Every row handle (valid until a write removes documents).

        Returns:
            (count,) int64 positions ``0 .. count - 1``.
        """
        return np.arange(len(self._docs), dtype=np.int64)

    @reads
    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id.

        Args:
            ids: n document ids (a non-string id is looked up as its ``str``).

        Returns:
            (n,) int64 rows, -1 for ids not stored.
        """
        get = self._row_of.get
        return np.fromiter((get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    @reads
    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        rows = [self._row_of.get(str(i)) for i in ids]  # a non-string id is its str, as on every store
        return [self._docs[r] for r in rows if r is not None]

    # -- searching -------------------------------------------------------------------------------

    search_options = frozenset({"ef_search", "nprobe"})  # the per-call knobs search_rows takes

    def filter_mask(self, filter: Filter | FilterTree) -> np.ndarray | None:
        """The rows a filter keeps, cached per filter tree until the next write.

        Args:
            filter: a parsed tree or any filter input (:func:`~langchain_embcompare.filters.filter_tree`),
                or ``None``.

        Returns:
            (count,) bool mask over rows, or ``None`` for no filter.

        Raises:
            InvalidParameterError: a malformed filter (from :func:`~langchain_embcompare.filters.filter_tree`).
        """
        tree = filter_tree(filter)
        if tree is None:
            return None
        mask = self._mask_cache.get(tree)
        if mask is None:
            mask = self._mask_cache[tree] = RowMask([d.metadata for d in self._docs]).visit(tree)
        return mask

    def allowed_rows(self, filter: Filter) -> np.ndarray | None:
        """Row numbers a filter keeps.

        Args:
            filter: a filter expression or LangChain dict, or ``None``.

        Returns:
            1-d int64 rows, ascending, or ``None`` for all rows.
        """
        mask = self.filter_mask(filter)
        return None if mask is None else np.flatnonzero(mask)

    def filter_count(self, filter: Filter | FilterTree) -> int:
        """How many stored documents a filter keeps: the sum of its cached row mask (:meth:`filter_mask`).

        Args:
            filter: a filter expression, LangChain dict or parsed tree.

        Returns:
            The number of matching documents (every document for ``None``).

        Raises:
            InvalidParameterError: a malformed filter.
        """
        mask = self.filter_mask(filter)
        return len(self._docs) if mask is None else int(mask.sum())

    def _cluster_blocks(self) -> ClusterBlocks:
        """The stored vectors regrouped by cluster label (built on first use after labels or rows change)."""
        if self._blocks is None:
            self._blocks = ClusterBlocks(self._vectors, self._labels, metric=self.metric)
        return self._blocks

    def _exact(self, q: np.ndarray, k: int, rows: np.ndarray | None, source: RamRows | MappedRows | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` over ``rows`` (``None``: all) of ``source`` (default: the main vectors), in
        blocks of rows so that a mapped matrix is never gathered whole."""
        src = self._main if source is None else source
        n = len(src) if rows is None else len(rows)
        best: tuple[np.ndarray, np.ndarray] | None = None
        for sl in iter_blocks(n):
            r = np.arange(sl.start, sl.stop, dtype=np.int64) if rows is None else rows[sl]
            vecs = np.asarray(src.array[sl]) if rows is None else src.read(r)
            if self.precision == "int8" and source is None:
                vecs = self.quantizer.dequantize(self.quantizer.encode(vecs))
            part = top_k(exact_scores(q, vecs, self.metric), k, r)
            if best is not None:
                s, i = np.concatenate([best[0], part[0]], 1), np.concatenate([best[1], part[1]], 1)
                order = np.argsort(-s, axis=1, kind="stable")[:, :k]
                part = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
            best = part
        if rows is None:
            src.release()  # a scan of every row: do not keep them resident
        return best if best is not None else empty_result(len(q), k)

    def _faiss_search(
        self, q: np.ndarray, k: int, rows: np.ndarray | None, ef_search: int | None = None, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        sel = None if rows is None else faiss.IDSelectorBatch(rows.astype(np.int64))
        params = search_params(self.index, self.spec, sel, ef_search, nprobe) if (sel is not None or ef_search or nprobe) else None
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
        params = search_params(self.index, self.spec, sel, ef_search, nprobe) if (sel is not None or ef_search or nprobe) else None
        _, cand = self.index.search(self.quantizer.encode(q), shortlist, params=params)
        return rescore(q, cand.astype(np.int64), np.asarray(self._vectors), k, self.metric)

    def _cluster_rows(self, clusters: Sequence[int]) -> np.ndarray:
        if self._labels is None:
            raise InvalidParameterError("No cluster labels are set: fit clusters first (set_cluster_labels).")
        return np.sort(self._cluster_blocks().rows_in([int(c) for c in clusters]))

    def _field_faiss_index(self, field: str) -> Any:
        """The field's faiss index, built on first use (``None``: a mapped flat field, scanned from its file)."""
        kind = self.field_index_kind(field)
        source = self._fields[field]
        if kind == "flat" and source.mapped:
            return None
        index = self._field_index.get(field)
        if index is None:
            index = self._field_index[field] = field_index(source.array, self.spec, kind)
            source.release()  # the build read every row: do not keep them resident
        return index

    def _field_search(
        self, q: np.ndarray, k: int, field: str, rows: np.ndarray | None, ef_search: int | None, nprobe: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        source = self._fields[field]
        vecs = source.array
        if rows is not None and len(rows) <= max(256, self.spec.exact_below * len(vecs)):
            return self._exact(q, k, rows, source)
        kind = self.field_index_kind(field)
        index = self._field_faiss_index(field)
        if index is None:
            return self._exact(q, k, rows, source)
        kk = min(k, len(vecs) if rows is None else len(rows))
        sel = None if rows is None else faiss.IDSelectorBatch(rows.astype(np.int64))
        params = field_search_params(index, kind, self.spec, sel, kk, ef_search, nprobe)
        if isinstance(index, faiss.IndexBinary):
            _, idx = index.search(np.ascontiguousarray(np.packbits(q > 0, axis=1)), kk, params=params)
            # Hamming order is not score order: score the codes' candidates on the field's floats
            scores, idx = rescore(q, idx.astype(np.int64), vecs, kk, self.metric)
        else:
            scores, idx = index.search(q, kk, params=params)
            idx = idx.astype(np.int64)
            if kind == "hnsw_rabitq" and self.metric == "cosine":  # squared L2 of unit vectors: cos = 1 - d / 2
                scores = 1 - scores / 2
            elif self.metric == "l2" or kind == "hnsw_rabitq":
                scores = -np.sqrt(np.maximum(scores, 0))
            scores = np.where(idx >= 0, scores, -np.inf)
        out_s, out_r = empty_result(len(q), k)
        out_s[:, :kk], out_r[:, :kk] = scores, idx
        return out_s, out_r

    @reads
    def _search(self, q: np.ndarray, k: int, request: SearchRequest) -> tuple[np.ndarray, np.ndarray]:
        """The FAISS search of :meth:`EmbStore.search_rows` (protocol: :mod:`.base`).

        Every restriction (filter, candidate rows, clusters) is a true prefilter: a faiss
        ``IDSelector``, or an exact numpy scan when the allowed rows are few (``exact_below``). When an
        approximate search (IVF, HNSW, binary) returns fewer than ``min(k, allowed)`` rows for a query,
        that query is answered by an exact scan of the allowed rows, so ``k`` results come back
        whenever ``k`` documents qualify. Candidate rows beyond the store are dropped. Takes
        ``ef_search`` (HNSW, binary graph) and ``nprobe`` (IVF).

        Args:
            q: (m, d) float32 validated queries (``d`` = dim, or the extra field's dim).
            k: rows per query (>= 1).
            request: the validated :class:`~.base.SearchRequest`.

        Returns:
            ``(scores, rows)``: (m, k) float32 (higher = more similar) and (m, k) int64, padded with
                ``-inf`` / ``-1``.

        Raises:
            InvalidParameterError: ``clusters`` before any labels are set.
        """
        candidate_rows, clusters, vector_field = request.candidate_rows, request.clusters, request.vector_field
        ef_search, nprobe = request.ef_search, request.nprobe
        if self.metric == "cosine":
            q = normalize_rows(q)
        if not self._docs:
            return empty_result(len(q), k)
        rows = self.allowed_rows(request.filter)
        if candidate_rows is not None:
            cand = np.unique(candidate_rows)
            cand = cand[(cand >= 0) & (cand < len(self._docs))]
            rows = cand if rows is None else np.intersect1d(rows, cand, assume_unique=True)
        if clusters is not None and candidate_rows is None and vector_field is None and self.precision == "float32":
            # one matrix product per opened cluster block: no gather, no IDSelector over every vector
            if self._labels is None:
                raise InvalidParameterError("No cluster labels are set: fit clusters first (set_cluster_labels).")
            return self._cluster_blocks().search(q, k, list(clusters), allowed=self.filter_mask(request.filter))
        if clusters is not None:
            crow = self._cluster_rows(clusters)
            rows = crow if rows is None else np.intersect1d(rows, crow, assume_unique=True)
        if rows is not None and len(rows) == 0:
            return empty_result(len(q), k)
        if vector_field is not None:
            return self._field_search(q, k, vector_field, rows, ef_search, nprobe)
        n_allowed = len(self._docs) if rows is None else len(rows)
        if self.index is None or request.exact or (rows is not None and len(rows) <= max(256, self.spec.exact_below * len(self._docs))):
            return self._exact(q, k, rows)  # a block-scan store, or few allowed rows
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

    @reads
    def search_cluster_lists(
        self, query_vectors: np.ndarray, k: int, cluster_lists: np.ndarray, *, filter: Filter = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`EmbStore.search_cluster_lists` in one pass over the cluster-ordered blocks (float32
        vectors; other precisions take the generic per-cluster path).

        Args:
            query_vectors: (m, dim) float32 query vectors.
            k: rows per query (>= 1).
            cluster_lists: (m, w) int64 cluster labels per query, ``-1`` = none.
            filter: a filter expression or LangChain dict, or ``None``.

        Returns:
            ``(scores, rows)``: (m, k) float32 and (m, k) int64, padded with ``-inf`` / ``-1``.

        Raises:
            InvalidParameterError: ``k`` not a positive integer, a bad filter, or no cluster labels are set.
            DimensionMismatchError: query vectors of the wrong width.
        """
        if self.precision != "float32":
            return super().search_cluster_lists(query_vectors, k, cluster_lists, filter=filter)
        q, k, request = self.search_request(query_vectors, k, filter=filter)
        if request is None or not self._docs:
            return empty_result(len(q), k)
        if self.metric == "cosine":
            q = normalize_rows(q)
        if self._labels is None:
            raise InvalidParameterError("No cluster labels are set: fit clusters first (set_cluster_labels).")
        return self._cluster_blocks().search_lists(q, k, cluster_lists, allowed=self.filter_mask(request.filter))

    # -- persistence (the folder format: stores/faiss_io.py) --------------------------------------------------------

    @reads
    def save_local(self, folder: str | Path) -> Path:
        """Write the index folder: ``index.faiss``, ``vectors.npy``, ``documents.jsonl``, ``store.json``
        (+ rotation, cluster labels, extra fields as .npy). No pickle.

        Args:
            folder: the folder to write (created if missing).

        Returns:
            The folder's path.

        Raises:
            EmptyInputError: the store holds no documents.
        """
        out = write_folder(
            FaissFolder(
                space=self._space, spec=self.spec, quantizer=self.quantizer, index=self.index, vectors=self._vectors,
                documents=self._docs, calibrated_on=self._calibrated_on, labels=self._labels,
                fields={name: f.array for name, f in self._fields.items()}, rotation=self.embedding.rotation,
                field_kinds=dict(self._field_kinds),
            ),
            folder,
        )
        for rows in (self._main, *self._fields.values()):
            rows.release()  # writing read every row: do not keep them resident
        return out

    @classmethod
    def load_local(
        cls, folder: str | Path, embedding: Embeddings | str | None = None, *, mmap: bool = True
    ) -> FaissVectorStore:
        """Load a folder written by :meth:`save_local`. Without ``embedding`` the query embeddings are
        rebuilt from the recorded vector space; with one, it must produce the same space
        (``VectorSpaceMismatchError`` / ``DimensionMismatchError``).

        Args:
            folder: a folder written by :meth:`save_local`.
            embedding: the query embeddings (or a model name), or ``None`` to rebuild them from the
                recorded vector space.
            mmap: memory-map ``vectors.npy`` instead of reading it into memory (``vector_storage="ram"``;
                a ``"mmap"`` store always maps ``vectors.npy`` and its fields' files, copying one to its
                ``storage_dir`` at the first write to it, so the folder is never changed).

        Returns:
            The loaded store.

        Raises:
            SchemaMismatchError: the folder is not ours or is inconsistent.
            VectorSpaceMismatchError: ``embedding`` produces another vector space than the recorded one.
            DimensionMismatchError: ``embedding`` has another dimension than the index.
            ModalityMismatchError: ``embedding`` shares no modality with the index.
        """
        data = read_folder(folder, mmap=mmap)
        store = cls(query_embeddings(data, embedding, f"index at {folder}"), data.spec, quantizer=data.quantizer)
        store.index, store._docs = data.index, data.documents
        store._row_of = {d.id: i for i, d in enumerate(data.documents)}
        store._calibrated_on, store._trained_on = data.calibrated_on, len(data.documents)
        store._labels, store._field_kinds = data.labels, dict(data.field_kinds)
        folder = Path(folder)
        if data.spec.vector_storage == "mmap":
            store._main = MappedRows(store.dim, data.spec.storage_dir, source=folder / "vectors.npy")
            store._fields = {
                name: MappedRows(int(v.shape[1]), data.spec.storage_dir, source=folder / f"field_{name}.npy")
                for name, v in data.fields.items()
            }
        else:
            store._main = RamRows(store.dim, data.vectors)
            store._fields = {name: RamRows(int(v.shape[1]), v) for name, v in data.fields.items()}
        return store


__all__ = ["FaissIndexSpec", "FaissOptions", "FaissVectorStore"]
