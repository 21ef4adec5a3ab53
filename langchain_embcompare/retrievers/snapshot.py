"""Has the store changed since a retriever built its state? A cheap check on the store protocol only.

The cluster prefilter (labels per row) and the funnel (a shortlist per row) keep state tied to the
store's rows. Rows change when documents are added, deleted or replaced; a store may hand out new
rows (the tests' fake store) or compact them (FAISS: every row after a deleted one moves down), so
comparing ``all_rows()`` alone misses "one deleted, one added". :class:`RowsSnapshot` compares
``all_rows()`` and the ids at a fixed sample of rows (first, last and evenly spaced between: a
compaction shifts every row after the change, so the last one always moves).

Not caught: a document replaced in place that keeps both its row and its id (only its vector or text
changed) on a store that reuses rows; such a store should give the document a new row (the protocol
allows it) or expose a write counter.

Fast path: a store holding a :class:`~langchain_embcompare.stores.locking.ReadWriteLock` (the in-process
stores) counts its writes (``lock.revision``); while that count is the one seen at the last full check,
nothing was written and :meth:`RowsSnapshot.changed` answers ``False`` without reading the rows. The
full check reads every row handle (O(n) per call: ~0.1 ms at 100k rows on FAISS), which a funnel or
cluster search paid on every query.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from langchain_embcompare.stores.locking import ReadWriteLock

__all__ = ["RowsSnapshot", "store_revision"]


def store_revision(store: Any) -> int | None:
    """The store's write count when it keeps one (an in-process store's ``lock.revision``), else ``None``.

    Args:
        store: any store of the package.

    Returns:
        An int that changes with every finished write to the store, or ``None`` (the store cannot tell).
    """
    lock = getattr(store, "lock", None)
    return lock.revision if isinstance(lock, ReadWriteLock) else None


class RowsSnapshot:
    """``all_rows()`` and the document ids of up to ``sample`` of them, taken at build time.

    ``rows``/``ids`` may be passed when the caller has them already (``ids`` in the order of ``rows``).
    """

    def __init__(self, store: Any, rows: np.ndarray | None = None, ids: list[str] | None = None, sample: int = 16) -> None:
        # the write count, read BEFORE the rows (a write after it makes the next check a full one); rows
        # handed in were read earlier, at an unknown count: then the first check is a full one
        self.revision = store_revision(store) if rows is None else None
        self.rows = np.asarray(store.all_rows() if rows is None else rows, dtype=np.int64)
        self.pick = np.unique(np.linspace(0, len(self.rows) - 1, min(sample, len(self.rows))).astype(np.int64))
        if ids is not None:
            self.ids = [str(ids[i]) for i in self.pick.tolist()]
        else:
            self.ids = [str(d.id) for d in store.documents_at(self.rows[self.pick])] if len(self.pick) else []

    def changed(self, store: Any) -> bool:
        """True when the store's rows, or the documents at the sampled rows, differ from the snapshot.

        Args:
            store: the store the snapshot was taken of.

        Returns:
            Whether the rows or the sampled ids changed (``False`` at once when the store's write count
            is the one seen at the last full check).
        """
        revision = store_revision(store)
        if revision is not None and revision == self.revision:
            return False
        now = store.all_rows()
        if not np.array_equal(now, self.rows):
            return True
        if len(self.pick) and [str(d.id) for d in store.documents_at(self.rows[self.pick])] != self.ids:
            return True
        self.revision = revision  # unchanged as of this count (read before the check)
        return False
