"""The three PRP ranking strategies as generators of comparison rounds.

Why generators: the same algorithm must run under a sync and an async driver, and comparisons that
do not depend on each other must go to the model together. Each algorithm yields a *round* (a list
of index pairs ``(i, j)``), receives one outcome per pair (+1: ``i`` more relevant, -1: ``j`` more
relevant, 0: tie or not judged) and finally returns ``(order, scores)``: document indices best
first and, where the method has them, scores in [0, 1]. Index order is the retriever's order, so
"lower index" means "ranked higher by the retriever"; every method falls back to it on ties.

Comparisons per query (each comparison costs two calls, one per order):
- ``allpairs``: n(n-1)/2, all in one round.
- ``sliding``: (n-1) per pass, k passes, one comparison per round (each depends on the last swap).
- ``sorting`` (heap sort, stopped after the top k): at most 2(n-1) + 2(k-1)·floor(log2 n);
  the heap is built level by level, all sift-downs of one level in the same round.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from math import floor, log2

Pair = tuple[int, int]
Round = Generator[list[Pair], list[int], tuple[list[int], list[float] | None]]
SubRound = Generator[list[Pair], list[int], None]


def allpairs(n: int) -> Round:
    """PRP-Allpair: score = wins + half the ties over every pair."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    outcomes = (yield pairs) if pairs else []
    wins = [0.0] * n
    for (i, j), outcome in zip(pairs, outcomes):
        if outcome > 0:
            wins[i] += 1.0
        elif outcome < 0:
            wins[j] += 1.0
        else:
            wins[i] += 0.5
            wins[j] += 0.5
    order = sorted(range(n), key=lambda i: (-wins[i], i))
    denom = max(n - 1, 1)
    return order, [wins[i] / denom for i in range(n)]


def sliding(n: int, k: int) -> Round:
    """PRP-Sliding-K: k bubble passes from the bottom up; a tie keeps the current order."""
    order = list(range(n))
    for _ in range(k):
        for pos in range(n - 2, -1, -1):
            (outcome,) = yield [(order[pos], order[pos + 1])]
            if outcome < 0:
                order[pos], order[pos + 1] = order[pos + 1], order[pos]
    return order, None


def _first_better(outcome: int, x: int, y: int) -> bool:
    """Judged outcome, ties broken by the retriever's order (a strict total order for sorting)."""
    return outcome > 0 or (outcome == 0 and x < y)


def _sift_down(heap: list[int], root: int, size: int) -> SubRound:
    while True:
        left = 2 * root + 1
        if left >= size:
            return
        child = left
        if left + 1 < size:
            (outcome,) = yield [(heap[left], heap[left + 1])]
            if not _first_better(outcome, heap[left], heap[left + 1]):
                child = left + 1
        (outcome,) = yield [(heap[root], heap[child])]
        if _first_better(outcome, heap[root], heap[child]):
            return
        heap[root], heap[child] = heap[child], heap[root]
        root = child


def _lockstep(subs: Sequence[SubRound]) -> Generator[list[Pair], list[int], None]:
    """Run independent sub-generators side by side: their requests share one round."""
    active: list[tuple[SubRound, list[Pair]]] = []
    for sub in subs:
        try:
            active.append((sub, next(sub)))
        except StopIteration:
            pass
    while active:
        outcomes = yield [pair for _, request in active for pair in request]
        still: list[tuple[SubRound, list[Pair]]] = []
        start = 0
        for sub, request in active:
            part = outcomes[start : start + len(request)]
            start += len(request)
            try:
                still.append((sub, sub.send(part)))
            except StopIteration:
                pass
        active = still


def sorting(n: int, k: int) -> Round:
    """PRP-Sorting: heap sort driven by pairwise comparisons, stopped once the top k are out."""
    heap = list(range(n))
    last_parent = n // 2 - 1
    if last_parent >= 0:
        for depth in range(floor(log2(last_parent + 1)), -1, -1):
            level = range(2**depth - 1, min(2 ** (depth + 1) - 1, last_parent + 1))
            yield from _lockstep([_sift_down(heap, node, n) for node in level])
    top: list[int] = []
    size = n
    while len(top) < k and size > 0:
        top.append(heap[0])
        size -= 1
        heap[0] = heap[size]
        if len(top) < k and size > 1:
            yield from _sift_down(heap, 0, size)
    rest = sorted(heap[:size])  # not ranked by the judge: keep the retriever's order
    return top + rest, None


def sorting_bound(n: int, k: int) -> int:
    """Most comparisons :func:`sorting` can make for n documents and top k (calls = 2x this)."""
    if n < 2:
        return 0
    return 2 * (n - 1) + 2 * max(min(k, n) - 1, 0) * floor(log2(n))


def expected_comparisons(method: str, n: int, k: int) -> int:
    """Comparisons made by ``allpairs`` and ``sliding`` (exact) or ``sorting`` (upper bound)."""
    if method == "allpairs":
        return n * (n - 1) // 2
    if method == "sliding":
        return max(n - 1, 0) * k
    return sorting_bound(n, k)
