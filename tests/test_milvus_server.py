"""The Milvus store on a real Milvus server (2.3.5 standalone, tests/milvus_fixtures.py) and Milvus's own
full text (BM25 function) on Milvus Lite.

* The server runs in its own network namespace: only the forwarded port is reachable, on 127.0.0.1,
  and stopping it leaves no process behind.
* Features 2.3.5 lacks are detected from the reported version and adapted to (STL_SORT row index, JSON
  filters instead of nullable typed columns, whole-entity upserts) or refused naming the version needed
  (extra vector fields: 2.4, BM25: 2.5), and the lexical arm falls back to bm25s over the stored documents.
* Server restarts in the middle of an ingest and of a query batch: the client retries with backoff and
  the ingest completes (nothing lost or duplicated), each query succeeds or raises a clear connection
  error; with retries off the ingest fails clearly and resuming loses and duplicates nothing.
* BM25 on Milvus Lite: scores equal the formula computed by hand; blank queries return nothing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
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

from langchain_embcompare.errors import MissingCapabilityError, StoreConnectionError, StoreTimeoutError, StoreUnreachableError
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
    info = json.loads((Path(milvus_server.data_dir) / "supervisor.json").read_text())
    assert _listeners(milvus_server.port) == ["0100007F"]  # 127.0.0.1, nothing else
    milvus_ns = os.readlink(f"/proc/{info['milvus_pid']}/ns/net")
    assert milvus_ns != os.readlink("/proc/self/ns/net")  # its ten ports are not on this machine's network


def _assert_stopped(info: dict, port: int) -> None:
    """The supervisor and Milvus of ``info`` (its supervisor.json) are gone, and nothing listens on ``port``."""
    for pid in (info["milvus_pid"], info["supervisor_pid"]):
        alive = Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
        assert not alive, f"process {pid} outlived stop()"
    assert _listeners(port) == []


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


def test_server_restart_mid_ingest_and_mid_query_batch(milvus_server, milvus_collection, caplog):  # noqa: F811
    """Two restarts of the server (each costs ~15 s: Milvus 2.3.5 reloads the collection once the old node's
    session lease, 10 s here, has expired): one during an ingest (the client retries with backoff and the
    ingest completes, nothing lost or duplicated), one during a batch of queries (each query succeeds with
    the right answer or raises a StoreConnectionError naming the server), while a second handle with
    retries off tries to write (a clear StoreUnreachableError or StoreTimeoutError; resuming with
    skip_existing then embeds only the missing documents). The second restart's stop, a graceful
    ``stop()``, leaves no process behind (supervisor and Milvus gone) and nothing listening on the port."""
    emb = HashEmbeddings(16, name="milvus-server-resume-16")
    docs = [Document(page_content=f"passage {i}", metadata={"i": i}, id=f"p{i}") for i in range(60)]
    store = MilvusVectorStore(emb, MilvusIndexSpec(milvus_collection, batch_size=10), uri=milvus_server.url, overwrite=True,
                              retries=6, max_backoff=4.0)
    real_upsert = store.client.upsert  # a server's batches go in by upsert (milvus_write)
    calls = {"n": 0}
    restarts: list[threading.Event] = []

    def write_then_restart_after_three(*args, **kwargs):
        calls["n"] += 1
        out = real_upsert(*args, **kwargs)
        if calls["n"] == 3:  # batch 4 meets a stopped server, which comes back a second later
            restarts.append(milvus_server.outage(1.0))
        return out

    store.client.upsert = write_then_restart_after_three
    caplog.set_level(logging.WARNING, logger="langchain_embcompare.stores.milvus")
    store.add_documents(docs[:50])  # rides over the restart
    assert restarts[0].wait(120) and milvus_server.start_error is None
    assert calls["n"] == 5 and store.count() == 50
    assert any("unreachable" in r.getMessage() and "retry" in r.getMessage() for r in caplog.records)  # the retries
    rows = store.all_rows()
    assert len(rows) == 50 and len(np.unique(rows)) == 50
    got = store.get_by_ids([d.id for d in docs[:50]])
    assert [d.id for d in got] == [d.id for d in docs[:50]] and [d.metadata["i"] for d in got] == list(range(50))

    # a batch of queries with a restart after the fifth; meanwhile a handle with retries off tries to write
    quick = MilvusVectorStore.from_existing(milvus_collection, emb, milvus_server.url, retries=0, call_timeout=3.0)
    outcomes: list[str] = []
    for i in range(12):
        if i == 5:
            info = json.loads((Path(milvus_server.data_dir) / "supervisor.json").read_text())
            assert Path(f"/proc/{info['milvus_pid']}").exists()
            restarts.append(milvus_server.outage(5.0))  # stop() now, start again 5 s later
            _assert_stopped(info, milvus_server.port)
            with pytest.raises((StoreUnreachableError, StoreTimeoutError), match=r"Start the server|within call_timeout"):
                quick.add_documents(docs, skip_existing=True)  # no server: a clear error, nothing half-known
        try:
            hit = store.similarity_search(f"passage {i}", k=1)
            outcomes.append("ok" if hit and hit[0].id == f"p{i}" else f"wrong {hit}")
        except StoreConnectionError as exc:
            outcomes.append(type(exc).__name__)
            assert f"at {milvus_server.url}" in str(exc)  # names the server (and, per kind, the fix)
    assert restarts[1].wait(120) and milvus_server.start_error is None
    assert not [o for o in outcomes if o.startswith("wrong")], outcomes
    assert outcomes[:5] == ["ok"] * 5 and outcomes[-1] == "ok", outcomes  # before the restart and once it is back
    try:
        encoded = record_encoded(quick)
        quick.add_documents(docs, skip_existing=True)  # resume: only the ten the failed write never stored
        assert sorted(encoded) == sorted(d.page_content for d in docs[50:])
        assert quick.count() == 60
        rows = quick.all_rows()
        assert len(rows) == 60 and len(np.unique(rows)) == 60
        got = quick.get_by_ids([d.id for d in docs])
        assert [d.id for d in got] == [d.id for d in docs] and [d.metadata["i"] for d in got] == list(range(60))
    finally:
        quick.drop()
        quick.close()
        store.close()


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
