"""FAISS index construction for the FAISS store: the spec, index building per kind and precision,
search parameters, the extra-field (shortlist) indexes, and exact rescoring of candidates.

Pure functions of (spec, vectors, metric): the store (:mod:`.faiss`) owns the data and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import faiss
import numpy as np

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.matryoshka import Quantizer
from langchain_embcompare.stores.ops import METRICS

FORMAT_VERSION = 1
FIELD_KINDS = ("flat", "hnsw", "ivf", "binary", "hnsw_sq8", "ivf_sq8", "ivf_rabitq", "hnsw_rabitq")
VECTOR_STORAGES = ("ram", "mmap")


@dataclass
class FaissIndexSpec:
    """How to index: the kind, the metric and each kind's knobs (defaults suit 1k-1M vectors).

    Args:
        kind: ``"flat"`` (exact), ``"ivf"`` or ``"hnsw"``.
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.
        nlist: IVF lists (default ``min(4 sqrt(n), n / 39)`` at the first add).
        nprobe: IVF lists searched, 1..nlist.
        hnsw_m: HNSW links per node, 4..64.
        ef_construction: HNSW candidates kept while building.
        ef_search: HNSW candidates kept while searching (>= k).
        rescore_multiplier: binary precision: shortlist ``k * rescore_multiplier`` by Hamming, then
            rescore in float.
        exact_below: a filtered search over fewer rows than this fraction of the store runs exactly
            in numpy.
        field_kind: the index of the extra vector fields (the funnel's shortlist; one field may
            override it with ``FaissVectorStore.set_field_index_kind``): ``"flat"`` (exact scan),
            ``"hnsw"`` (float HNSW), ``"ivf"`` (float IVF), ``"binary"`` (sign bits, Hamming, HNSW over
            the codes), ``"hnsw_sq8"`` / ``"ivf_sq8"`` (8-bit scalar-quantised codes, 1 byte a
            dimension, in HNSW / IVF), ``"ivf_rabitq"`` / ``"hnsw_rabitq"`` (faiss RaBitQ: 1 bit a
            dimension plus a few bytes of factors, in IVF / HNSW; ``hnsw_rabitq`` ranks by L2, so it
            serves ``cosine`` and ``l2`` stores, not ``ip``). Graph kinds take ``field_ef_search``, IVF
            kinds ``field_nprobe``. Quantised kinds return the index's estimated scores (the funnel
            rescores its shortlist exactly); ``binary`` rescores its candidates on the field's floats.
        field_ef_search: HNSW candidates kept while searching an extra field.
        field_nprobe: IVF lists searched in an extra field.
        field_query_bits: RaBitQ kinds: bits each query component is quantised to (``qb`` of faiss's
            ``IVFRaBitQSearchParameters``), 0..8; 0 keeps queries float.
        field_rabitq_bits: RaBitQ kinds: bits of each code component, 1..9 (1: one sign bit a dimension;
            more bits estimate distances better, so shorter shortlists reach a recall, at ``d * bits / 8``
            bytes a vector plus its factors).
        vector_storage: where the store keeps its float vectors (full-dimension and extra fields):
            ``"ram"``, or ``"mmap"`` (a memory-mapped file in ``storage_dir``; only the pages of rows
            read become resident). With ``"mmap"`` a ``float32`` store's main index must be ``"flat"``
            (exact search scans the file in blocks; an HNSW / IVF main index would hold a RAM copy of
            every vector) and a ``"flat"`` field is scanned from its file the same way.
        storage_dir: folder of the ``"mmap"`` files (``None``: a fresh temporary directory); the files
            are the store's scratch space, removed with the store (``save_local`` persists it).

    Raises:
        InvalidParameterError: an unknown ``kind``, ``metric`` or ``field_kind``, or a knob
            (``nprobe``, ``hnsw_m``, ``ef_construction``, ``ef_search``, ``rescore_multiplier``,
            ``field_ef_search``, ``field_nprobe``) that is not positive.
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
    field_kind: Literal["flat", "hnsw", "ivf", "binary", "hnsw_sq8", "ivf_sq8", "ivf_rabitq", "hnsw_rabitq"] = "flat"
    field_ef_search: int = 64
    field_nprobe: int = 16
    field_query_bits: int = 4
    field_rabitq_bits: int = 1
    vector_storage: Literal["ram", "mmap"] = "ram"
    storage_dir: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "ivf", "hnsw"):
            raise InvalidParameterError(f"FAISS index kind must be 'flat', 'ivf' or 'hnsw', got {self.kind!r}.")
        if self.metric not in METRICS:
            raise InvalidParameterError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        check_field_kind(self.field_kind, self.metric)
        if self.vector_storage not in VECTOR_STORAGES:
            raise InvalidParameterError(f"vector_storage must be one of {VECTOR_STORAGES}, got {self.vector_storage!r}.")
        if self.vector_storage == "mmap" and self.kind != "flat":
            raise InvalidParameterError(
                f"vector_storage='mmap' keeps the float vectors on disk, but a {self.kind!r} main index would hold a "
                "RAM copy of each: use kind='flat' (exact search scans the file; put the speed in a funnel's shortlist "
                "field, field_kind=...) or vector_storage='ram'."
            )
        if not 1 <= self.field_rabitq_bits <= 9:
            raise InvalidParameterError(f"field_rabitq_bits must lie in 1..9, got {self.field_rabitq_bits}.")
        if not 0 <= self.field_query_bits <= 8:
            raise InvalidParameterError(f"field_query_bits must lie in 0..8, got {self.field_query_bits}.")
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search", "rescore_multiplier", "field_ef_search", "field_nprobe"):
            if getattr(self, name) <= 0:
                raise InvalidParameterError(f"{name} must be positive, got {getattr(self, name)}.")


