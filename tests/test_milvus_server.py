"""The Milvus store on a real Milvus server (2.3.5 standalone, tests/milvus_fixtures.py) and Milvus's own
full text (BM25 function) on Milvus Lite.

* The server runs in its own network namespace: only the forwarded port is reachable, on 127.0.0.1,
  and stopping it leaves no process behind.
* Features 2.3.5 lacks are detected from the reported version and adapted to (STL_SORT row index, JSON
  filters instead of nullable typed columns, whole-entity upserts) or refused naming the version needed
  (extra vector fields: 2.4, BM25: 2.5), and the lexical arm falls back to bm25s over the stored documents.
* A server restart in the middle of an ingest: resuming loses and duplicates nothing.
* BM25 on Milvus Lite: scores equal the formula computed by hand; blank queries return nothing.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import HashEmbeddings
from langchain_core.documents import Document
from milvus_fixtures import (  # noqa: F401
    milvus_collection,
    milvus_server,
    milvus_server_module,
    milvus_server_uri,
    milvus_uri,
    record_encoded,
)

from langchain_embcompare.errors import MissingCapabilityError
from langchain_embcompare.retrievers.lexical import BM25Retriever, StoreFullTextRetriever, lexical_retriever_for
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore
from langchain_embcompare.stores.milvus_version import MilvusFeatures

pytestmark = pytest.mark.integration


def _listeners(port: int) -> list[str]:
    """Local addresses (hex, /proc/net/tcp*) in LISTEN state on ``port`` in this network namespace."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":
                out.append(addr)
    return out


def test_version_parsing():
    server = MilvusFeatures.from_version("v2.3.5-lite")  # what the PyPI `milvus` server reports: a server
    assert not server.lite and server.release == (2, 3, 5)
    assert not server.has("inverted_index") and not server.has("bm25") and not server.has("partial_update")
    lite = MilvusFeatures.from_version("milvus_lite-3.2.2")
    assert lite.lite and all(lite.has(f) for f in ("inverted_index", "nullable", "bm25", "partial_update", "multi_vector"))
    assert MilvusFeatures.from_version("v2.5.4").has("bm25") and not MilvusFeatures.from_version("v2.5.4").has("partial_update")
    with pytest.raises(MissingCapabilityError, match=r"needs Milvus >= 2\.5.*v2\.3\.5-lite"):
        server.require("bm25", "Full-text search")


def test_server_is_loopback_only_in_its_own_namespace(milvus_server):  # noqa: F811
    import json

    info = json.loads((Path(milvus_server.data_dir) / "supervisor.json").read_text())
    assert _listeners(milvus_server.port) == ["0100007F"]  # 127.0.0.1, nothing else
    milvus_ns = os.readlink(f"/proc/{info['milvus_pid']}/ns/net")
    assert milvus_ns != os.readlink("/proc/self/ns/net")  # its ten ports are not on this machine's network


def test_stop_leaves_no_process(tmp_path):
    import json

    mod = milvus_server_module()
    srv = mod.MilvusStandalone(data_dir=tmp_path / "m").start()
    info = json.loads((tmp_path / "m" / "supervisor.json").read_text())
    assert Path(f"/proc/{info['milvus_pid']}").exists()
    srv.stop()
    for pid in (info["milvus_pid"], info["supervisor_pid"]):
        alive = Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
        assert not alive, f"process {pid} outlived stop()"
    assert _listeners(srv.port) == []


def test_server_features_detected_and_adapted(milvus_server_uri, milvus_collection):  # noqa: F811
    emb = HashEmbeddings(8, name="milvus-server-8")
    spec = MilvusIndexSpec(milvus_collection, kind="hnsw", metadata_schema={"year": "numeric", "city": "tag"})
    store = MilvusVectorStore(emb, spec, uri=milvus_server_uri, overwrite=True)
    try:
        assert store.features.release == (2, 3, 5)
        assert store.client.describe_index(store.name, "row")["index_type"] == "STL_SORT"  # no INVERTED before 2.4
        assert store.typed_columns == {}  # no nullable columns before 2.5: filters read the JSON fields
        assert {"vector_fields", "full_text"} & set(store.capabilities) == set()
        docs = [Document(page_content=f"word{i} shared", metadata={"year": 2000 + i, "city": "Paris" if i % 2 else "Rome"},
                         id=f"d{i}") for i in range(6)]
        store.add_documents(docs)
        hits = store.similarity_search("word1", k=6, filter={"$and": [{"city": "paris"}, {"year": {"$gte": 2003}}]})
        assert {d.id for d in hits} == {"d3", "d5"}
        store.flush()  # seal, wait for the HNSW build, reload: the same answers through the built index
        assert store.similarity_search("word2 shared", k=1)[0].id == store.similarity_search("word2 shared", k=6)[0].id
        assert {d.id for d in store.similarity_search("x", k=6, filter={"city": "rome"})} == {"d0", "d2", "d4"}
        rows = store.all_rows()
        store.set_cluster_labels(rows, np.arange(len(rows)) % 2)  # whole-entity upsert (no partial upsert before 2.6)
        assert store.cluster_labels(rows).tolist() == (np.arange(len(rows)) % 2).tolist()
        assert store.count() == 6 and [d.metadata["year"] for d in store.get_by_ids(["d0", "d5"])] == [2000, 2005]
        with pytest.raises(MissingCapabilityError, match=r"Milvus >= 2\.5"):
            store.full_text_search(["word1"], k=3)
        lexical = lexical_retriever_for(store, k=3)  # no BM25 on the server: bm25s over the stored documents
        assert isinstance(lexical, BM25Retriever) and len(lexical.documents) == 6
        assert lexical.invoke("word4")[0].id == "d4"
    finally:
        store.drop()
    with pytest.raises(MissingCapabilityError, match=r"Milvus >= 2\.4"):
        MilvusVectorStore(emb, MilvusIndexSpec(f"{milvus_collection}_x", extra_vector_fields={"small": 4}), uri=milvus_server_uri)
    with pytest.raises(MissingCapabilityError, match=r"Milvus >= 2\.5"):
        MilvusVectorStore(emb, MilvusIndexSpec(f"{milvus_collection}_y", full_text=True), uri=milvus_server_uri)


