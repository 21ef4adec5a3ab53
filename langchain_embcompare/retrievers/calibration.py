"""Calibration: choose a retriever's speed knobs from a target recall, on held-out queries.

A funnel's shortlist length and its shortlist index's ``ef_search`` / ``nprobe``, or a cluster
prefilter's ``nprobe``, trade recall for speed, and the right value depends on the corpus (its size,
its structure, the model). Choosing them by hand is guesswork; this module measures instead: the exact
top-``k`` of a few hundred held-out queries (a full-dimension scan of the store's vectors, the
reference that ``recall@k`` is taken against, as in ANN benchmarks), then the recall each setting
reaches, then the cheapest setting that reaches the target. The result, a :class:`Calibration`, is
kept on the retriever and saved with it.

Held-out queries: the user's own queries (texts or vectors) are best; without them, a seeded sample of
the store's documents serves as queries, each one's own row excluded from its neighbours (the usual
protocol of ANN benchmarks when no query set exists). Document-as-query recall is usually a little
higher than real-query recall (real queries lie further from the documents); pass real queries when
you have them.

Pseudo-queries are easier than real ones. On SciFact with all-MiniLM-L6-v2 (300 real test claims,
``benchmarks/results/defaults_scifact.json``), the cluster ``nprobe`` that gives recall@10 0.98 on
inverse-cloze pseudo-queries gives 0.961 on the real queries, and on whole documents 0.953; the
``nprobe`` that gives 0.995 on pseudo-queries gives 0.982 on real ones. So when no queries are given,
the target is tightened by :func:`effective_target`: the miss rate ``1 - target`` is divided by
``PSEUDO_QUERY_MARGIN`` (4: 0.98 becomes 0.995). Given queries are taken at their word.

``recall@k`` here is the fraction of the exact top-``k`` rows a setting returns (ties at the ``k``-th
score make it slightly pessimistic), averaged over queries: the ANN-benchmarks definition.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.stores.base import EmbStore, normalize_rows
from langchain_embcompare.stores.ops import exact_scores

__all__ = ["PSEUDO_QUERY_MARGIN", "Calibration", "HeldOut", "cloze_queries", "effective_target", "exact_top_k", "held_out_queries", "prefix_recall", "recall_at_k", "time_per_query"]

PSEUDO_QUERY_MARGIN = 4.0  # miss-rate divisor for pseudo-queries (see the module docstring)
_CORPUS_CHUNK = 131_072  # rows scored at a time by the exact scan (bounds the (m, chunk) score matrix)


@dataclass
class Calibration:
    """What a calibration chose and measured (kept on the retriever, saved in its JSON).

    ``settings``: the chosen knobs (e.g. ``{"shortlist": 100, "ef_search": 128}``); ``recall``: the
    recall@``k`` they reached on the held-out queries (a fraction); ``effective_target``: the target
    applied to those queries (:func:`effective_target`); ``met``: whether ``recall`` >= it; ``ms_per_query``: their measured search time (milliseconds, the batch's wall time
    / queries, on the calibrating machine); ``queries``: ``"given"`` or ``"held-out documents"``;
    ``tried``: every setting measured, with its recall (and time when timed).
    """

    target_recall: float
    k: int
    effective_target: float
    n_queries: int
    queries: str
    settings: dict[str, Any]
    recall: float
    met: bool
    ms_per_query: float | None = None
    tried: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration | None:
        return None if data is None else cls(**data)


@dataclass
class HeldOut:
    """Held-out query vectors (m, d) float32 (normalised on cosine stores) and, for documents used as
    queries, each one's own row (excluded from its neighbours), else ``None``."""

    vectors: np.ndarray
    own_rows: np.ndarray | None
    kind: str | None = None

    @property
    def source(self) -> str:
        """``"given"``, ``"held-out documents"`` or ``"sentences of held-out documents (inverse cloze)"``."""
        if self.kind:
            return self.kind
        return "held-out documents" if self.own_rows is not None else "given"


def effective_target(target_recall: float, held: HeldOut, margin: float = PSEUDO_QUERY_MARGIN) -> float:
    """The recall a calibration must reach on ``held``: ``target_recall`` for given queries; for
    pseudo-queries ``1 - (1 - target_recall) / margin`` (they over-state recall; module docstring).
    Raises ``InvalidParameterError`` for a target outside (0, 1]."""
    if not 0 < target_recall <= 1:
        raise InvalidParameterError(f"target_recall={target_recall} must be a fraction in (0, 1], e.g. 0.98.")
    if held.source == "given":
        return float(target_recall)
    return float(1 - (1 - target_recall) / margin)


