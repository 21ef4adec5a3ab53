"""ClusterBlocks (the contiguous-block cluster search an in-process store answers ``clusters=`` with)
against the fake store's exact scan: same rows, same scores, every metric, with a filter mask."""

from __future__ import annotations

import numpy as np
import pytest
from fake_store import FakeStore
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import evaluate_filter
from langchain_embcompare.retrievers.cluster_blocks import ClusterBlocks


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_blocks_match_exact_cluster_search(contract_embeddings, metric):
    rng = np.random.default_rng(0)
    v = rng.standard_normal((200, 16)).astype(np.float32)
    docs = [Document(page_content=str(i), id=str(i), metadata={"group": "even" if i % 2 == 0 else "odd"}) for i in range(200)]
    store = FakeStore(contract_embeddings, metric=metric)
    store.upsert_vectors(v, docs)
    rows = store.all_rows()
    labels = rng.integers(0, 7, len(rows))
    store.set_cluster_labels(rows, labels)
    blocks = ClusterBlocks(store.vectors_at(rows), labels, rows=rows, metric=metric)
    q = rng.standard_normal((5, 16)).astype(np.float32)
    qs = q / np.linalg.norm(q, axis=1, keepdims=True) if metric == "cosine" else q
    mask = evaluate_filter({"group": "odd"}, [d.metadata for d in store.documents_at(rows)])
    for clusters, filt, allowed in (([3], None, None), ([1, 5, 6], None, None), ([0, 2], {"group": "odd"}, mask)):
        want_s, want_r = store.search_rows(q, 12, clusters=clusters, filter=filt)
        got_s, got_r = blocks.search(qs, 12, clusters, allowed=allowed)
        assert got_r.tolist() == want_r.tolist()
        np.testing.assert_allclose(got_s, want_s, atol=1e-4)
    s, r = blocks.search(qs, 400, [4])  # fewer members than k: padding
    n4 = int((labels == 4).sum())
    assert (r[:, :n4] >= 0).all() and (r[:, n4:] == -1).all() and (s[:, n4:] == -np.inf).all()
    assert (blocks.search(qs, 3, [99])[1] == -1).all()  # a label nobody has
    assert set(blocks.rows_in([1, 2]).tolist()) == set(rows[np.isin(labels, [1, 2])].tolist())
    with pytest.raises(InvalidParameterError, match="one label per vector"):
        ClusterBlocks(v, labels[:-1])
