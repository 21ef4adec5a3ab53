"""How far apart two retrievers' results are, without any labels.

Two runs (``dict[query_id, dict[doc_id, score]]``, higher score = better) are compared on the
queries they share (a query that only one run answers counts as total disagreement):

- ``overlap@k``: the share of the top-k documents both runs return;
- rank-biased overlap (Webber, Moffat & Zobel 2010, extrapolated RBO, eq. 32, uneven lists allowed):
  a top-weighted agreement in [0, 1] (1 = same ranking);
- rank correlation (Kendall's tau, Spearman's rho) of the two runs' scores on the documents both
  return in their top-k;
- how far apart the two score distributions are (Wasserstein-1 distance and the two-sample KS
  statistic over every returned score).

Order is read from the run's values (score descending, ties by document id descending, as trec_eval
orders them: :mod:`langchain_embcompare.ranking`); a run from
:func:`~langchain_embcompare.evaluation.metrics.retrieve_run` holds the retriever's returned order as
rank scores, so overlap, RBO and the rank correlations read that order. The score distributions read
the scores the returned documents carried (``RetrievedRun.returned_scores``) where the run has them,
else the run's values; a run of rank scores without them gets NaN distances (ranks are no score).

Every metric is averaged over queries. Runs are turned once into flat numpy arrays (query index,
document code, rank, score) so that overlaps at every depth for every query come from a single
``np.intersect1d`` + ``np.bincount``, not from Python loops over documents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import chain

import numpy as np
from scipy import stats

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError

Run = dict[str, dict[str, float]]

__all__ = [
    "PairAgreement",
    "AgreementMatrix",
    "overlap_at_k",
    "rank_biased_overlap",
    "rank_correlation",
    "score_distance",
    "pair_agreement",
    "agreement_matrix",
]


@dataclass(frozen=True)
class _Ranked:
    """A run flattened to arrays; row i is one (query, document) pair of the top ``depth``."""

    qidx: np.ndarray  # (n,) int64 query index into the shared query list
    code: np.ndarray  # (n,) int64 document code (shared vocabulary)
    rank: np.ndarray  # (n,) int64 0-based rank within its query
    score: np.ndarray  # (n,) float64
    length: np.ndarray  # (n_queries,) number of ranked documents per query
    dist: np.ndarray  # (m,) float64 the scores the documents carried (for score distributions), m <= n


def _check_depth(name: str, value: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{name}={value!r} must be a positive integer (e.g. {name}=10).")


def _check_p(p: float) -> None:
    if not 0.0 < p < 1.0:
        raise InvalidParameterError(
            f"p={p!r} is the RBO persistence and must lie strictly between 0 and 1 (e.g. p=0.9)."
        )


def _prepare(runs: list[Run], depth: int | None) -> tuple[list[str], list[_Ranked]]:
    """Flatten ``runs`` over the union of their query ids with one shared document vocabulary."""
    if not runs:
        raise EmptyInputError("No runs to compare: pass at least two runs.")
    qids = sorted(set(chain.from_iterable(r.keys() for r in runs)))
    if not qids:
        raise EmptyInputError("Every run is empty: retrieve results for at least one query first.")
    qpos = {q: i for i, q in enumerate(qids)}
    flat = []
    for run in runs:
        sizes = np.fromiter((len(run[q]) for q in run), dtype=np.int64, count=len(run))
        qidx = np.repeat(np.fromiter((qpos[q] for q in run), dtype=np.int64, count=len(run)), sizes)
        docs = list(chain.from_iterable(d.keys() for d in run.values()))
        scores = np.fromiter(chain.from_iterable(d.values() for d in run.values()), dtype=np.float64)
        own = getattr(run, "returned_scores", None)
        if own is not None:
            carried = np.fromiter(
                chain.from_iterable((own.get(q, {}).get(d, np.nan) for d in run[q]) for q in run), dtype=np.float64, count=len(docs)
            )
        elif getattr(run, "depth", None) is not None:  # a RetrievedRun without carried scores: ranks only
            carried = np.full(len(docs), np.nan)
        else:
            carried = scores
        flat.append((qidx, docs, scores, carried))
    all_docs = np.asarray(list(chain.from_iterable(f[1] for f in flat)), dtype=str)
    if all_docs.size:
        _, codes_all = np.unique(all_docs, return_inverse=True)
    else:
        codes_all = np.zeros(0, dtype=np.int64)
    ranked, start = [], 0
    for qidx, docs, scores, carried in flat:
        codes = codes_all[start : start + len(docs)].astype(np.int64)
        start += len(docs)
        if not np.all(np.isfinite(scores)):
            raise InvalidParameterError("A run holds a NaN or infinite score: fix the retriever's scores first.")
        # Sort by query, then score descending, ties by document id descending (trec_eval's order;
        # codes follow the ids' sorted order).
        order = np.lexsort((-codes, -scores, qidx))
        qidx, codes, scores, carried = qidx[order], codes[order], scores[order], carried[order]
        counts = np.bincount(qidx, minlength=len(qids))
        first = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(qidx.size, dtype=np.int64) - first[qidx]
        keep = rank < depth if depth is not None else np.ones(rank.size, dtype=bool)
        length = np.minimum(counts, depth) if depth is not None else counts
        dist = carried[keep]
        ranked.append(_Ranked(qidx[keep], codes[keep], rank[keep], scores[keep], length.astype(np.int64), dist[np.isfinite(dist)]))
    return qids, ranked


Common = tuple[np.ndarray, np.ndarray, np.ndarray]


def _common(a: _Ranked, b: _Ranked) -> Common:
    """Rows of ``a`` and ``b`` that hold the same (query, document) pair: (query index, rows in a, rows in b)."""
    n_codes = int(max(a.code.max(initial=-1), b.code.max(initial=-1))) + 1
    key_a = a.qidx * n_codes + a.code
    key_b = b.qidx * n_codes + b.code
    _, ia, ib = np.intersect1d(key_a, key_b, assume_unique=True, return_indices=True)
    return a.qidx[ia], ia, ib


def _overlap_curve(a: _Ranked, b: _Ranked, n_queries: int, depth: int, common: Common | None = None) -> np.ndarray:
    """``X[q, d-1]`` = number of documents in both top-d lists of query q, for d = 1..depth."""
    q, ia, ib = common if common is not None else _common(a, b)
    deepest = np.maximum(a.rank[ia], b.rank[ib])  # 0-based depth at which the doc is in both
    keep = deepest < depth
    hist = np.bincount(q[keep] * depth + deepest[keep], minlength=n_queries * depth)
    return np.cumsum(hist.reshape(n_queries, depth), axis=1)


def _per_query_overlap(a: _Ranked, b: _Ranked, n_queries: int, k: int, common: Common | None = None) -> np.ndarray:
    q, ia, ib = common if common is not None else _common(a, b)
    both = np.bincount(q[(a.rank[ia] < k) & (b.rank[ib] < k)], minlength=n_queries)
    denom = np.minimum(k, np.maximum(a.length, b.length))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = both / denom
    return np.where(denom == 0, 1.0, out)  # two empty lists agree


def _per_query_rbo(a: _Ranked, b: _Ranked, n_queries: int, p: float, common: Common | None = None) -> np.ndarray:
    """Extrapolated RBO (Webber et al. 2010, eq. 32) for every query at once."""
    s = np.minimum(a.length, b.length)
    l = np.maximum(a.length, b.length)  # noqa: E741 - the paper's name
    depth = int(max(l.max(initial=0), 1))
    x = _overlap_curve(a, b, n_queries, depth, common).astype(np.float64)  # X_d, d = 1..depth
    d = np.arange(1, depth + 1, dtype=np.float64)
    w = p**d
    within_l = d[None, :] <= l[:, None]
    beyond_s = within_l & (d[None, :] > s[:, None])
    rows = np.arange(n_queries)
    safe_s = np.maximum(s, 1)
    x_s = np.where(s > 0, x[rows, safe_s - 1], 0.0)
    x_l = np.where(l > 0, x[rows, np.maximum(l, 1) - 1], 0.0)
    term1 = np.sum(np.where(within_l, x / d * w, 0.0), axis=1)
    term2 = np.sum(
        np.where(beyond_s, x_s[:, None] * (d - s[:, None]) / (safe_s[:, None] * d) * w, 0.0), axis=1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ext = ((x_l - x_s) / np.maximum(l, 1) + x_s / safe_s) * p ** l.astype(np.float64)
    rbo = (1.0 - p) / p * (term1 + term2) + ext
    rbo = np.where(s == 0, 0.0, rbo)
    rbo = np.where(l == 0, 1.0, rbo)  # both lists empty: identical
    return np.clip(rbo, 0.0, 1.0)


def _signs(x: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """int8 matrix sign(x_i - x_j) per row, zero outside valid pairs."""
    out = (x[:, :, None] > x[:, None, :]).astype(np.int8)
    out -= x[:, :, None] < x[:, None, :]
    out *= pair
    return out


def _per_query_correlation(a: _Ranked, b: _Ranked, n_queries: int, k: int, common: Common | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kendall tau-b and Spearman rho of the two runs' scores on documents both put in their top-k.

    All queries at once: the shared documents of each query are padded into a (queries, m) matrix,
    and both coefficients come from the pairwise sign matrices (tau-b = sum sA*sB / sqrt(sum|sA| sum|sB|);
    Spearman = Pearson of average ranks), the definitions ``scipy.stats.kendalltau``/``spearmanr`` use.
    Queries with fewer than three shared documents, or constant scores, get NaN.
    """
    q, ia, ib = common if common is not None else _common(a, b)
    keep = (a.rank[ia] < k) & (b.rank[ib] < k)
    q, sa, sb = q[keep], a.score[ia][keep], b.score[ib][keep]
    tau = np.full(n_queries, np.nan)
    rho = np.full(n_queries, np.nan)
    if q.size == 0:
        return tau, rho
    order = np.argsort(q, kind="stable")
    q, sa, sb = q[order], sa[order], sb[order]
    counts = np.bincount(q, minlength=n_queries)
    col = np.arange(q.size) - np.concatenate(([0], np.cumsum(counts)[:-1]))[q]
    rows = np.flatnonzero(counts >= 3)
    if rows.size == 0:
        return tau, rho
    m = int(counts.max())
    chunk = max(1, int(4_000_000 // (m * m)))  # bound the (chunk, m, m) temporaries to ~32 MB each
    row_of = np.full(n_queries, -1)
    row_of[rows] = np.arange(rows.size)
    sel = row_of[q] >= 0
    pa = np.zeros((rows.size, m))
    pb = np.zeros((rows.size, m))
    valid = np.zeros((rows.size, m), dtype=bool)
    pa[row_of[q[sel]], col[sel]] = sa[sel]
    pb[row_of[q[sel]], col[sel]] = sb[sel]
    valid[row_of[q[sel]], col[sel]] = True
    for lo in range(0, rows.size, chunk):
        xa, xb, v = pa[lo : lo + chunk], pb[lo : lo + chunk], valid[lo : lo + chunk]
        pair = v[:, :, None] & v[:, None, :]
        da = _signs(xa, pair)
        db = _signs(xb, pair)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (da * db).sum(axis=(1, 2), dtype=np.int64) / np.sqrt(
                np.abs(da).sum(axis=(1, 2), dtype=np.int64) * np.abs(db).sum(axis=(1, 2), dtype=np.int64)
            )
            n = v.sum(axis=1)
            # average rank (1-based) = 1 + #smaller + (#equal - 1) / 2, i.e. scipy's rankdata("average")
            ra = 1 + ((da > 0).sum(axis=2) + ((da == 0) & pair).sum(axis=2) / 2 - 0.5)
            rb = 1 + ((db > 0).sum(axis=2) + ((db == 0) & pair).sum(axis=2) / 2 - 0.5)
            ma = (ra * v).sum(axis=1) / n
            mb = (rb * v).sum(axis=1) / n
            ca, cb = (ra - ma[:, None]) * v, (rb - mb[:, None]) * v
            r = (ca * cb).sum(axis=1) / np.sqrt((ca * ca).sum(axis=1) * (cb * cb).sum(axis=1))
        tau[rows[lo : lo + chunk]] = t
        rho[rows[lo : lo + chunk]] = r
    return tau, rho


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.any(~np.isnan(x)) else float("nan")


def overlap_at_k(run_a: Run, run_b: Run, k: int = 10) -> float:
    """Mean over queries of |top-k(a) ∩ top-k(b)| / k (k shrinks to the longer list when both are shorter)."""
    _check_depth("k", k)
    qids, (a, b) = _prepare([run_a, run_b], k)
    return float(np.mean(_per_query_overlap(a, b, len(qids), k)))


def rank_biased_overlap(run_a: Run, run_b: Run, p: float = 0.9, depth: int | None = None) -> float:
    """Mean extrapolated RBO over queries; ``p`` = persistence (0.9 puts 86% of the weight on the top 10)."""
    _check_p(p)
    if depth is not None:
        _check_depth("depth", depth)
    qids, (a, b) = _prepare([run_a, run_b], depth)
    return float(np.mean(_per_query_rbo(a, b, len(qids), p)))


def rank_correlation(run_a: Run, run_b: Run, k: int = 100, method: str = "kendall") -> float:
    """Mean per-query Kendall tau (or Spearman rho) of scores on the documents both runs return in top-k.

    Queries with fewer than three shared documents are left out (NaN when none is left).
    """
    _check_depth("k", k)
    if method not in ("kendall", "spearman"):
        raise InvalidParameterError(f"method={method!r}: use 'kendall' or 'spearman'.")
    qids, (a, b) = _prepare([run_a, run_b], k)
    tau, rho = _per_query_correlation(a, b, len(qids), k)
    return _nanmean(tau if method == "kendall" else rho)


def score_distance(run_a: Run, run_b: Run, k: int | None = None) -> dict[str, float]:
    """Wasserstein-1 distance and KS statistic between all top-k scores of ``a`` and of ``b`` (the
    scores the documents carried, for runs from ``retrieve_run``; NaN when a side has none)."""
    qids, (a, b) = _prepare([run_a, run_b], k)
    if a.dist.size == 0 or b.dist.size == 0:
        return {"wasserstein": float("nan"), "ks": float("nan")}
    return {
        "wasserstein": float(stats.wasserstein_distance(a.dist, b.dist)),
        "ks": float(stats.ks_2samp(a.dist, b.dist, method="asymp").statistic),
    }


@dataclass(frozen=True)
class PairAgreement:
    """Every agreement number for one pair of runs."""

    overlap: float
    rbo: float
    kendall: float
    spearman: float
    wasserstein: float
    ks: float
    n_queries: int

    def to_dict(self) -> dict[str, float]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _pair(a: _Ranked, b: _Ranked, n: int, k: int, p: float, depth: int | None) -> PairAgreement:
    corr_k = depth if depth is not None else int(max(a.length.max(initial=1), b.length.max(initial=1)))
    sa, sb = a.dist, b.dist
    has = sa.size > 0 and sb.size > 0
    common = _common(a, b)
    tau, rho = _per_query_correlation(a, b, n, corr_k, common)
    return PairAgreement(
        overlap=float(np.mean(_per_query_overlap(a, b, n, k, common))),
        rbo=float(np.mean(_per_query_rbo(a, b, n, p, common))),
        kendall=_nanmean(tau),
        spearman=_nanmean(rho),
        wasserstein=float(stats.wasserstein_distance(sa, sb)) if has else float("nan"),
        ks=float(stats.ks_2samp(sa, sb, method="asymp").statistic) if has else float("nan"),
        n_queries=n,
    )


def pair_agreement(
    run_a: Run, run_b: Run, k: int = 10, p: float = 0.9, depth: int | None = None
) -> PairAgreement:
    """All agreement metrics for one pair: overlap@k, RBO(p) and correlations over ``depth``."""
    _check_depth("k", k)
    _check_p(p)
    if depth is not None:
        _check_depth("depth", depth)
    qids, (a, b) = _prepare([run_a, run_b], depth)
    return _pair(a, b, len(qids), k, p, depth)


@dataclass
class AgreementMatrix:
    """Pairwise agreement of N named runs; ``matrix(metric)`` gives an N×N array for a heatmap."""

    names: list[str]
    pairs: dict[tuple[str, str], PairAgreement]
    k: int
    p: float

    METRICS = ("overlap", "rbo", "kendall", "spearman", "wasserstein", "ks")

    def matrix(self, metric: str) -> np.ndarray:
        if metric not in self.METRICS:
            raise InvalidParameterError(f"Unknown agreement metric {metric!r}: use one of {self.METRICS}.")
        n = len(self.names)
        same = {"overlap": 1.0, "rbo": 1.0, "kendall": 1.0, "spearman": 1.0, "wasserstein": 0.0, "ks": 0.0}
        out = np.full((n, n), same[metric], dtype=np.float64)
        for (x, y), pa in self.pairs.items():
            i, j = self.names.index(x), self.names.index(y)
            out[i, j] = out[j, i] = getattr(pa, metric)
        return out

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "k": self.k,
            "p": self.p,
            "metrics": {
                m: [[None if math.isnan(v) else round(float(v), 6) for v in row] for row in self.matrix(m)]
                for m in self.METRICS
            },
        }


def agreement_matrix(
    runs: dict[str, Run], k: int = 10, p: float = 0.9, depth: int | None = None
) -> AgreementMatrix:
    """Agreement between every pair of ``runs`` (flattened once, one shared document vocabulary)."""
    _check_depth("k", k)
    _check_p(p)
    if depth is not None:
        _check_depth("depth", depth)
    names = list(runs)
    qids, ranked = _prepare([runs[n] for n in names], depth)
    pairs = {
        (names[i], names[j]): _pair(ranked[i], ranked[j], len(qids), k, p, depth)
        for i in range(len(names))
        for j in range(i + 1, len(names))
    }
    return AgreementMatrix(names=names, pairs=pairs, k=k, p=p)
