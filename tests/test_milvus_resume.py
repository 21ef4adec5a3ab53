"""An ingest interrupted by closing the client mid-way (a Milvus Lite file, and the session's Milvus server)
resumes with nothing lost or duplicated (a server restart mid-ingest: tests/test_milvus_server.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HashEmbeddings
from langchain_core.documents import Document
from milvus_fixtures import milvus_collection, milvus_server_uri, milvus_target, milvus_uri, record_encoded  # noqa: F401

from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore


def test_close_and_reopen_mid_ingest_then_resume(milvus_target, milvus_collection):  # noqa: F811
    milvus_uri = milvus_target  # the Lite file, then the server's URL
    emb = HashEmbeddings(16, name="milvus-resume-16")
    docs = [Document(page_content=f"passage {i}", metadata={"i": i}, id=f"p{i}") for i in range(50)]
    store = MilvusVectorStore(emb, MilvusIndexSpec(milvus_collection, batch_size=10), uri=milvus_uri, overwrite=True)
    method = "insert" if store.features.lite else "upsert"  # how a batch is written (milvus_write)
    real_write = getattr(store.client, method)
    calls = {"n": 0}

    def write_then_close_after_three(*args, **kwargs):
        calls["n"] += 1
        out = real_write(*args, **kwargs)
        if calls["n"] == 3:
            store.close()  # the file is closed while the ingest is still running
        return out

    setattr(store.client, method, write_then_close_after_three)
    with pytest.raises(Exception):  # noqa: B017 - whatever pymilvus raises on a closed client
        store.add_documents(docs)
    assert calls["n"] == 4  # the fourth batch met the closed client

    reopened = MilvusVectorStore.from_existing(milvus_collection, emb, milvus_uri)
    assert reopened.count() == 30  # the three batches written before the close survived it
    encoded = record_encoded(reopened)
    reopened.add_documents(docs, skip_existing=True)
    assert sorted(encoded) == sorted(f"passage {i}" for i in range(30, 50))  # only the missing 20 were embedded
    assert reopened.count() == 50
    rows = reopened.all_rows()
    assert len(rows) == 50 and len(np.unique(rows)) == 50
    got = reopened.get_by_ids([d.id for d in docs])
    assert [d.id for d in got] == [d.id for d in docs] and [d.metadata["i"] for d in got] == list(range(50))
    # a second resume writes nothing
    encoded.clear()
    reopened.add_documents(docs, skip_existing=True)
    assert encoded == [] and reopened.count() == 50
    # and vectors written with skip_existing skip present ids without touching them
    before = reopened.vectors_at(reopened.rows_of(["p0"]))
    reopened.upsert_vectors(np.ones((2, 16), np.float32), [docs[0], Document(page_content="new", id="p50")], skip_existing=True)
    np.testing.assert_array_equal(reopened.vectors_at(reopened.rows_of(["p0"])), before)
    assert reopened.count() == 51