def check_field_kind(kind: str, metric: str) -> None:
    """Refuse an extra-field index kind the FAISS store cannot build for ``metric``.

    Args:
        kind: the kind asked for.
        metric: the store's metric.

    Raises:
        InvalidParameterError: a kind not in :data:`FIELD_KINDS`, or ``"hnsw_rabitq"`` on an ``ip`` store.
    """
    if kind not in FIELD_KINDS:
        raise InvalidParameterError(f"field_kind must be one of {FIELD_KINDS}, got {kind!r}.")
    if kind == "hnsw_rabitq" and metric == "ip":
        raise InvalidParameterError(
            "field_kind='hnsw_rabitq' ranks by L2 distance (faiss's HNSW-RaBitQ has no inner product): use it on a "
            "cosine or l2 store, or 'ivf_rabitq' on an ip store."
        )


def faiss_metric(metric: str) -> int:
    """faiss's metric constant for ours: L2 for ``l2``, inner product for ``ip`` and ``cosine``
    (cosine vectors are stored unit-length).

    Args:
        metric: ``"cosine"``, ``"ip"`` or ``"l2"``.

    Returns:
        ``faiss.METRIC_L2`` or ``faiss.METRIC_INNER_PRODUCT``.
    """
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def nlist_for(spec: FaissIndexSpec, n: int) -> int:
    """IVF list count: the spec's, or ``min(4 sqrt(n), n / 39)`` (faiss wants >= 39 training points a
    list).

    Args:
        spec: the index spec (its ``nlist``, ``None`` = automatic).
        n: the number of training vectors.

    Returns:
        The number of IVF lists (>= 1).

    Raises:
        InvalidParameterError: an explicit ``nlist`` exceeds ``n``.
    """
    nlist = spec.nlist or max(1, min(int(4 * np.sqrt(n)), n // 39))
    if nlist > n:
        raise InvalidParameterError(
            f"An IVF index with nlist={nlist} needs at least {nlist} vectors to train, got {n}: "
            "use a smaller nlist or kind='flat'."
        )
    return nlist


def pin_ranges(quantizer: Quantizer, sq_index: Any) -> None:
    """Make faiss's 8-bit codes the ``quantize_embeddings`` int8 codes (+128): same per-dim ranges.

    Args:
        quantizer: a fitted int8 :class:`Quantizer` (its per-dimension ``(lo, hi)`` float32 ranges).
        sq_index: the faiss scalar-quantizer index whose trained ranges are overwritten in place.
    """
    lo, hi = quantizer.ranges
    faiss.copy_array_to_vector(np.concatenate([lo, hi - lo]).astype(np.float32), sq_index.sq.trained)


def new_index(spec: FaissIndexSpec, d: int, precision: str, n: int, quantizer: Quantizer) -> Any:
    """An empty faiss index for ``n`` vectors of dim ``d`` at ``precision`` (float32 / int8 / binary).

    Args:
        spec: the index spec (kind, metric, HNSW / IVF knobs).
        d: the vector dimension (bits for binary).
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        n: the number of vectors it will first hold (sizes IVF lists).
        quantizer: the int8 quantizer whose ranges the codes use (ignored for other precisions).

    Returns:
        The faiss index (``IndexFlat``/``IVF``/``HNSW`` float, scalar-quantised or binary variant).

    Raises:
        InvalidParameterError: a binary index whose dim is not a multiple of 8, or an IVF ``nlist``
            larger than ``n``.
    """
    metric = faiss_metric(spec.metric)
    if precision == "binary":
        if d % 8:
            raise InvalidParameterError(f"Binary indexes need a dim that is a multiple of 8, got {d}.")
        if spec.kind == "hnsw":
            return faiss.IndexBinaryHNSW(d, spec.hnsw_m)
        if spec.kind == "ivf":
            return faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(d), d, nlist_for(spec, n))
        return faiss.IndexBinaryFlat(d)
    if precision == "int8":
        qtype = faiss.ScalarQuantizer.QT_8bit
        if spec.kind == "hnsw":
            index = faiss.IndexHNSWSQ(d, qtype, spec.hnsw_m, metric)
            sq_index = faiss.downcast_index(index.storage)
        elif spec.kind == "ivf":
            index = sq_index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlat(d, metric), d, nlist_for(spec, n), qtype, metric, False)
        else:
            index = sq_index = faiss.IndexScalarQuantizer(d, qtype, metric)
        pin_ranges(quantizer, sq_index)
        if spec.kind != "ivf":
            sq_index.is_trained = True
            index.is_trained = True
        return index
    if spec.kind == "hnsw":
        return faiss.IndexHNSWFlat(d, spec.hnsw_m, metric)
    if spec.kind == "ivf":
        return faiss.IndexIVFFlat(faiss.IndexFlat(d, metric), d, nlist_for(spec, n), metric)
    return faiss.IndexFlat(d, metric)


