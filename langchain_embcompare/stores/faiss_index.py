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
        field_kind: the index of the extra vector fields (the funnel's shortlist): ``"flat"`` (exact
            scan), ``"hnsw"`` (``field_ef_search``), ``"ivf"`` (``field_nprobe``) or ``"binary"`` (sign
            bits, Hamming, HNSW over the codes): an approximate shortlist that does not scan every vector.
        field_ef_search: HNSW candidates kept while searching an extra field.
        field_nprobe: IVF lists searched in an extra field.

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


def field_index(vecs: np.ndarray, spec: FaissIndexSpec) -> Any:
    """The index of an extra vector field (the funnel's shortlist), by ``spec.field_kind``: ``flat``
    (exact), ``hnsw``, ``ivf`` (exact below 39 vectors: too few to train) or ``binary`` (sign bits in
    a binary HNSW; Hamming).

    Args:
        vecs: (n, d) float32 field vectors.
        spec: the index spec (``field_kind``, metric, HNSW knobs).

    Returns:
        The faiss index over ``vecs`` (a ``faiss.IndexBinaryHNSW`` for ``binary``).

    Raises:
        InvalidParameterError: a binary field whose dim is not a multiple of 8.
    """
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    d, kind, metric = vecs.shape[1], spec.field_kind, faiss_metric(spec.metric)
    if kind == "binary":
        if d % 8:
            raise InvalidParameterError(f"A binary field index needs a dim that is a multiple of 8, got {d}.")
        index = faiss.IndexBinaryHNSW(d, spec.hnsw_m)
        index.hnsw.efConstruction = spec.ef_construction
        index.add(np.ascontiguousarray(np.packbits(vecs > 0, axis=1)))
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m, metric)
        index.hnsw.efConstruction = spec.ef_construction
        index.add(vecs)
    elif kind == "ivf" and len(vecs) >= 39:
        index = faiss.IndexIVFFlat(faiss.IndexFlat(d, metric), d, max(1, min(int(4 * np.sqrt(len(vecs))), len(vecs) // 39)), metric)
        # k-means on at most 64 points per list, 10 iterations: the shortlist is rescored at full
        # dimension, so coarser lists cost little recall, and training stays ~1 min at 1M x 128-d
        index.cp.max_points_per_centroid, index.cp.niter = 64, 10
        index.train(vecs)
        index.add(vecs)
    else:
        index = faiss.IndexFlat(d, metric)
        index.add(vecs)
    return index


__all__ = ["FORMAT_VERSION", "FaissIndexSpec", "configure", "faiss_metric", "field_index", "new_index", "nlist_for", "pin_ranges", "search_params"]
