"""Selective filters: a search setting per filter selectivity, calibrated on held-out queries.

Why: an approximate index (HNSW, IVF) searched with a filter that keeps few rows loses recall (the
graph walk or the opened lists hold too few allowed rows), the hard case of every vector database.
A :class:`FilterPolicy` maps the selectivity of a filter (the fraction of stored documents it keeps)
to a :class:`FilterSetting`: a larger ``ef_search`` / ``nprobe``, or an exact scan over the allowed
rows. :func:`calibrate_filter_policy` chooses each setting from a target recall on held-out queries
(never on the queries a benchmark reports), and :meth:`~.base.EmbStore.set_filter_policy` attaches it
to a store; from then on :meth:`~.base.EmbStore.search_rows` counts the documents a filter keeps
(:meth:`~.base.EmbStore.filter_count`: FAISS its row mask, Redis a ``LIMIT 0 0`` count query, Milvus
``count(*)`` over the expression, Qdrant ``count``) and passes the chosen setting on the
:class:`~.base.SearchRequest`. A search that names ``ef_search`` / ``nprobe`` / ``exact`` itself, or
restricts ``candidate_rows`` / ``clusters`` / ``vector_field``, is not changed by the policy.

The rule between calibrated selectivities is conservative: a filter of selectivity ``s`` gets the
setting calibrated at the largest calibrated selectivity ``<= s`` (a harder case than ``s``), and a
filter more selective than every calibrated one gets an exact scan (always right). An exact scan
scores every allowed row on the store's score convention and keeps the top ``k`` with the tie rule of
:func:`~.ops.top_k` on FAISS, Milvus (its stored vectors, fetched) and Redis (RediSearch's
``HYBRID_POLICY ADHOC_BF``, a brute-force scan of the filtered documents); Qdrant (``exact=True``).

Saved as JSON (:meth:`FilterPolicy.to_json` / :meth:`FilterPolicy.from_json`), no pickle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.stores.ops import knob_of

__all__ = ["FilterSetting", "FilterBand", "FilterPolicy", "calibrate_filter_policy", "filtered_recall"]

EXACT_MARGIN = 0.9
"""A calibrated knob must be faster than ``EXACT_MARGIN`` x the exact scan's time to be chosen over it."""

EXACT_TIMING_QUERIES = 20
"""Held-out queries the exact scan is timed on (one call each), once a knob reaches the target."""


