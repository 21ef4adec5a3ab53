"""One tie order for every ranked list: trec_eval's.

trec_eval (and so pytrec_eval, BEIR and MTEB, which call it) sorts a query's retrieved documents by
score, highest first, and breaks ties by document id in *descending* byte order (``comp_sim_docno``
in trec_eval's ``form_res_rels.c``: ``strcmp(ptr2->docno, ptr1->docno)``). Every metric it computes
(nDCG, precision, recall, MAP, reciprocal rank) reads the run in that order, whatever order the run
was written in. Any top-k cut made before trec_eval sees the run must use the same order, or the
cut keeps other documents than trec_eval would rank first: two tied documents would give
``mrr@1 = 1`` next to ``P@1 = 0`` on one run.

Python compares ``str`` by code point, which for UTF-8 ids is the same as trec_eval's byte order.
This module has no dependency beyond numpy, so stores and retrievers can use it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["trec_order", "trec_top_k", "trec_top_k_indices"]


def trec_order(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(doc_id, score)`` pairs of one query in trec_eval's order: score descending, then doc id
    descending (code point order)."""
    return sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)


def trec_top_k(scores: Mapping[str, float], k: int) -> dict[str, float]:
    """The ``k`` documents trec_eval ranks first for one query, in its order (a dict keeps it)."""
    return dict(trec_order(scores)[: max(0, k)])


def trec_top_k_indices(scores: np.ndarray, ids: Sequence[str] | np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best entries of a score vector, in trec_eval's order.

    ``scores``: ``(n,)`` floats (higher = better); ``ids``: the ``n`` document ids (strings) that
    break ties, descending. Returns ``(min(k, n),)`` int64 positions into ``scores``. Cost: an
    ``argpartition`` (O(n)) to the candidates scoring at least the k-th best score (ties at the
    boundary all kept), then a sort of those only.
    """
    scores = np.asarray(scores)
    n = scores.shape[0]
    k = min(max(0, int(k)), n)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    ids = np.asarray(ids, dtype=str)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]  # the k-th largest score
        cand = np.flatnonzero(scores >= kth)
    else:
        cand = np.arange(n)
    order = np.lexsort((ids[cand], scores[cand]))[::-1]  # score desc, then id desc
    return cand[order[:k]].astype(np.int64)
