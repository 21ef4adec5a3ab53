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
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RowsSnapshot"]


class RowsSnapshot:
    """``all_rows()`` and the document ids of up to ``sample`` of them, taken at build time.

    ``rows``/``ids`` may be passed when the caller has them already (``ids`` in the order of ``rows``).
    """

    def __init__(self, store: Any, rows: np.ndarray | None = None, ids: list[str] | None = None, sample: int = 16) -> None:
        self.rows = np.asarray(store.all_rows() if rows is None else rows, dtype=np.int64)
        self.pick = np.unique(np.linspace(0, len(self.rows) - 1, min(sample, len(self.rows))).astype(np.int64))
        if ids is not None:
            self.ids = [str(ids[i]) for i in self.pick.tolist()]
        else:
            self.ids = [str(d.id) for d in store.documents_at(self.rows[self.pick])] if len(self.pick) else []

    def changed(self, store: Any) -> bool:
        """True when the store's rows, or the documents at the sampled rows, differ from the snapshot."""
        now = store.all_rows()
        if not np.array_equal(now, self.rows):
            return True
        if not len(self.pick):
            return False
        return [str(d.id) for d in store.documents_at(self.rows[self.pick])] != self.ids