@dataclass(frozen=True)
class FilterSetting:
    """How one filtered search runs: an exact scan over the allowed rows, or the index with these knobs.

    Args:
        exact: score every allowed row exactly (``ef_search`` / ``nprobe`` then unused).
        ef_search: HNSW candidates for the search, ``None``: the index's own.
        nprobe: IVF lists opened, ``None``: the index's own.

    Raises:
        InvalidParameterError: a knob that is not a positive integer, or ``exact`` that is not a bool.
    """

    exact: bool = False
    ef_search: int | None = None
    nprobe: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.exact, bool):
            raise InvalidParameterError(f"FilterSetting.exact={self.exact!r} must be a bool.")
        for name in ("ef_search", "nprobe"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise InvalidParameterError(f"FilterSetting.{name}={v!r} must be a positive integer or None.")

    def knobs(self) -> dict[str, Any]:
        """The ``search_rows`` keywords of this setting.

        Returns:
            ``{"exact": True}`` or ``{"ef_search": ..., "nprobe": ...}`` without the ``None`` ones.
        """
        if self.exact:
            return {"exact": True}
        return {n: int(v) for n, v in (("ef_search", self.ef_search), ("nprobe", self.nprobe)) if v is not None}


@dataclass(frozen=True)
class FilterBand:
    """One band of a :class:`FilterPolicy`: ``setting`` for filters keeping at least ``min_selectivity``.

    Args:
        min_selectivity: the calibrated selectivity (fraction of stored documents kept, in (0, 1]).
        setting: the setting chosen there.

    Raises:
        InvalidParameterError: a selectivity outside (0, 1].
    """

    min_selectivity: float
    setting: FilterSetting

    def __post_init__(self) -> None:
        if not (0.0 < float(self.min_selectivity) <= 1.0):
            raise InvalidParameterError(f"FilterBand.min_selectivity={self.min_selectivity!r} must be in (0, 1].")


@dataclass(frozen=True)
class FilterPolicy:
    """Selectivity -> search setting for filtered searches on one store (module docstring).

    Args:
        bands: one :class:`FilterBand` per calibrated selectivity (any order; kept descending).
        index_kind: the index kind it was calibrated on (``"hnsw"``, ``"ivf"``, ``"flat"``,
            ``"binary"``); a store of another kind refuses it.
        k: the ``k`` it was calibrated at (recorded; a larger ``k`` raises ``ef_search`` to at least
            ``k`` on every store, as the engines require).
        target_recall: the recall@k each band reached on the held-out queries.
        measured: what the calibration measured (one dict per selectivity), recorded for reports.

    Raises:
        InvalidParameterError: no band, two bands at one selectivity, or an unknown index kind.
    """

    bands: tuple[FilterBand, ...]
    index_kind: str
    k: int = 10
    target_recall: float = 0.98
    measured: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        knob_of(self.index_kind)  # refuses an unknown kind
        bands = tuple(sorted(self.bands, key=lambda b: -b.min_selectivity))
        if not bands:
            raise InvalidParameterError("FilterPolicy needs at least one band.")
        sels = [b.min_selectivity for b in bands]
        if len(set(sels)) != len(sels):
            raise InvalidParameterError(f"FilterPolicy has two bands at one selectivity: {sels}.")
        object.__setattr__(self, "bands", bands)

    def choose(self, selectivity: float) -> FilterSetting:
        """The setting for a filter keeping ``selectivity`` of the stored documents.

        Args:
            selectivity: the fraction of documents the filter keeps, in [0, 1].

        Returns:
            The setting of the band with the largest ``min_selectivity <= selectivity``; an exact scan
                when ``selectivity`` is below every band.

        Raises:
            InvalidParameterError: a selectivity outside [0, 1] or NaN.
        """
        s = float(selectivity)
        if not (0.0 <= s <= 1.0):
            raise InvalidParameterError(f"selectivity={selectivity!r} must be in [0, 1].")
        for band in self.bands:
            if s >= band.min_selectivity:
                return band.setting
        return FilterSetting(exact=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (:meth:`from_dict` reads it back).

        Returns:
            ``{"bands": [...], "index_kind", "k", "target_recall", "measured"}``.
        """
        return {"bands": [asdict(b) for b in self.bands], "index_kind": self.index_kind, "k": self.k,
                "target_recall": self.target_recall, "measured": [dict(m) for m in self.measured]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FilterPolicy:
        """Read :meth:`to_dict`'s dict.

        Args:
            data: the dict.

        Returns:
            The policy.

        Raises:
            InvalidParameterError: a missing or malformed entry, named.
        """
        try:
            bands = tuple(FilterBand(float(b["min_selectivity"]), FilterSetting(**b["setting"])) for b in data["bands"])
            return cls(bands, str(data["index_kind"]), int(data.get("k", 10)), float(data.get("target_recall", 0.98)),
                       tuple(data.get("measured", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(f"not a FilterPolicy dict: {exc!r}") from exc

    def to_json(self, path: str | Path) -> Path:
        """Save as JSON.

        Args:
            path: the file to write.

        Returns:
            The path written.
        """
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=1))
        return p

    @classmethod
    def from_json(cls, path: str | Path) -> FilterPolicy:
        """Load a policy saved by :meth:`to_json`.

        Args:
            path: the JSON file.

        Returns:
            The policy.

        Raises:
            InvalidParameterError: the file does not hold a policy.
            FileNotFoundError: no such file.
        """
        return cls.from_dict(json.loads(Path(path).read_text()))


def filtered_recall(rows: np.ndarray, truth: np.ndarray) -> float:
    """Mean recall of ``rows`` against the exact ``truth`` (per query: shared rows / truth rows).

    Args:
        rows: (m, k) int64 rows found, ``-1`` = padding.
        truth: (m, k) int64 exact rows, ``-1`` = padding (fewer than ``k`` documents qualify).

    Returns:
        The mean over queries with at least one true row (1.0 when none has any).
    """
    vals = []
    for got, want in zip(np.asarray(rows).tolist(), np.asarray(truth).tolist()):
        want_set = {r for r in want if r >= 0}
        if want_set:
            vals.append(len(want_set & {r for r in got if r >= 0}) / len(want_set))
    return float(np.mean(vals)) if vals else 1.0


def _per_query(store: Any, q: np.ndarray, k: int, flt: Any, repeats: int, **knobs: Any) -> tuple[float, np.ndarray]:
    """One ``search_rows`` call per query (the online path a policy serves) -> (best mean seconds per
    query over ``repeats``, (m, k) rows)."""
    best, rows = float("inf"), np.empty((0, k), dtype=np.int64)
    for _ in range(repeats):
        out = []
        t = time.perf_counter()
        for i in range(len(q)):
            out.append(store.search_rows(q[i : i + 1], k, filter=flt, **knobs)[1])
        best = min(best, (time.perf_counter() - t) / len(q))
        rows = np.concatenate(out)
    return best, rows


def calibrate_filter_policy(
    store: Any,
    queries: np.ndarray,
    filters: Sequence[Any],
    *,
    k: int = 10,
    target_recall: float = 0.98,
    grid: Sequence[int] | None = None,
    repeats: int = 1,
) -> FilterPolicy:
    """Choose a :class:`FilterSetting` per filter selectivity from a target recall on held-out queries.

    For each filter: its selectivity (:meth:`~.base.EmbStore.filter_count` / ``count()``), the exact
    filtered top-``k`` of every query (one batched ``search_rows(exact=True)``), then the index knob of the
    store's kind (``ef_search`` for HNSW, ``nprobe`` for IVF) over ``grid`` in ascending order until
    recall@k reaches ``target_recall`` with ``min(k, allowed)`` results for every query (each setting
    timed one ``search_rows`` call per query, the online path); the band gets that knob when it is faster
    than :data:`EXACT_MARGIN` x the exact scan (timed on :data:`EXACT_TIMING_QUERIES` queries), else the
    exact scan (also when no knob of ``grid`` reaches the target). A flat index is exact already: every
    band is the index as it is.

    Args:
        store: an :class:`~.base.EmbStore` holding the documents (its filters are applied as given).
        queries: (m, dim) float32 held-out queries (not the ones a benchmark reports).
        filters: one filter (LangChain dict, redisvl expression or tree) per selectivity to calibrate;
            their selectivities must differ.
        k: results per query.
        target_recall: the recall@k each band must reach, in (0, 1].
        grid: knob values to try, ascending (default: 16 .. 4096 doubling for ``ef_search``, 1 .. 4096
            doubling for ``nprobe``; values above the index's ``nlist`` act as ``nlist``).
        repeats: timing repeats per setting (best kept); each times one ``search_rows`` call per query.

    Returns:
        The :class:`FilterPolicy` (what was measured in ``measured``).

    Raises:
        InvalidParameterError: no filters, an empty store, a filter matching nothing, two filters of
            one selectivity, or a target outside (0, 1].
    """
    if not filters:
        raise InvalidParameterError("calibrate_filter_policy needs at least one filter.")
    if not (0.0 < target_recall <= 1.0):
        raise InvalidParameterError(f"target_recall={target_recall!r} must be in (0, 1].")
    kind = store.field_index_kind()
    knob = knob_of(kind)
    n = store.count()
    if n == 0:
        raise InvalidParameterError("calibrate_filter_policy needs a store holding documents.")
    if grid is None:
        grid = [16 << i for i in range(9)] if knob == "ef_search" else [1 << i for i in range(13)]
    q = np.asarray(queries, dtype=np.float32)
    bands, measured = [], []
    for flt in filters:
        allowed = store.filter_count(flt)
        if allowed == 0:
            raise InvalidParameterError(f"filter {flt!r} matches no document: nothing to calibrate.")
        sel = allowed / n
        need = min(k, allowed)
        _, truth = store.search_rows(q, k, filter=flt, exact=True)  # the reference: one batched exact search
        row: dict[str, Any] = {"filter": repr(flt), "allowed": int(allowed), "selectivity": sel, "tried": []}
        setting = FilterSetting(exact=True)
        if knob is None:
            setting = FilterSetting()
        else:
            for v in grid:
                t, got = _per_query(store, q, k, flt, repeats, **{knob: int(v)})
                rec = filtered_recall(got, truth)
                full = bool(((got >= 0).sum(1) >= need).all())
                row["tried"].append({knob: int(v), "recall": round(rec, 4), "full": full, "ms_per_query": round(1000 * t, 4)})
                if rec >= target_recall and full:
                    exact_s, _ = _per_query(store, q[:EXACT_TIMING_QUERIES], k, flt, repeats, exact=True)
                    row["exact_ms_per_query"] = round(1000 * exact_s, 4)
                    if t < EXACT_MARGIN * exact_s:  # within the margin an exact scan is as fast, and always right
                        setting = FilterSetting(**{knob: int(v)})
                    break
        row["setting"] = asdict(setting)
        measured.append(row)
        bands.append(FilterBand(sel, setting))
    return FilterPolicy(tuple(bands), kind, int(k), float(target_recall), tuple(measured))
