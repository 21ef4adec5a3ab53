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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.stores.base import EmbStore, normalize_rows
from langchain_embcompare.stores.ops import knob_of
from langchain_embcompare.stores.ops import exact_scores

__all__ = ["MAX_SHORTLIST", "PSEUDO_QUERY_MARGIN", "Calibration", "HeldOut", "calibrate_clusters", "calibrate_funnel", "cloze_queries", "cloze_split", "effective_target", "exact_top_k", "held_out_queries", "prefix_recall", "recall_at_k", "time_per_query"]

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
CLOZE_MIN_WORDS = 4  # a sentence shorter than this is not a query
CLOZE_WINDOW = 12  # words taken as the query from a text without such a sentence


def cloze_split(text: str, rng: np.random.Generator, min_words: int = CLOZE_MIN_WORDS) -> tuple[str, str] | None:
    """One inverse-cloze pair from ``text`` (Lee et al., 2019): ``(query, rest)``.

    The query is one sentence of at least ``min_words`` words, drawn with ``rng`` (sentences end at
    ``.``, ``!`` or ``?`` followed by whitespace); ``rest`` is the text without it (the other sentences,
    joined by single spaces). A text without such a sentence gives a window of ``CLOZE_WINDOW`` words
    from a random start, ``rest`` being the words around it. ``None`` for a text of fewer than
    ``CLOZE_MIN_WORDS`` words. The one implementation of inverse cloze in the package: the calibration's
    pseudo-queries use the query only (documents stay whole), synthetic evaluation sets
    (:mod:`langchain_embcompare.evaluation.synthetic`) index ``rest``.

    Args:
        text: the document text.
        rng: numpy Generator; exactly one ``rng.integers`` call per text that has enough words.
        min_words: shortest sentence (in whitespace-separated words) that may become the query.
    Returns:
        ``(query, rest)`` strings, or None.
    """
    words = text.split()
    if len(words) < CLOZE_MIN_WORDS:
        return None
    pieces = _SENTENCE.split(text)
    long_enough = [i for i, t in enumerate(pieces) if len(t.split()) >= min_words]
    if long_enough:
        pick = long_enough[int(rng.integers(len(long_enough)))]
        return pieces[pick], " ".join(p for i, p in enumerate(pieces) if i != pick)
    start = int(rng.integers(max(1, len(words) - CLOZE_WINDOW)))
    return " ".join(words[start : start + CLOZE_WINDOW]), " ".join(words[:start] + words[start + CLOZE_WINDOW :])


def cloze_queries(store: EmbStore, rows: np.ndarray, rng: np.random.Generator) -> HeldOut | None:
    """Inverse-cloze pseudo-queries (Lee et al., 2019, "Latent Retrieval for Weakly Supervised Open
    Domain QA"): one random sentence (>= 4 words; else a 12-word window) of each document at ``rows``,
    embedded as a QUERY with the store's embeddings. Short, query-like texts whose neighbours are as
    hard to find as real queries' (a whole stored document as the query finds its own cluster too
    easily: on SciFact it over-states cluster recall). ``None`` when the documents have no text or the
    store's embeddings cannot embed new texts (precomputed vectors): the caller then uses documents."""
    texts = []
    for doc in store.documents_at(rows):
        split = cloze_split(doc.page_content or "", rng)
        if split is None:
            return None
        texts.append(split[0])
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


# --------------------------------------------------------------------------- the two retrievers' calibrations

MAX_SHORTLIST = 16_384  # the longest shortlist a funnel calibration tries (Milvus's top-k limit)