def configure(index: Any, spec: FaissIndexSpec) -> None:
    """Set the spec's ef_construction / ef_search (HNSW) and nprobe (IVF) on ``index``.

    Args:
        index: a faiss index (float or binary), changed in place.
        spec: the index spec holding the values.
    """
    if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    ivf = faiss.try_extract_index_ivf(index) if not isinstance(index, faiss.IndexBinary) else None
    if ivf is not None:
        ivf.nprobe = spec.nprobe
    if isinstance(index, faiss.IndexBinaryIVF):
        index.nprobe = spec.nprobe


def search_params(index: Any, spec: FaissIndexSpec, selector: Any, ef_search: int | None = None, nprobe: int | None = None) -> Any:
    """faiss search parameters for ``index``: the selector and this search's ef_search / nprobe.

    Args:
        index: the faiss index searched.
        spec: the index spec (default ef_search / nprobe).
        selector: a faiss ``IDSelector``, or ``None`` for all rows.
        ef_search: HNSW candidates kept while searching (``None``: the spec's).
        nprobe: IVF lists searched (``None``: the spec's).

    Returns:
        ``faiss.SearchParameters*`` for the index kind, or ``None`` when nothing needs setting.
    """
    if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=ef_search or spec.ef_search)
    if isinstance(index, faiss.IndexBinaryIVF) or (
        not isinstance(index, faiss.IndexBinary) and faiss.try_extract_index_ivf(index) is not None
    ):
        return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or spec.nprobe)
    return None if selector is None else faiss.SearchParameters(sel=selector)