def test_server_restart_mid_ingest_then_resume(milvus_server, milvus_collection):  # noqa: F811
    emb = HashEmbeddings(16, name="milvus-server-resume-16")
    docs = [Document(page_content=f"passage {i}", metadata={"i": i}, id=f"p{i}") for i in range(50)]
    store = MilvusVectorStore(emb, MilvusIndexSpec(milvus_collection, batch_size=10), uri=milvus_server.url, overwrite=True)
    real_upsert = store.client.upsert  # a server's batches go in by upsert (milvus_write)
    calls = {"n": 0}

    def write_then_restart_after_three(*args, **kwargs):
        calls["n"] += 1
        out = real_upsert(*args, **kwargs)
        if calls["n"] == 3:
            milvus_server.restart()  # the server goes down and comes back while the ingest is running
        return out

    store.client.upsert = write_then_restart_after_three
    try:
        store.add_documents(docs)
    except Exception:  # noqa: BLE001 - the client may or may not ride over the restart; both must resume
        pass
    store.close()
    assert calls["n"] >= 3
    reopened = MilvusVectorStore.from_existing(milvus_collection, emb, milvus_server.url)
    try:
        stored = {d.id for d in reopened.get_by_ids([d.id for d in docs])}
        assert {f"p{i}" for i in range(30)} <= stored  # the three batches acknowledged before the restart survived it
        encoded = record_encoded(reopened)
        reopened.add_documents(docs, skip_existing=True)
        assert sorted(encoded) == sorted(d.page_content for d in docs if d.id not in stored)  # only the missing ones
        assert reopened.count() == 50
        rows = reopened.all_rows()
        assert len(rows) == 50 and len(np.unique(rows)) == 50
        got = reopened.get_by_ids([d.id for d in docs])
        assert [d.id for d in got] == [d.id for d in docs] and [d.metadata["i"] for d in got] == list(range(50))
    finally:
        reopened.drop()


# ----------------------------------------------------------------------------- BM25 on Milvus Lite


def _bm25(query_terms: list[str], doc: list[str], corpus: list[list[str]], k1: float = 1.5, b: float = 0.75) -> float:
    """Milvus's BM25 (with the (k1 + 1) factor), by hand."""
    n, avgdl = len(corpus), sum(map(len, corpus)) / len(corpus)
    score = 0.0
    for t in query_terms:
        df = sum(t in d for d in corpus)
        tf = doc.count(t)
        if tf:
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return score


def test_milvus_bm25_on_lite_matches_the_formula(milvus_uri, milvus_collection):  # noqa: F811
    texts = ["graph neural networks", "neural search at scale", "protein folding", "search engines search fast", "zebra"]
    docs = [Document(page_content=t, id=f"d{i}") for i, t in enumerate(texts)]
    store = MilvusVectorStore(HashEmbeddings(8, name="milvus-bm25-8"), MilvusIndexSpec(milvus_collection), uri=milvus_uri,
                              overwrite=True)
    try:
        assert "full_text" in store.capabilities and store.full_text_settings()["k1"] == 1.5
        store.add_documents(docs)
        corpus = [t.split() for t in texts]
        hits = store.full_text_search(["neural search", "", "   ", "nothing matches"], k=10)
        assert hits[1] == [] and hits[2] == [] and hits[3] == []
        want = sorted(((i, _bm25(["neural", "search"], c, corpus)) for i, c in enumerate(corpus)), key=lambda x: -x[1])
        want = [(f"d{i}", s) for i, s in want if s > 0]
        assert [d.id for d, _ in hits[0]] == [i for i, _ in want]
        np.testing.assert_allclose([s for _, s in hits[0]], [s for _, s in want], rtol=1e-4)
        assert len(store.full_text_search(["neural search"], k=1)[0]) == 1
        lexical = lexical_retriever_for(store, k=2)  # the store's own engine, found by capability
        assert isinstance(lexical, StoreFullTextRetriever)
        assert [d.id for d in lexical.invoke("neural search")] == [i for i, _ in want][:2]
        assert lexical.invoke("neural search")[0].metadata["score"] == pytest.approx(want[0][1], rel=1e-4)
    finally:
        store.drop()
    off = MilvusVectorStore(HashEmbeddings(8, name="milvus-bm25-8"), MilvusIndexSpec(f"{milvus_collection}_off", full_text=False),
                            uri=milvus_uri, overwrite=True)
    try:
        off.add_documents(docs)
        assert "full_text" not in off.capabilities
        with pytest.raises(MissingCapabilityError, match="full_text"):
            off.full_text_search(["neural"], k=2)
        assert isinstance(lexical_retriever_for(off, k=2), BM25Retriever)
    finally:
        off.drop()