def calibrate_funnel(
    funnel: Any, queries: Sequence[str] | np.ndarray | None, *, target_recall: float, k: int | None, n_queries: int,
    shortlists: Sequence[int] | None, index_params: Sequence[int] | None, seed: int,
    index_kinds: Sequence[str] | None = None, max_bytes_per_vector: float | None = None,
) -> Calibration:
    """:meth:`MatryoshkaFunnelRetriever.calibrate` (its docstring), on ``funnel``."""
    if not 0 < target_recall <= 1:
        raise InvalidParameterError(f"target_recall={target_recall} must be a fraction in (0, 1], e.g. 0.98.")
    if max_bytes_per_vector is not None and max_bytes_per_vector <= 0:
        raise InvalidParameterError(f"max_bytes_per_vector={max_bytes_per_vector} must be positive (or None: no budget).")
    store = funnel.store
    kinds: list[str | None] = [None]
    if index_kinds is not None:
        if funnel.field is None or not hasattr(store, "set_field_index_kind"):
            raise InvalidParameterError(
                f"index_kinds={list(index_kinds)}: {type(store).__name__} cannot change the index kind of this funnel's "
                "shortlist (no vector field, or a store whose field index is fixed when it is built); calibrate without index_kinds."
            )
        can = tuple(store.field_index_kinds)
        bad = [kd for kd in index_kinds if kd not in can]
        if bad or not index_kinds:
            raise InvalidParameterError(f"index_kinds={list(index_kinds)}: {bad or 'none given'} not among the kinds {type(store).__name__} can build {can}.")
        kinds = list(dict.fromkeys(index_kinds))
    k = int(k or funnel.k)
    held = held_out_queries(store, queries, n_queries, seed)
    goal = effective_target(target_recall, held)
    q = funnel.query_matrix(held.vectors)
    rows = funnel.ensure_built()
    truth = exact_top_k(store, HeldOut(q, held.own_rows), k)
    n = len(rows)
    lengths = sorted({min(n, max(k, int(x))) for x in (shortlists or [k * f for f in (2, 3, 5, 10, 20, 50, 100)])})
    lengths = [L for L in lengths if L <= MAX_SHORTLIST] or [min(n, MAX_SHORTLIST)]
    own = held.own_rows
    tried: list[dict[str, Any]] = []
    candidates: list[tuple[str, int, int | None, float]] = []  # (kind, shortlist, knob value, recall)
    for wanted in kinds:
        if wanted is not None:
            funnel.shortlist_index_kind = wanted
            funnel.apply_index_kind()
        kind = funnel.index_kind_in_use
        knob = knob_of(kind)
        if max_bytes_per_vector is not None and hasattr(store, "field_index_bytes") and funnel.field is not None:
            per_vector = store.field_index_bytes(funnel.field) / max(1, n)
            if per_vector > max_bytes_per_vector:
                tried.append({"index_kind": kind, "index_bytes_per_vector": round(per_vector, 1), "skipped": "over max_bytes_per_vector"})
                continue
        params: list[int | None] = [None]
        if knob == "ef_search":
            params = list(index_params or [16, 32, 64, 128, 256, 512, 1024, 2048])
        elif knob == "nprobe":
            params = list(index_params or [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])
        for p in sorted(params, key=lambda v: -1 if v is None else v):
            usable = [L for L in lengths if knob != "ef_search" or L <= max(p or 0, k)] or [min(lengths)]
            n_short = max(usable) + (own is not None)
            cand = funnel.shortlist_rows(q, n_short, None, p if knob == "ef_search" else None, p if knob == "nprobe" else None, rows)
            if own is not None:  # a document finds itself first: drop it, as the truth does
                cand = np.where(cand == own[:, None], -2, cand)
                cand = np.take_along_axis(cand, np.argsort(cand == -2, axis=1, kind="stable"), 1)[:, : n_short - 1]
                cand = np.where(cand == -2, -1, cand)
            rec = prefix_recall(cand, truth, usable)
            for L, r in zip(usable, rec):
                tried.append({"index_kind": kind, "shortlist": L, **({knob: p} if knob else {}), "recall": round(r, 5)})
            ok = [L for L, r in zip(usable, rec) if r >= goal]
            if ok:
                candidates.append((kind, ok[0], p, rec[usable.index(ok[0])]))
                if ok[0] == min(lengths):
                    break  # a larger ef_search / nprobe only costs more
    met = bool(candidates)
    if not met:
        scored = [t for t in tried if "recall" in t]
        if not scored:
            raise InvalidParameterError(f"max_bytes_per_vector={max_bytes_per_vector}: every index kind tried is over the budget ({tried}).")
        best = max(scored, key=lambda t: (t["recall"], -t["shortlist"]))
        kb = knob_of(best["index_kind"])
        candidates = [(best["index_kind"], best["shortlist"], best.get(kb) if kb else None, best["recall"])]
    timed = []
    for kind, L, p, r in candidates:
        knob = knob_of(kind)
        if kinds != [None]:
            funnel.shortlist_index_kind = kind
            funnel.apply_index_kind()
        knobs = {"ef_search": p if knob == "ef_search" else None, "nprobe": p if knob == "nprobe" else None}
        ms = time_per_query(lambda: funnel.rescore_rows(q, funnel.shortlist_rows(q, L, None, knobs["ef_search"], knobs["nprobe"], rows), k), len(q))
        timed.append((ms, L, kind, p, r))
        for t in tried:
            if t.get("index_kind") == kind and t.get("shortlist") == L and (knob is None or t.get(knob) == p):
                t["ms_per_query"] = round(ms, 4)
    ms, L, kind, p, r = min(timed, key=lambda t: (t[0], t[1]))
    knob = knob_of(kind)
    if kinds != [None]:
        funnel.shortlist_index_kind = kind
        funnel.apply_index_kind()
    funnel.shortlist = max(L, funnel.k)
    funnel.shortlist_ef_search = p if knob == "ef_search" else None
    funnel.shortlist_nprobe = p if knob == "nprobe" else None
    settings = {"shortlist": funnel.shortlist, **({knob: p} if knob else {}), "index_kind": kind}
    if hasattr(store, "field_index_bytes") and funnel.field is not None:
        settings["index_bytes_per_vector"] = round(store.field_index_bytes(funnel.field) / max(1, n), 1)
    cal = Calibration(target_recall=target_recall, k=k, effective_target=round(goal, 6), n_queries=len(q), queries=held.source, settings=settings,
                      recall=round(r, 5), met=met, ms_per_query=round(ms, 4), tried=tried)
    funnel.calibration = cal.to_dict()
    if not met:
        warnings.warn(
            f"Funnel calibration: no setting tried reached recall@{k} {goal:.4f}; kept {settings} at recall "
            f"{r:.4f}. Try a larger shortlist_dim, larger shortlists= / index_params=, or a flat shortlist field.",
            UserWarning, stacklevel=3,
        )
    return cal