def ivf_lists(n: int) -> int:
    """IVF lists of an extra field's index: ``min(4 sqrt(n), n / 39)`` (>= 1).

    Args:
        n: the number of vectors.

    Returns:
        The list count.
    """
    return max(1, min(int(4 * np.sqrt(n)), n // 39))


def field_index(vecs: np.ndarray, spec: FaissIndexSpec, kind: str | None = None) -> Any:
    """The index of an extra vector field (the funnel's shortlist), of ``kind`` (default
    ``spec.field_kind``; :class:`FaissIndexSpec` lists them). IVF kinds below 39 vectors (too few to
    train) and ``flat`` are a faiss flat index (the store scans a mapped ``flat`` field itself). IVF
    kinds train on a seeded sample of at most 64 vectors a list and take the vectors in blocks of rows
    (a memory-mapped field is never copied whole into RAM); graph kinds take them in one add (a copy
    while building), since faiss grows a graph's arrays by doubling when vectors come in batches.

    Args:
        vecs: (n, d) float32 field vectors (an array or a read-only map).
        spec: the index spec (metric, HNSW knobs).
        kind: the index kind (default ``spec.field_kind``).

    Returns:
        The faiss index over ``vecs`` (a ``faiss.IndexBinaryHNSW`` for ``binary``).

    Raises:
        InvalidParameterError: an unknown kind, a binary field whose dim is not a multiple of 8, or
            ``hnsw_rabitq`` on an ``ip`` store.
    """
    kind = kind or spec.field_kind
    check_field_kind(kind, spec.metric)
    n, d = vecs.shape
    metric = faiss_metric(spec.metric)
    if kind == "binary":
        if d % 8:
            raise InvalidParameterError(f"A binary field index needs a dim that is a multiple of 8, got {d}.")
        index = faiss.IndexBinaryHNSW(d, spec.hnsw_m)
        index.hnsw.efConstruction = spec.ef_construction
        for sl in _blocks(n):
            index.add(np.ascontiguousarray(np.packbits(np.asarray(vecs[sl]) > 0, axis=1)))
        return index
    if kind.startswith("ivf") and n < 39:
        kind = "flat"
    if kind == "flat":
        index = faiss.IndexFlat(d, metric)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m, metric)
    elif kind == "hnsw_sq8":
        index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, spec.hnsw_m, metric)
    elif kind == "hnsw_rabitq":
        index = faiss.IndexHNSWRaBitQ(d, spec.hnsw_m, spec.field_rabitq_bits, faiss.METRIC_L2)
    else:
        nlist = ivf_lists(n)
        coarse = faiss.IndexFlat(d, metric)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(coarse, d, nlist, metric)
        elif kind == "ivf_sq8":
            index = faiss.IndexIVFScalarQuantizer(coarse, d, nlist, faiss.ScalarQuantizer.QT_8bit, metric)
        else:
            index = faiss.IndexIVFRaBitQ(coarse, d, nlist, metric, True, spec.field_rabitq_bits)
        # k-means on at most 64 points per list, 10 iterations: the shortlist is rescored at full
        # dimension, so coarser lists cost little recall, and training stays ~1 min at 1M x 128-d
        index.cp.max_points_per_centroid, index.cp.niter = 64, 10
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efConstruction = spec.ef_construction
    ivf = faiss.try_extract_index_ivf(index) is not None
    if not index.is_trained:
        index.train(_train_sample(vecs, 64 * index.nlist if ivf else 65_536))
    if ivf:  # inverted lists grow list by list: add in blocks, never holding a mapped field whole in RAM
        for sl in _blocks(n):
            index.add(np.ascontiguousarray(vecs[sl], dtype=np.float32))
    else:  # one add: a graph / flat index sizes its arrays once (blocks would grow them by doubling, ~1.5x the memory)
        index.add(np.ascontiguousarray(vecs, dtype=np.float32))
    return index


def _blocks(n: int, block: int = 65_536) -> list[slice]:
    return [slice(s, min(n, s + block)) for s in range(0, n, block)]


def _train_sample(vecs: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """At most ``size`` rows of ``vecs`` (a seeded sample, in row order) as a float32 array."""
    n = len(vecs)
    if n <= size:
        return np.ascontiguousarray(vecs, dtype=np.float32)
    pick = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    return np.ascontiguousarray(vecs[pick], dtype=np.float32)


def field_search_params(index: Any, kind: str, spec: FaissIndexSpec, selector: Any, k: int, ef_search: int | None, nprobe: int | None) -> Any:
    """faiss search parameters for an extra field's index of ``kind``.

    Args:
        index: the field's faiss index.
        kind: its kind (:data:`FIELD_KINDS`).
        spec: the spec (default ``field_ef_search`` / ``field_nprobe``, ``field_query_bits``).
        selector: a faiss ``IDSelector``, or ``None`` for all rows.
        k: results asked for (an HNSW beam is at least ``k``).
        ef_search: this search's ``ef_search`` (``None``: the spec's).
        nprobe: this search's ``nprobe`` (``None``: the spec's).

    Returns:
        ``faiss.SearchParameters*``, or ``None`` when nothing needs setting.
    """
    if isinstance(index, (faiss.IndexHNSW, faiss.IndexBinaryHNSW)):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=max(k, ef_search or spec.field_ef_search))
    if not isinstance(index, faiss.IndexBinary) and faiss.try_extract_index_ivf(index) is not None:
        if kind == "ivf_rabitq":
            params = faiss.IVFRaBitQSearchParameters()
            params.nprobe, params.qb = nprobe or spec.field_nprobe, spec.field_query_bits
            if selector is not None:
                params.sel = selector
            return params
        return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or spec.field_nprobe)
    return None if selector is None else faiss.SearchParameters(sel=selector)


__all__ = [
    "FIELD_KINDS", "FORMAT_VERSION", "VECTOR_STORAGES", "FaissIndexSpec", "check_field_kind", "configure", "faiss_metric",
    "field_index", "field_search_params", "ivf_lists", "new_index", "nlist_for", "pin_ranges", "search_params",
]
