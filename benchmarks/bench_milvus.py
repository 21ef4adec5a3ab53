"""Milvus store benchmark on SciFact with all-MiniLM-L6-v2 -> benchmarks/results/milvus.json.

Measures, in one run on one Milvus Lite file (or ``--uri http://host:19530`` for a server):

* quality: nDCG@10 / recall@100 of Milvus FLAT and HNSW vs FAISS flat (the package's FAISS store),
  and the fraction of queries whose top-10 ids equal FAISS's (ties aside);
* overhead of our store over raw ``pymilvus`` on the *same* collection layout: ingest rate (our
  ``upsert_vectors`` into an empty collection vs a hand-written
  ``MilvusClient.insert`` of the same entity dicts in the same batches; into a non-empty collection ours
  also looks up each batch's ids, which this ratio does not cover) and single-query latency p50/p95
  (our ``search_vectors`` returning Documents vs a hand-written ``MilvusClient.search`` returning the same
  fields), as ratios (goal <= 1.10x). Queries alternate which side runs first (the second run of a
  query finds warm caches; see bench_redis.py);
* memory: resident-set growth of the process serving Milvus Lite (milvus-lite 3 serves in-process)
  across building the two collections and searching them (``/proc`` VmRSS), beside the raw float32
  vector bytes and the store's ``index_bytes()`` estimate. An upper bound, not an index size.

Usage: ``python benchmarks/bench_milvus.py [--uri PATH|URL] [--queries N] [--rounds R] [--out PATH]``
(``--with-cli`` also runs ``embcompare eval --store milvus`` in its own process and records its nDCG@10).

``--server`` starts the local Milvus 2.3.5 standalone server (``scripts/milvus_server.py``) and runs the
same measurements on ``http://127.0.0.1:<port>`` (results: ``milvus_server.json``; on a server the
store writes batches with ``upsert``, raw pymilvus with ``insert``, so the ingest ratio includes that).

``--bm25`` measures full text instead (Milvus Lite): Milvus's BM25 function (the store's
``full_text_search``) vs bm25s (``BM25Retriever``, its published configuration) nDCG@10 / recall@100 on
SciFact, plus bm25s configured like Milvus Lite's analyzer (standard tokenizer, no stemming, no stopwords)
and like the analyzer the store declares, to explain the difference (``milvus_bm25.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.stores.base import normalize_rows  # noqa: E402
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore, is_lite, row_handles  # noqa: E402
from langchain_embcompare.stores.milvus_schema import (  # noqa: E402
    CLUSTER_FIELD, ID_FIELD, METADATA_FIELD, NUMS_FIELD, ROW_FIELD, TAGS_FIELD, TEXT_FIELD, VECTOR_FIELD,
)

SCIFACT = Path("/work/shared/data/beir/scifact")
METRICS = ("ndcg@10", "recall@100")


def _run(qids: list[str], hits: list[list[tuple[Any, float]]]) -> dict[str, dict[str, float]]:
    return {q: {d.id: float(s) for d, s in h} for q, h in zip(qids, hits)}


def _lite_rss_bytes() -> int:
    """Resident bytes of this process and its children (milvus-lite 3 serves from inside this process;
    older versions start a child server): the growth across an ingest is what the collection costs."""
    total = 0
    me = os.getpid()
    total += int(dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)["VmRSS"].split()[0]) * 1024
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == me and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0]) * 1024
    return total


def _raw_entities(corpus: list, vectors: np.ndarray) -> list[dict[str, Any]]:
    """What a user writes with pymilvus alone for this layout: one dict per document."""
    rows = row_handles([d.id for d in corpus])
    vecs = list(normalize_rows(vectors))
    return [
        {ID_FIELD: d.id, ROW_FIELD: int(r), TEXT_FIELD: d.page_content, METADATA_FIELD: d.metadata,
         TAGS_FIELD: {k: [str(v).strip().lower()] for k, v in d.metadata.items() if v is not None},
         NUMS_FIELD: {}, CLUSTER_FIELD: -1, VECTOR_FIELD: v}
        for d, r, v in zip(corpus, rows.tolist(), vecs)
    ]


def _raw_ingest(client: Any, name: str, corpus: list, vectors: np.ndarray, batch: int) -> float:
    t = time.perf_counter()
    entities = _raw_entities(corpus, vectors)
    for start in range(0, len(entities), batch):
        client.insert(name, entities[start : start + batch])
    return time.perf_counter() - t


def _raw_search(client: Any, name: str, q: np.ndarray, k: int, params: dict[str, Any]) -> list[tuple[str, float]]:
    res = client.search(name, data=[q], anns_field=VECTOR_FIELD, limit=k, search_params=params,
                        output_fields=[ID_FIELD, ROW_FIELD, TEXT_FIELD, METADATA_FIELD])
    return [(h["entity"][ID_FIELD], float(h["distance"])) for h in res[0]]


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p95_ms": round(float(np.percentile(a, 95)), 4),
            "mean_ms": round(float(a.mean()), 4)}


def _latency(store: MilvusVectorStore, raw_name: str, qv: np.ndarray, k: int, rounds: int) -> dict[str, Any]:
    """Single-query latency, ours vs raw on twin collections, interleaved and alternating which goes first."""
    params = store.spec.search_params(k)
    qn = normalize_rows(qv)
    for i in range(min(10, len(qv))):  # warm-up
        store.search_vectors(qv[i : i + 1], k)
        _raw_search(store.client, raw_name, qn[i], k, params)
    ours, raw = [], []
    for r in range(rounds):
        for i in range(len(qv)):
            sides = [("ours", lambda: store.search_vectors(qv[i : i + 1], k)), ("raw", lambda: _raw_search(store.client, raw_name, qn[i], k, params))]
            if (i + r) % 2:
                sides.reverse()
            for side, fn in sides:
                t = time.perf_counter()
                fn()
                (ours if side == "ours" else raw).append(time.perf_counter() - t)
    o, w = _pct(ours), _pct(raw)
    return {"ours": o, "raw_pymilvus": w, "p50_ratio": round(o["p50_ms"] / w["p50_ms"], 3),
            "p95_ratio": round(o["p95_ms"] / w["p95_ms"], 3), "n": len(ours)}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen measurement."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uri", default=None, help="Milvus Lite file (default: a fresh temp file) or http://host:19530")
    ap.add_argument("--queries", type=int, default=200, help="queries in the latency test")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ingest-repeats", type=int, default=2)
    ap.add_argument("--with-cli", action="store_true")
    ap.add_argument("--server", action="store_true", help="start the local Milvus 2.3.5 server and measure on it")
    ap.add_argument("--bm25", action="store_true", help="full text: Milvus BM25 (Lite) vs bm25s")
    ap.add_argument("--out", default=None, help="default: results/milvus.json, milvus_server.json or milvus_bm25.json")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = str(ROOT / "benchmarks" / "results" / ("milvus_bm25.json" if args.bm25 else
                                                          "milvus_server.json" if args.server else "milvus.json"))
    if args.bm25:
        return bm25_main(args, argv)
    if args.server:
        import importlib.util

        spec = importlib.util.spec_from_file_location("embcompare_milvus_server", ROOT / "scripts" / "milvus_server.py")
        mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        with mod.MilvusStandalone() as srv:
            args.uri = srv.url
            args.server = False
            return main_with(args, argv, server_version=mod.MILVUS_VERSION)
    return main_with(args, argv)


def main_with(args: argparse.Namespace, argv: list[str] | None, server_version: str | None = None) -> int:
    """The Lite / given-URI measurements (see the module docstring)."""

    workdir = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    uri = args.uri or str(workdir / "bench.db")
    ds = load_beir(SCIFACT)
    corpus, qids = ds.corpus, list(ds.queries)
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    t = time.perf_counter()
    dv = emb.encode_documents(ds.texts)
    qv = emb.encode_queries([ds.queries[q] for q in qids])
    print(f"embedded {len(dv)} docs + {len(qv)} queries in {time.perf_counter() - t:.1f}s", flush=True)
    result: dict[str, Any] = {
        "dataset": "scifact", "model": "all-MiniLM-L6-v2", "n_docs": len(corpus), "n_queries": len(qids),
        "uri_kind": "milvus-lite" if is_lite(uri) else "server",
        "server_version": server_version,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
                    "note": "shared 2-core machine with other jobs running: ratios are the meaningful numbers"},
        "command": "python benchmarks/bench_milvus.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    import pymilvus

    result["versions"] = {"pymilvus": pymilvus.__version__}
    try:
        from importlib.metadata import version

        result["versions"]["milvus-lite"] = version("milvus-lite")
    except Exception:  # noqa: BLE001
        pass

    # -- quality vs FAISS flat
    from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

    fstore = FaissVectorStore(emb, FaissIndexSpec(kind="flat", metric="cosine"))
    fstore.upsert_vectors(dv, corpus)
    faiss_hits = fstore.search_vectors(qv, 100)
    quality: dict[str, Any] = {"faiss_flat": evaluate_run(_run(qids, faiss_hits), ds.qrels, METRICS)}
    import gc

    gc.collect()
    rss0 = _lite_rss_bytes()
    stores = {}
    for kind in ("flat", "hnsw"):
        store = MilvusVectorStore(emb, MilvusIndexSpec(f"bench_{kind}", kind=kind), uri=uri, overwrite=True)
        t = time.perf_counter()
        store.upsert_vectors(dv, corpus)
        ingest_s = time.perf_counter() - t
        fresh = None
        if not is_lite(uri):  # a server searches fresh rows through its interim IVF index until they are sealed
            fh = store.search_vectors(qv, 100)
            fresh = {**evaluate_run(_run(qids, fh), ds.qrels, METRICS),
                     "top10_identical_to_faiss": float(np.mean([[d.id for d, _ in a[:10]] == [d.id for d, _ in b[:10]]
                                                                for a, b in zip(fh, faiss_hits)]))}
            t_flush = time.perf_counter()
            store.flush()  # seal, wait for the index, reload: searched through the collection's own index
            result.setdefault("flush_s", {})[kind] = round(time.perf_counter() - t_flush, 1)
        hits = store.search_vectors(qv, 100)
        same10 = float(np.mean([[d.id for d, _ in a[:10]] == [d.id for d, _ in b[:10]] for a, b in zip(hits, faiss_hits)]))
        quality[f"milvus_{kind}"] = {**evaluate_run(_run(qids, hits), ds.qrels, METRICS), "top10_identical_to_faiss": same10,
                                     "ingest_s": round(ingest_s, 3)}
        if fresh is not None:
            quality[f"milvus_{kind}"]["after_flush"] = True
            quality[f"milvus_{kind}"]["before_flush_interim_index"] = fresh
        stores[kind] = store
        print(f"[quality {kind}] {json.dumps(quality[f'milvus_{kind}'])}", flush=True)
    result["quality"] = quality
    gc.collect()
    rss1 = _lite_rss_bytes()
    result["memory"] = {"note": "a server: its memory is not this process's; not measured here"} if not is_lite(uri) else {
        "lite_rss_before_bytes": rss0, "lite_rss_after_two_collections_bytes": rss1,
        "lite_rss_growth_per_collection_bytes": (rss1 - rss0) // 2 if rss0 else None,
        "raw_float32_vector_bytes": int(dv.nbytes), "index_bytes_estimate_flat": stores["flat"].index_bytes(),
        "index_bytes_estimate_hnsw": stores["hnsw"].index_bytes(),
        "note": "Milvus reports no per-index memory through its client. Measured: resident-set growth of this process "
                "(milvus-lite 3 serves in-process) plus children, from before building the two collections (flat, hnsw) to after "
                "building them AND searching them (300 queries x 100 hits kept as Documents with their text): an upper bound that "
                "includes the search results and allocator slack, not an index size. index_bytes_estimate_* is the store's formula.",
    }
    print(f"[memory] {json.dumps(result['memory'])}", flush=True)

    # -- ingest: ours vs raw pymilvus on twin empty collections, alternating which goes first
    ours_store = MilvusVectorStore(emb, MilvusIndexSpec("bench_ingest_ours"), uri=uri, overwrite=True)
    raw_store = MilvusVectorStore(emb, MilvusIndexSpec("bench_ingest_raw"), uri=uri, overwrite=True)
    client, batch = ours_store.client, ours_store.spec.batch_size
    ours_t, raw_t = [], []
    for rep in range(args.ingest_repeats):
        ours_store.delete()
        raw_store.delete()
        sides = [("ours", lambda: ours_store.upsert_vectors(dv, corpus)),
                 ("raw", lambda: _raw_ingest(client, raw_store.name, corpus, dv, batch))]
        if rep % 2:
            sides.reverse()
        for side, fn in sides:
            t = time.perf_counter()
            fn()
            (ours_t if side == "ours" else raw_t).append(time.perf_counter() - t)
    assert ours_store.count() == raw_store.count() == len(corpus)
    o, r = min(ours_t), min(raw_t)
    result["ingest"] = {"ours_docs_per_s": round(len(corpus) / o, 1), "raw_pymilvus_docs_per_s": round(len(corpus) / r, 1),
                        "time_ratio": round(o / r, 3), "ours_s": [round(x, 3) for x in ours_t], "raw_s": [round(x, 3) for x in raw_t],
                        "batch_size": batch, "note": "best of the repeats, each into an emptied collection: ours checks the count once, then (empty) skips the per-batch look-up of stored ids that an upsert into a non-empty collection does"}
    print(f"[ingest] {json.dumps(result['ingest'])}", flush=True)

    # -- latency: single query, k=10, ours (Documents) vs raw search (same fields), on twin collections
    result["latency"] = {}
    nq = min(args.queries, len(qv))
    for kind in ("flat", "hnsw"):
        twin = f"bench_{kind}_raw"
        twin_store = MilvusVectorStore(emb, MilvusIndexSpec(twin, kind=kind), uri=uri, overwrite=True)
        _raw_ingest(client, twin, corpus, dv, batch)
        if not is_lite(uri):
            twin_store.flush()  # both sides searched through the built index, as `stores[kind]` above
        result["latency"][kind] = _latency(stores[kind], twin, qv[:nq], 10, args.rounds)
        twin_store.drop()
        print(f"[latency {kind}] {json.dumps(result['latency'][kind])}", flush=True)

    if args.with_cli:
        out = workdir / "cli.json"
        cmd = [sys.executable, "-m", "langchain_embcompare.cli", "eval", str(SCIFACT), "--store", "milvus",
               "--store-url", str(workdir / "cli.db") if is_lite(uri) else uri, "--out", str(out)]
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        r = json.loads(out.read_text())
        shown = "DB" if is_lite(uri) else uri
        result["cli"] = {"command": f"embcompare eval /work/shared/data/beir/scifact --store milvus --store-url {shown}",
                         "ndcg@10": r["ndcg@10"], "recall@100": r.get("recall@100")}
        print(f"[cli] {json.dumps(result['cli'])}", flush=True)

    for s in stores.values():
        s.drop()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    print(f"wrote {out_path}")
    return 0


def bm25_main(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Milvus BM25 (Lite, the store's ``full_text_search``) vs bm25s on SciFact, with the analyzer
    differences isolated by re-running bm25s with Milvus-like tokenisation."""
    from langchain_embcompare.retrievers.lexical import BM25Retriever
    from langchain_embcompare.stores.milvus_schema import BM25_ANALYZER, BM25_B, BM25_K1

    ds = load_beir(SCIFACT)
    corpus, qids = ds.corpus, list(ds.queries)
    qtexts = [ds.queries[q] for q in qids]
    workdir = Path(tempfile.mkdtemp(prefix="bench-milvus-bm25-"))
    # full text only: the dense vectors play no part, so 8-d random ones stand in for a model
    from langchain_core.embeddings import Embeddings

    class _Random8(Embeddings):
        model_id = "random-8d-bm25-bench"

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return np.random.default_rng(len(texts)).normal(size=(len(texts), 8)).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    emb = MatryoshkaEmbeddings(_Random8(), cache_dir=None)
    dv = np.random.default_rng(0).normal(size=(len(corpus), 8)).astype(np.float32)
    store = MilvusVectorStore(emb, MilvusIndexSpec("bench_bm25", full_text=True), uri=str(workdir / "bm25.db"), overwrite=True)
    t = time.perf_counter()
    store.upsert_vectors(dv, corpus)
    ingest_s = time.perf_counter() - t
    t = time.perf_counter()
    hits = store.full_text_search(qtexts, 100)
    search_s = time.perf_counter() - t
    result: dict[str, Any] = {
        "dataset": "scifact", "n_docs": len(corpus), "n_queries": len(qids),
        "command": "python benchmarks/bench_milvus.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "milvus": {**evaluate_run(_run(qids, hits), ds.qrels, METRICS), "engine": store.full_text_settings(),
                   "ingest_s_with_bm25_function": round(ingest_s, 2), "search_s_all_queries": round(search_s, 2)},
    }
    import bm25s

    variants = {
        "bm25s_default": {},  # Lucene BM25, k1 1.5, b 0.75, Snowball English stemmer, NLTK English stopwords, \w\w+ tokens
        "bm25s_like_milvus_lite": {"stemmer": None, "stopwords": None, "token_pattern": r"(?u)\b\w+\b"},
        "bm25s_stem_no_stopwords": {"stopwords": None, "token_pattern": r"(?u)\b\w+\b"},
    }
    for name, kw in variants.items():
        r = BM25Retriever.from_documents(corpus, k=100, **kw)
        bh = r.search_with_scores(qtexts, 100)
        result[name] = {**evaluate_run(_run(qids, bh), ds.qrels, METRICS), "settings": {**r.settings.to_dict(), "bm25s": bm25s.__version__}}
        print(f"[{name}] {json.dumps({m: result[name][m] for m in METRICS})}", flush=True)
    same = np.mean([[d.id for d, _ in a[:10]] == [d.id for d, _ in b[:10]]
                    for a, b in zip(hits, BM25Retriever.from_documents(corpus, k=10, **variants["bm25s_like_milvus_lite"]).search_with_scores(qtexts, 10))])
    result["top10_identical_milvus_vs_bm25s_like_milvus_lite"] = float(same)
    result["explanation"] = (
        f"Both score BM25 with k1={BM25_K1}, b={BM25_B} and idf = ln(1 + (N - df + 0.5) / (df + 0.5)); Milvus multiplies by the "
        "constant (k1 + 1), which changes no ranking. The difference is the analyzer: the store declares "
        f"{json.dumps(BM25_ANALYZER)}, but Milvus Lite 3.2 ignores its stemmer and stop filters (measured: 'apples' does not "
        "match 'apple', 'the' is indexed): it ranks lower-cased standard-tokenizer words, without stemming or stopword removal; "
        "bm25s (default) stems with Snowball English, drops NLTK's English stopwords and keeps tokens of 2+ characters. "
        "bm25s_like_milvus_lite reruns bm25s with that tokenisation (lower-cased \\w+ words, no stemmer, no stopwords): "
        "same nDCG@10 and top-10 lists as Milvus (top10_identical_...), so the engines agree and the whole gap to "
        "bm25s_default is the analyzer, nearly all of it stemming (bm25s_stem_no_stopwords)."
    )
    store.drop()
    out_path = Path(args.out)
    out_path.write_text(json.dumps(result, indent=2))
    print(f"[milvus] {json.dumps({m: result['milvus'][m] for m in METRICS})}\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