def calibrate_clusters(
    cluster: Any, queries: Sequence[str] | np.ndarray | None, *, target_recall: float, k: int | None, n_queries: int,
    mode: str, tails: Sequence[float], seed: int,
) -> Calibration:
    """:meth:`ClusterPrefilterRetriever.calibrate` (its docstring), on ``cluster``."""
    if mode not in ("auto", "fixed", "adaptive"):
        raise InvalidParameterError(f"mode={mode!r} is not supported; use 'auto', 'fixed' or 'adaptive'.")
    if not 0 < target_recall <= 1:
        raise InvalidParameterError(f"target_recall={target_recall} must be a fraction in (0, 1], e.g. 0.98.")
    cluster.nprobe, cluster.adaptive = cluster.nprobe or 1, False  # a fixed setting while measuring
    cluster.ensure_ready()
    k = int(k or cluster.k)
    model = cluster.cluster_model()
    held = held_out_queries(cluster.store, queries, n_queries, seed)
    goal = effective_target(target_recall, held)
    q = held.vectors
    truth = exact_top_k(cluster.store, held, k)
    kc = model.n_clusters
    extra = held.own_rows is not None

    def measure(settings: dict[str, Any]) -> float:
        cluster.nprobe, cluster.adaptive = settings["nprobe"], settings["adaptive"]
        cluster.tail = settings.get("tail", cluster.tail)
        cluster.max_clusters = None
        rows = cluster.search_rows(q, k=k + extra)[1]
        if extra:
            rows = np.where(rows == held.own_rows[:, None], -1, rows)
        return recall_at_k(rows, truth)

    tried: list[dict[str, Any]] = []
    chosen: list[tuple[dict[str, Any], float]] = []
    if mode in ("auto", "fixed"):
        valid = truth >= 0
        labels = cluster.labels_of(np.where(valid, truth, 0))
        order = np.argsort(-(q @ model.centroids.T), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(kc), order.shape).copy(), 1)
        need = np.sort(np.take_along_axis(rank, labels, 1)[valid] + 1)  # clusters to open per neighbour
        total = max(1, len(need))
        nprobe = int(need[max(0, int(np.ceil(goal * total)) - 1)]) if len(need) else 1
        for p in sorted({*[2 ** i for i in range(int(np.log2(kc)) + 1)], nprobe}):
            if p <= kc:
                tried.append({"nprobe": p, "adaptive": False, "predicted_recall": round(float((need <= p).sum() / total), 5)})
        fixed = {"nprobe": nprobe, "adaptive": False}
        rec = measure(fixed)
        while rec < goal and fixed["nprobe"] < kc:  # the store's own index is approximate: open more
            fixed["nprobe"] = min(kc, int(np.ceil(fixed["nprobe"] * 1.25)))
            rec = measure(fixed)
        chosen.append((fixed, rec))
    if mode in ("auto", "adaptive"):
        best: tuple[dict[str, Any], float] | None = None
        for tail in sorted(tails):
            setting = {"nprobe": 1, "adaptive": True, "tail": float(tail)}
            rec = measure(setting)
            tried.append({**setting, "recall": round(rec, 5)})
            best = (setting, rec) if best is None or rec > best[1] else best
            if rec >= goal:
                break
        assert best is not None
        chosen.append(best)
    timed = []
    for setting, rec in chosen:
        measure(setting)
        ms = time_per_query(lambda: cluster.search_rows(q, k=k), len(q))
        timed.append((rec < goal, ms, setting, rec))
        for t in tried:
            if all(t.get(key) == value for key, value in setting.items()):
                t.update(recall=round(rec, 5), ms_per_query=round(ms, 4))
    _, ms, setting, rec = min(timed, key=lambda t: (t[0], t[1]))  # reaching the goal first, then faster
    measure(setting)
    cluster.last_stats, cluster.stats_history = [], []
    cal = Calibration(target_recall=target_recall, k=k, effective_target=round(goal, 6), n_queries=len(q),
                      queries=held.source, settings={**setting, "n_clusters": kc}, recall=round(rec, 5),
                      met=rec >= goal, ms_per_query=round(ms, 4), tried=tried)
    cluster.calibration = cal.to_dict()
    if not cal.met:
        warnings.warn(
            f"Cluster calibration: the best setting {setting} reached recall@{k} {rec:.4f} < {goal:.4f} (the "
            "store's own index may be approximate: raise its ef_search / nprobe).", UserWarning, stacklevel=3,
        )
    return cal