def held_out_queries(
    store: EmbStore, queries: Sequence[str] | np.ndarray | None, n_queries: int = 200, seed: int = 0
) -> HeldOut:
    """The queries a calibration measures with: ``queries`` as texts (embedded with the store's
    embeddings, query prompt) or (m, d) vectors, at most ``n_queries`` of them (a seeded sample); or,
    when ``None``, ``n_queries`` of the store's documents. Raises ``EmptyInputError`` for an empty store
    or an empty query list, ``InvalidParameterError`` for a non-positive ``n_queries``."""
    if n_queries <= 0:
        raise InvalidParameterError(f"n_queries={n_queries} must be positive (200 is typical).")
    rows = store.all_rows()
    if len(rows) == 0:
        raise EmptyInputError("The store holds no documents: add documents before calibrating.")
    rng = np.random.default_rng(seed)
    own = None
    if queries is None:
        pick = np.sort(rng.choice(len(rows), size=min(n_queries, len(rows)), replace=False))
        cloze = cloze_queries(store, rows[pick], rng)
        if cloze is not None:
            return cloze
        own = rows[pick]
        q = store.vectors_at(own)
    elif isinstance(queries, np.ndarray):
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
    else:
        texts = list(queries)
        if not texts:
            raise EmptyInputError("calibrate(queries=[]) got no queries: pass held-out queries, or None to use documents.")
        if len(texts) > n_queries:
            texts = [texts[i] for i in np.sort(rng.choice(len(texts), size=n_queries, replace=False))]
        q = store.embedding.encode_queries(texts)
    if len(q) == 0:
        raise EmptyInputError("calibrate got no query vectors.")
    if len(q) > n_queries and own is None:
        q = q[np.sort(rng.choice(len(q), size=n_queries, replace=False))]
    q = np.ascontiguousarray(q, dtype=np.float32)
    return HeldOut(normalize_rows(q) if store.metric == "cosine" else q, own)


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def cloze_queries(store: EmbStore, rows: np.ndarray, rng: np.random.Generator) -> HeldOut | None:
    """Inverse-cloze pseudo-queries (Lee et al., 2019, "Latent Retrieval for Weakly Supervised Open
    Domain QA"): one random sentence (>= 4 words; else a 12-word window) of each document at ``rows``,
    embedded as a QUERY with the store's embeddings. Short, query-like texts whose neighbours are as
    hard to find as real queries' (a whole stored document as the query finds its own cluster too
    easily: on SciFact it over-states cluster recall). ``None`` when the documents have no text or the
    store's embeddings cannot embed new texts (precomputed vectors): the caller then uses documents."""
    texts = []
    for doc in store.documents_at(rows):
        words = (doc.page_content or "").split()
        if len(words) < 4:
            return None
        sentences = [t for t in _SENTENCE.split(doc.page_content) if len(t.split()) >= 4]
        if sentences:
            texts.append(sentences[int(rng.integers(len(sentences)))])
        else:
            start = int(rng.integers(max(1, len(words) - 12)))
            texts.append(" ".join(words[start : start + 12]))
    try:
        q = store.embedding.encode_queries(texts)
    except Exception:  # noqa: BLE001  (precomputed tables know only their own texts)
        return None
    q = np.ascontiguousarray(q, dtype=np.float32)
    return HeldOut(normalize_rows(q) if store.metric == "cosine" else q, None, "sentences of held-out documents (inverse cloze)")


def exact_top_k(store: EmbStore, held: HeldOut, k: int) -> np.ndarray:
    """(m, k) int64 rows of each held-out query's exact top ``k`` over the store's full-dimension
    vectors (a scan in chunks of rows, on the store's metric), its own row excluded when it is a
    document; ``-1`` pads a store smaller than ``k``. The reference of :func:`recall_at_k`."""
    rows = store.all_rows()
    q = held.vectors
    m, kk = len(q), k + (held.own_rows is not None)
    best_s = np.full((m, 0), -np.inf, np.float32)
    best_r = np.full((m, 0), -1, np.int64)
    for start in range(0, len(rows), _CORPUS_CHUNK):
        r = rows[start : start + _CORPUS_CHUNK]
        s = exact_scores(q, store.vectors_at(r), store.metric)
        if held.own_rows is not None:
            s[r[None, :] == held.own_rows[:, None]] = -np.inf
        take = min(kk, s.shape[1])
        part = np.argpartition(-s, take - 1, axis=1)[:, :take]
        best_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
        best_r = np.concatenate([best_r, r[part]], 1)
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :kk]
        best_s, best_r = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_r, keep, 1)
    best_r = np.where(np.isfinite(best_s), best_r, -1)[:, :k]
    if best_r.shape[1] < k:
        best_r = np.pad(best_r, ((0, 0), (0, k - best_r.shape[1])), constant_values=-1)
    return best_r


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (rows; ``-1`` ignored), a fraction in [0, 1]."""
    hits, total = 0, 0
    for f, t in zip(found, truth):
        t = t[t >= 0]
        total += len(t)
        hits += len(np.intersect1d(f[f >= 0], t))
    return hits / total if total else 1.0


def prefix_recall(cand: np.ndarray, truth: np.ndarray, lengths: Sequence[int]) -> list[float]:
    """Recall@k reached by rescoring the first ``L`` candidates of each ranked shortlist, for each
    ``L`` in ``lengths``: rescoring at full dimension is exact, so the final top ``k`` holds a true
    neighbour exactly when the shortlist prefix does. ``cand`` (m, n) ranked rows (-1 = none), ``truth``
    (m, k) rows."""
    valid = truth >= 0
    total = int(valid.sum())
    if total == 0:
        return [1.0 for _ in lengths]
    n = cand.shape[1]
    # position of each true neighbour in its query's shortlist (n when absent)
    match = (cand[:, None, :] == truth[:, :, None]) & (cand[:, None, :] >= 0)
    pos = np.where(match.any(2), match.argmax(2), n)
    pos = np.where(valid, pos, n + 1)
    return [float((pos < min(L, n)).sum() / total) for L in lengths]


def time_per_query(fn: Callable[[], Any], m: int, repeats: int = 2) -> float:
    """Best-of-``repeats`` wall time of ``fn()`` (one batch of ``m`` queries) in ms per query."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1000 * best / max(1, m)
