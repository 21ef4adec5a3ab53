"""Build the benchmark tables from benchmarks/results/*.json (run after the benchmarks).

Usage:
    .venv/bin/python benchmarks/make_table.py           # rewrite the README's headline block (bench markers)
    .venv/bin/python benchmarks/make_table.py --check   # exit 1 when the README block is out of date
    .venv/bin/python benchmarks/make_table.py --full    # print the full table

The docs site renders the full table by section and the growth table at build time (``docs/hooks.py``
calls :func:`sectioned`, :func:`growth_table` and :func:`projection_table`), and ``tests/test_docs.py`` checks the README block equals
:func:`readme_block`, so neither can drift from ``benchmarks/results/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _get(d: Any, *path: Any) -> Any:
    for p in path:
        if d is None:
            return None
        if isinstance(d, dict):
            d = d.get(p, d.get(str(p)))
        elif isinstance(d, list) and isinstance(p, int) and p < len(d):
            d = d[p]
        else:
            return None
    return d


def _f(x: Any, fmt: str = ".4f") -> str:
    return "–" if x is None else format(x, fmt)


Row = tuple[str, str, str, str, str, str]


def foundation_rows(d: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    src = "foundation.json"
    for dim in (384, 256, 128, 64, 32):
        q = _get(d, "quality", dim)
        if q:
            rows.append((f"SciFact nDCG@10, MiniLM {dim}-d flat", _f(q["ours"]["ndcg@10"]), _f(q["raw"]["ndcg@10"]),
                         _f(q["ours"]["ndcg@10"] - q["raw"]["ndcg@10"], "+.4f") + " diff",
                         "= raw; 0.6451 published" if dim == 384 else "= raw", src))
    for dim in (128, 64, 32):
        r = _get(d, "rotation", dim)
        if r:
            rows.append((f"PCA rotation vs truncation, {dim}-d", _f(r["pca"]), _f(r["truncate"]), _f(r["gain"], "+.4f"), "rotation > truncation", src))
    for p in ("float32", "int8", "binary"):
        r = _get(d, "precision", p)
        if r:
            label = " (Hamming shortlist ×4, float rescoring)" if p == "binary" else ""
            rows.append((f"{p} index{label}: bytes/vector, nDCG@10 kept", f"{r['bytes_per_vector']:.0f} B, {r['ndcg@10']:.4f}", "–",
                         f"{100 * r['kept']:.1f} % kept", "", src))
    t = d.get("throughput")
    if t:
        rows.append(("encoding throughput (docs/s)", _f(t["ours_docs_per_s"], ".1f"), _f(t["raw_docs_per_s"], ".1f"),
                     _f(t["ratio"], ".3f") + "×", "≥ 0.95×", src))
    lat = d.get("query_latency")
    if lat:
        rows.append(("query latency p50 (embed + search, ms)", _f(lat["ours_p50_ms"], ".2f"), _f(lat["raw_p50_ms"], ".2f"),
                     _f(lat["ratio_p50"], ".3f") + "×", "≤ 1.10×", src))
    return rows


def redis_rows(d: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    src = "redis.json"
    for dim in (384, 128):
        q = _get(d, "quality", dim)
        if q:
            rows.append((f"SciFact nDCG@10 Redis FLAT vs FAISS flat, {dim}-d", _f(_get(q, "redis_flat", "ndcg@10")),
                         _f(_get(q, "faiss_flat", "ndcg@10")), _f(q.get("ndcg10_redis_flat_minus_faiss_flat"), "+.4f"), "± 0.001", src))
            rows.append((f"SciFact nDCG@10 Redis HNSW vs FLAT, {dim}-d", _f(_get(q, "redis_hnsw", "ndcg@10")),
                         _f(_get(q, "redis_flat", "ndcg@10")), _f(q.get("ndcg10_redis_hnsw_minus_redis_flat"), "+.4f"), "± 0.005", src))
    ing = d.get("ingest")
    if ing:
        rows.append(("Redis ingest (docs/s)", _f(ing.get("ours_docs_per_s_median"), ".0f"), _f(ing.get("raw_redis_py_docs_per_s_median"), ".0f"),
                     _f(ing.get("ratio_time_ours_over_raw"), ".3f") + "× time", "≤ 1.10×", src))
    for name, lat in (d.get("latency") or {}).items():
        if isinstance(lat, dict) and "ratio_p50" in lat:
            rows.append((f"Redis query latency p50, {name} (ms)", _f(_get(lat, "ours", "p50_ms"), ".2f"), _f(_get(lat, "raw_redis_py", "p50_ms"), ".2f"),
                         _f(lat["ratio_p50"], ".3f") + "×", "≤ 1.10×", src))
    for dim, mem in (d.get("memory") or {}).items():
        for algo in ("flat", "hnsw"):
            m = _get(mem, algo)
            if m and m.get("vector_index_sz_mb") is not None:
                per = 1e6 * m["vector_index_sz_mb"] / max(1, m.get("num_docs") or 1)
                rows.append((f"Redis vector index memory, {dim}-d {algo.upper()} (FT.INFO)", f"{m['vector_index_sz_mb']:.2f} MB ({per:.0f} B/doc)",
                             "–", "", "", src))
    return rows


def cluster_rows(d: dict[str, Any]) -> list[Row]:
    src, goal = "cluster_scifact.json", d.get("goal", {})
    rows: list[Row] = []
    for name in ("adaptive_tail_1.25", "adaptive_tail_1.0"):
        g = goal.get(name)
        if g:
            rows.append((f"cluster prefilter K=64 {name.replace('_', ' ')}: nDCG@10 kept, corpus scanned",
                         f"{100 * g['relative_ndcg']:.1f} %, {100 * g['scanned_fraction']:.1f} %", "exhaustive flat", f"{g['clusters_opened']:.1f} clusters",
                         "≥ 98 % at ≤ 30 %", src))
    fixed = goal.get("smallest_fixed_nprobe_reaching_98pct")
    if fixed:
        rows.append((f"cluster prefilter K=64 fixed nprobe {fixed['nprobe']}", f"{100 * fixed['relative_ndcg']:.1f} %, {100 * fixed['scanned_fraction']:.1f} %",
                     "exhaustive flat", "", "adaptive scans less", src))
    for k, v in (goal.get("redis_identical") or {}).items():
        rows.append((f"cluster prefilter {k}: Redis vs FAISS", v, "", "", "identical", src))
    return rows


def funnel_rows(d: dict[str, Any]) -> list[Row]:
    src = "funnel.json"
    rows: list[Row] = []
    for r in _get(d, "quality_scifact_minilm", "rows") or []:
        dim = r.get("shortlist_dim") or "binary"
        rows.append((f"funnel {dim}→384, shortlist {r['shortlist']}, rotation {r.get('rotation') or 'none'}: nDCG@10 kept",
                     f"{100 * r['relative_ndcg']:.2f} %", "full-dim flat", "", "≥ 99.5 % (float), ≥ 99 % (binary)", src))
    # funnel.json's synthetic speed section predates issue 19 (exact shortlists, a loaded machine):
    # speed at scale now comes from scale.json (scale_rows)
    return rows


_FAMILY_NAMES = {
    "ours_exact": "our FAISS store, exact",
    "funnel_flat": "funnel 128-d PCA, flat shortlist (calibrated)",
    "funnel_hnsw": "funnel 128-d PCA, HNSW shortlist (calibrated)",
    "funnel_ivf": "funnel 128-d PCA, IVF shortlist (calibrated)",
    "cluster_fixed": "cluster prefilter, fixed nprobe",
    "cluster_adaptive": "cluster prefilter, adaptive",
    "raw_faiss_ivf": "raw faiss IVFFlat",
    "raw_faiss_hnsw": "raw faiss HNSWFlat",
}


def _setting(fam: str, st: dict[str, Any]) -> str:
    keys = {"funnel_flat": ("shortlist",), "funnel_hnsw": ("shortlist", "ef_search"), "funnel_ivf": ("shortlist", "nprobe"),
            "cluster_fixed": ("n_clusters", "nprobe"), "cluster_adaptive": ("n_clusters", "tail"),
            "raw_faiss_ivf": ("nlist", "nprobe"), "raw_faiss_hnsw": ("M", "ef_search")}.get(
        fam, ("shortlist", "ef_search", "nprobe") if fam.startswith("funnel_") else ())
    return ", ".join(f"{k} {st[k]}" for k in keys if k in st)


def _layout_name(fam: str, st: dict[str, Any]) -> str:
    """A readable name for a funnel layout family (``funnel_hnsw_sq8_192d_mmap``) or another method."""
    if fam.startswith("funnel_") and "field_kind" in st and st.get("vector_storage"):
        return (f"funnel, {st.get('shortlist_dim')}-d {st['field_kind']} shortlist in RAM, "
                f"full vectors {'memory-mapped' if st['vector_storage'] == 'mmap' else 'in RAM'} (calibrated)")
    return _FAMILY_NAMES.get(fam, fam)


def scale_rows(d: dict[str, Any]) -> list[Row]:
    """The fastest setting of each method at recall@10 >= the target, per data set, at 100k and 1M.

    A block with resident memory (each method in its own process) compares every funnel layout with raw
    faiss HNSW of the same block (same M / efConstruction, one search thread): ms/query and resident
    bytes per vector as ratios; older blocks compare with exact faiss flat.
    """
    src = "scale.json"
    rows: list[Row] = []
    target = d.get("target_recall", 0.98)
    for b in d.get("blocks", []):
        if b["n"] < 100_000:
            continue
        n = f"{b['n'] // 1000}k" if b["n"] < 1_000_000 else f"{b['n'] // 1_000_000}M"
        summary = b.get("summary", {})
        hnsw = summary.get("raw_faiss_hnsw")
        resident = isinstance(hnsw, dict) and hnsw.get("resident_bytes_per_vector")
        for fam, r in summary.items():
            if not isinstance(r, dict) or fam == "ours_exact" or r.get("reached") is False:
                continue
            st = r.get("settings", {})
            what = f"{n} × 384 {b['set']}: {_layout_name(fam, st)} ({_setting(fam, st)}), 1 thread"
            if resident and fam.startswith("funnel_") and r.get("resident_bytes_per_vector"):
                rows.append((what,
                             f"{r['ms_per_query']:.2f} ms/q, recall@10 {r['recall@10']:.3f}, {r['resident_bytes_per_vector']:.0f} B/vector resident",
                             f"raw faiss HNSW (M {_get(hnsw, 'settings', 'M')}, efC {_get(hnsw, 'settings', 'ef_construction')}): "
                             f"{hnsw['ms_per_query']:.2f} ms/q, recall@10 {hnsw['recall@10']:.3f}, {hnsw['resident_bytes_per_vector']:.0f} B/vector",
                             f"{r['ms_per_query'] / hnsw['ms_per_query']:.2f}× the time, {r['resident_bytes_per_vector'] / hnsw['resident_bytes_per_vector']:.2f}× the memory",
                             f"≤ 1× the time, ≤ 0.33× the memory, recall ≥ {target}", src))
            elif not resident:
                base = b["baseline"]["ms_per_query"]
                rows.append((what, f"{r['ms_per_query']:.2f} ms/q, recall@10 {r['recall@10']:.3f}, {r['bytes_per_vector']:.0f} B/vector",
                             f"{base:.1f} ms/q (faiss flat, exact)", f"{r['speedup_vs_flat']:.1f}× faster",
                             f"≥ 10× at recall ≥ {target}" if b["n"] >= 1_000_000 else f"recall ≥ {target}", src))
        ratio = summary.get("adaptive_over_fixed_ms_ratio")
        if ratio is not None:
            rows.append((f"{n} × 384 {b['set']}: adaptive vs fixed nprobe at recall ≥ {target}", f"{ratio:.2f}× the time", "", "", "adaptive < 1×, else fixed by default", src))
    return rows


def defaults_rows(d: dict[str, Any]) -> list[Row]:
    src = "defaults_scifact.json"
    return [(f"SciFact nDCG@10 kept, {r['retriever']}", f"{100 * r['relative_ndcg']:.2f} %", f"exhaustive {d['exhaustive_ndcg@10']:.4f}",
             "", "≥ 99.5 %", src) for r in d.get("rows", [])]


def rerank_rows(d: dict[str, Any]) -> list[Row]:
    src = "rerank.json"
    rows: list[Row] = []
    for r in d.get("results", []):
        rows.append((f"PRP {r['method']}, judge {r['judge']}: nDCG@10 before → after", f"{r['ndcg@10_before']:.4f} → {r['ndcg@10_after']:.4f}",
                     f"bound {d.get('ndcg@10_oracle_bound', 0):.4f}", f"{r.get('calls_per_query_mean', 0):.1f} calls/q",
                     "unchanged + bias warning" if "always" in r["judge"] else "lifts toward the bound", src))
    return rows


def compare_rows(d: dict[str, Any]) -> list[Row]:
    src = "compare_scifact.json"
    rows: list[Row] = []
    checks = d.get("eval_check", {}).get("runs", {})
    for name, r in (d.get("runs") or {}).items():
        ci = _get(r, "ci", "ndcg@10") or [None, None]
        p = _get(r, "p_adjusted", "ndcg@10")
        lat = _get(r, "latency_ms", "p50")
        rows.append((f"compare {name}: nDCG@10 [95 % CI], Holm p vs {d.get('baseline')}",
                     f"{r['ndcg@10']:.4f} [{_f(ci[0])}, {_f(ci[1])}]" + (f", p={p:.2g}" if p is not None else ""),
                     f"eval {_f(_get(checks, name, 'eval'))}", f"p50 {_f(lat, '.2f')} ms/q", "= single-model eval ± 0.001", src))
    rc = d.get("ranx_check")
    if rc:
        rows.append(("significance vs ranx on the same runs", f"max |Δp| {rc.get('max_abs_diff_p_value')}", "ranx", "", "equal", src))
    for model, why in (d.get("models_not_run") or {}).items():
        rows.append((f"compare {model}", "not run", "", "", "", f"{src}: {why}"))
    return rows


def _loaded(d: dict[str, Any], *keys: str) -> str:
    """' (loaded machine)' when the file's machine note says the run shared a busy machine."""
    note = " ".join(str(_get(d, *k.split("."))) for k in keys)
    return " (loaded 2-core machine)" if any(w in note for w in ("loaded", "shared")) else ""


def hybrid_rows(d: dict[str, Any]) -> list[Row]:
    src = "hybrid_scifact.json"
    rows: list[Row] = []
    bm25, dense = _get(d, "bm25", "ndcg@10"), _get(d, "dense", "ndcg@10")
    sig = d.get("significance_ndcg@10") or {}
    for key, label in (("hybrid_rrf", "hybrid-rrf"), ("hybrid_linear", "hybrid-linear-0.5")):
        h = d.get(key)
        if not h:
            continue
        how = f"RRF k={h['rrf_k']}" if "rrf_k" in h else f"linear α={h.get('alpha')} {h.get('norm', '')}".rstrip()
        vb, vd = sig.get(f"{label} vs bm25") or {}, sig.get(f"{label} vs all-MiniLM-L6-v2") or {}
        rows.append((f"SciFact nDCG@10 hybrid ({how}) vs BM25 / MiniLM arms", _f(h["ndcg@10"]), f"BM25 {_f(bm25)}, MiniLM {_f(dense)}",
                     (f"{_f(vb.get('delta_ndcg@10'), '+.4f')} (Holm p={_f(vb.get('p_adjusted'), '.2g')}), "
                      f"{_f(vd.get('delta_ndcg@10'), '+.4f')} (Holm p={_f(vd.get('p_adjusted'), '.2g')})"),
                     "beats both arms, significant", src))
    b = d.get("bm25")
    if b:
        st = b.get("settings") or {}
        rows.append((f"SciFact nDCG@10 BM25 (bm25s {st.get('method')}, k1 {st.get('k1')}, b {st.get('b')}, stemmed)", _f(b["ndcg@10"]),
                     f"raw bm25s {_f(_get(b, 'raw_bm25s', 'ndcg@10'))}",
                     f"{_f(b.get('delta_vs_published_bm25s'), '+.4f')} vs published {_f(b.get('published_bm25s_ndcg@10'), '.3f')}",
                     f"within 0.01 of bm25s {_f(b.get('published_bm25s_ndcg@10'), '.3f')} (BEIR ES BM25: {_f(b.get('published_beir_ndcg@10'), '.3f')})", src))
    lat, load = d.get("latency_ms") or {}, _loaded(d, "machine.note")
    if "p50_ratio_hybrid_rrf_over_dense" in d:
        rows.append((f"hybrid vs dense query p50, embed + search (ms){load}",
                     f"RRF {_f(_get(lat, 'hybrid-rrf', 'p50'), '.1f')}, linear {_f(_get(lat, 'hybrid-linear-0.5', 'p50'), '.1f')}",
                     f"dense {_f(_get(lat, 'all-MiniLM-L6-v2', 'p50'), '.1f')}",
                     f"{_f(d['p50_ratio_hybrid_rrf_over_dense'], '.3f')}×, {_f(d.get('p50_ratio_hybrid_linear_over_dense'), '.3f')}×", "", src))
    il = d.get("interleaved_latency_ms") or {}
    if "p50_ratio_interleaved_hybrid_rrf_over_dense" in d:
        rows.append((f"hybrid vs dense p50, retrieval + fusion only, interleaved (ms){load}",
                     f"RRF {_f(_get(il, 'hybrid-rrf', 'p50'), '.2f')}, linear {_f(_get(il, 'hybrid-linear', 'p50'), '.2f')}",
                     f"dense {_f(_get(il, 'dense', 'p50'), '.2f')}, BM25 {_f(_get(il, 'bm25', 'p50'), '.2f')}",
                     f"{_f(d['p50_ratio_interleaved_hybrid_rrf_over_dense'], '.2f')}×, {_f(d.get('p50_ratio_interleaved_hybrid_linear_over_dense'), '.2f')}×",
                     "", src))
    ib = d.get("index_bytes")
    if ib:
        rows.append(("BM25 index bytes vs dense FAISS flat index", f"{ib['lexical_bm25s'] / 2**20:.2f} MiB ({ib['lexical_bm25s']} B)",
                     f"{ib['dense_faiss_flat'] / 2**20:.2f} MiB", _f(ib.get("lexical_over_dense"), ".3f") + "×", "", src))
    return rows


def milvus_rows(d: dict[str, Any]) -> list[Row]:
    src, load = "milvus.json", _loaded(d, "machine.note")
    rows: list[Row] = []
    faiss = _get(d, "quality", "faiss_flat", "ndcg@10")
    for algo in ("flat", "hnsw"):
        q = _get(d, "quality", f"milvus_{algo}")
        if q:
            rows.append((f"SciFact nDCG@10 Milvus {algo.upper()} ({d.get('uri_kind')}) vs FAISS flat", _f(q["ndcg@10"]), _f(faiss),
                         f"{_f(q['ndcg@10'] - faiss if faiss is not None else None, '+.4f')} diff, top-10 identical {100 * q.get('top10_identical_to_faiss', 0):.0f} %",
                         "= FAISS", src))
    ing = d.get("ingest")
    if ing:
        rows.append((f"Milvus ingest (docs/s){load}", _f(ing.get("ours_docs_per_s"), ".1f"), _f(ing.get("raw_pymilvus_docs_per_s"), ".1f"),
                     _f(ing.get("time_ratio"), ".3f") + "× time", "≤ 1.10×", src))
    for algo, lat in (d.get("latency") or {}).items():
        if isinstance(lat, dict) and "p50_ratio" in lat:
            rows.append((f"Milvus single-query p50, {algo.upper()} (ms){load}", _f(_get(lat, "ours", "p50_ms"), ".1f"),
                         _f(_get(lat, "raw_pymilvus", "p50_ms"), ".1f"), _f(lat["p50_ratio"], ".3f") + "×", "≤ 1.10×", src))
    return rows


def images_rows(d: dict[str, Any]) -> list[Row]:
    src = "images.json"
    rows: list[Row] = []
    q = {(r["model"], r["dim"], r["rotation"]): r["ndcg@10"] for r in d.get("quality", [])}
    name = f"{_get(d, 'dataset', 'documents')} images / {_get(d, 'dataset', 'queries')} queries"
    for dim in (1280, 256, 128, 64):
        pre = [q.get(("efficientnet-lite0", dim, r)) for r in ("none", "pca")]
        rnd = [q.get(("efficientnet-lite0@random", dim, r)) for r in ("none", "pca")]
        if all(x is None for x in pre):
            continue
        gain = [None if a is None or b is None else a - b for a, b in zip(pre, rnd)]
        rows.append((f"image nDCG@10 ({name}), EfficientNet-Lite0 {dim}-d, truncation / PCA rotation",
                     f"{_f(pre[0])} / {_f(pre[1])}", f"random init {_f(rnd[0])} / {_f(rnd[1])}",
                     f"{_f(gain[0], '+.4f')} / {_f(gain[1], '+.4f')}", "pretrained clearly above random", src))
    t = d.get("throughput")
    if t:
        rows.append((f"image encoding throughput (images/s, batch {t.get('batch_images')}){_loaded(d, 'machine.note')}",
                     _f(t.get("ours_images_per_second"), ".2f"), _f(t.get("raw_torch_images_per_second"), ".2f"),
                     f"{_f(t.get('ratio'), '.3f')}×, max |Δ| {_f(t.get('max_abs_difference'), '.1e')}", "≥ 0.95× raw torch", src))
    return rows


def vectors_rows(d: dict[str, Any]) -> list[Row]:
    src, load = "vectors.json", _loaded(d, "machine")
    ours, raw = _get(d, "sides", "ours"), _get(d, "sides", "raw")
    if not ours or not raw:
        return []
    what = f"{d.get('rows', 0) / 1e6:g}M × {d.get('dim')} Parquet → FAISS load"
    same = ", same top-10" if d.get("same_top10") else ""
    return [
        (f"{what}: time (s){load}", _f(ours["seconds"], ".1f"), _f(raw["seconds"], ".1f") + " (pyarrow + faiss)",
         _f(d.get("time_ratio"), ".3f") + "×" + same, f"≤ {_get(d, 'goal', 'time_ratio')}×", src),
        (f"{what}: peak RSS (GB){load}", _f(ours["peak_rss_bytes"] / 1e9, ".2f"), _f(raw["peak_rss_bytes"] / 1e9, ".2f") + " (pyarrow + faiss)",
         _f(d.get("peak_memory_ratio"), ".3f") + "×", f"≤ {_get(d, 'goal', 'peak_memory_ratio')}×", src),
    ]


def advise_rows(d: dict[str, Any]) -> list[Row]:
    src = "advise_scifact.json"
    w, base = d.get("winner"), d.get("baseline")
    if not w or not base:
        return []
    setting = " ".join(w["name"].split("/")[2:])  # model/…/dim/precision/rotation/store/index → "256d int8 pca faiss flat"
    rows: list[Row] = [
        (f"advisor winner on SciFact, {d.get('budget')} budget: {setting}",
         f"nDCG@10 {_f(w['ndcg@10'])}, {100 * w['memory_ratio']:.1f} % of float32 memory ({w['index_bytes']} B)",
         f"float32 flat {_f(base['ndcg@10'])} ({base['index_bytes']} B)",
         f"{_f(w.get('delta'), '+.4f')}, non-inferiority Holm p={_f(w.get('p_adjusted'), '.2g')}",
         f"≤ 25 % memory, non-inferior at margin {d.get('margin')}", src),
    ]
    sw = d.get("sweep") or {}
    if sw:
        rows.append((f"advisor sweep on SciFact{_loaded(d, 'bench.note')}", f"{sw.get('n_measured')} of {sw.get('n_planned')} settings measured, {_f(sw.get('seconds'), '.0f')} s",
                     f"brute-force grid {_get(d, 'bench', 'sweep_size', 'brute_force_grid')} settings",
                     f"{sw.get('n_not_measured_by_refinement_stop')} stopped by refinement", "", src))
    return rows


def redis_short_rows(d: dict[str, Any]) -> list[Row]:
    src = "redis_short.json"
    rows: list[Row] = []
    for dim, q in (d.get("quality") or {}).items():
        rows.append((f"SciFact nDCG@10 Redis FLAT (protocol store) vs FAISS flat, {dim}-d", _f(_get(q, "redis_flat", "ndcg@10")),
                     _f(_get(q, "faiss_flat", "ndcg@10")), _f(q.get("ndcg10_redis_flat_minus_faiss_flat"), "+.4f"), "± 0.001", src))
    ing = d.get("ingest")
    if ing:
        loaded = " (2 shared cores)" if "shared" in str(ing.get("note", "")) else ""
        rows.append((f"Redis ingest, protocol store, {ing.get('repeats')} repeats (docs/s){loaded}", _f(ing.get("ours_docs_per_s_median"), ".0f"),
                     _f(ing.get("raw_redis_py_docs_per_s_median"), ".0f"), _f(ing.get("ratio_time_ours_over_raw"), ".3f") + "× time", "≤ 1.10×", src))
    for name, lat in (d.get("latency") or {}).items():
        if isinstance(lat, dict) and "ratio_p50" in lat:
            rows.append((f"Redis query p50, protocol store, {name}, short run, same fields returned (ms)", _f(_get(lat, "ours", "p50_ms"), ".2f"),
                         _f(_get(lat, "raw_redis_py", "p50_ms"), ".2f"), _f(lat["ratio_p50"], ".3f") + "×", "≤ 1.10×", src))
    return rows


def fusion_rows(d: dict[str, Any]) -> list[Row]:
    """Hybrid fusion per query in numpy: overhead (hybrid p50 minus the two arms' p50) and ranx agreement."""
    src = "fusion_scifact.json"
    rows: list[Row] = []
    target = d.get("fusion_overhead_target_ms", 0.3)
    for method, over in d.get("fusion_overhead_ms", {}).items():
        alone = _get(d, "fusion_alone", method) or {}
        same = f"{alone.get('queries_identical_to_ranx', '–')}/{alone.get('queries', '–')} rankings = ranx"
        ratio = alone.get("p50_ratio_ours_over_ranx")
        rows.append((f"hybrid {method.upper() if method == 'rrf' else method} fusion overhead per query (SciFact slice)",
                     f"{over:.2f} ms", f"ranx fusion alone {_f(_get(alone, 'ranx_ms', 'p50'), '.2f')} ms",
                     (f"{ratio:.2f}× ranx's time, " if ratio is not None else "") + same, f"≤ {target} ms, = ranx", src))
    return rows


def concurrency_rows(d: dict[str, Any]) -> list[Row]:
    """QPS at 4 client threads, ours / raw faiss of the same index measured in the same rounds, per FAISS group."""
    src = "concurrency.json"
    rows: list[Row] = []
    for g in d.get("groups", []):
        cells = g.get("cells", {})
        raw_name = g.get("raw")
        raw = _get(cells, raw_name, "threads:4")
        ours = {name.rsplit("/", 1)[-1]: c.get("threads:4") for name, c in cells.items() if name != raw_name}
        if not raw or not ours.get("search"):
            continue
        search, invoke = ours["search"], ours.get("invoke") or {}
        rows.append((f"QPS at 4 client threads, {g['group']}, {g.get('n', 0) // 1000}k × {d.get('dim', 384)} (2 cores)",
                     f"search {search['qps']:.0f} QPS (p99 {search['p99_ms']:.1f} ms), invoke {_f(invoke.get('qps'), '.0f')} QPS",
                     f"{raw_name} {raw['qps']:.0f} QPS", f"{search['qps'] / raw['qps']:.2f}× raw (search)",
                     "≥ 0.90× raw (plain)" if "plain" in g["group"] else "", src))
    rows.sort(key=lambda r: "faiss" not in r[0])
    return rows


def filters_rows(d: dict[str, Any]) -> list[Row]:
    """Filtered search at each selectivity: the worst calibrated cell of ours vs raw faiss and LangChain's FAISS."""
    src = "filters.json"
    rows: list[Row] = []
    sels = list(d.get("selectivities", {}))
    by = {}
    for r in d.get("rows", []):
        by.setdefault((r["system"], r["mode"]), {})[r["selectivity"]] = r
    target = d.get("target_recall", 0.98)
    cal = {sys: cells for (sys, mode), cells in by.items() if mode == "calibrated"}
    if cal:
        worst = min((c for cells in cal.values() for c in cells.values()), key=lambda c: c["recall@10"])
        always_k = all(c["min_results"] >= d.get("k", 10) for cells in cal.values() for c in cells.values())
        lc = by.get(("langchain_faiss_flat", "fetch_k=2000"), {})
        raw = by.get(("raw_faiss_hnsw", "default"), {})
        rows.append((f"Selective filters {' / '.join(sels)}, {len(cal)} stores ({', '.join(cal)}), {d['n'] // 1000}k × 384, calibrated policy",
                     f"min recall@10 {worst['recall@10']:.3f}, " + ("k results in every cell" if always_k else "fewer than k somewhere"),
                     f"raw faiss HNSW + IDSelector at {sels[-1]}: {_f(_get(raw, sels[-1], 'recall@10'), '.3f')}; "
                     f"LangChain FAISS fetch_k=2000 at {sels[-1]}: {_f(_get(lc, sels[-1], 'recall@10'), '.3f')} "
                     f"({_get(lc, sels[-1], 'min_results')} results)", "", f"recall ≥ {target} with k results, every cell", src))
        for sys, cells in cal.items():
            rows.append((f"filtered recall@10 / ms per query, {sys}, calibrated",
                         ", ".join(f"{s}: {cells[s]['recall@10']:.3f} / {cells[s]['ms_per_query']:.1f} ms" for s in sels if s in cells),
                         "", "", f"recall ≥ {target}", src))
    return rows


def generic_rows(name: str, d: dict[str, Any]) -> list[Row]:
    """Results that carry their own README rows: ``{"readme_rows": [[what, ours, raw, ratio, goal], ...]}``."""
    return [(*map(str, r[:5]), name) for r in d.get("readme_rows", [])]


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any]], list[Row]] | None]] = [
    ("Foundation: ours vs sentence-transformers + faiss", "foundation.json", foundation_rows),
    ("Redis: ours vs raw redis-py FT.SEARCH", "redis.json", redis_rows),
    ("Cluster prefilter", "cluster_scifact.json", cluster_rows),
    ("Matryoshka funnel", "funnel.json", funnel_rows),
    ("Pairwise reranking", "rerank.json", rerank_rows),
    ("A/B comparison of offline models", "compare_scifact.json", compare_rows),
    ("Hybrid BM25 + dense", "hybrid_scifact.json", hybrid_rows),
    ("Milvus: ours vs raw pymilvus", "milvus.json", milvus_rows),
    ("Images", "images.json", images_rows),
    ("Precomputed vectors", "vectors.json", vectors_rows),
    ("Advisor", "advise_scifact.json", advise_rows),
    ("Redis short re-run (protocol store)", "redis_short.json", redis_short_rows),
    ("Speed at scale", "scale.json", scale_rows),
    ("Hybrid fusion in numpy", "fusion_scifact.json", fusion_rows),
    ("Concurrent clients", "concurrency.json", concurrency_rows),
    ("Selective filters", "filters.json", filters_rows),
    ("Defaults on SciFact", "defaults_scifact.json", defaults_rows),
]


def build() -> str:
    """The full table: every row of every result file in :data:`SECTIONS` (Markdown, no trailing newline)."""
    lines = list(_HEADER)
    for _, name, _fn in SECTIONS:
        lines += [_row_line(r) for r in _rows_of(name)]
    return "\n".join(lines)


def sectioned(level: int = 3) -> str:
    """The full table split by :data:`SECTIONS`: a heading (``level`` #) and a table per result file present.

    Returns:
        Markdown, one ``### title`` + table block per section with rows, no trailing newline.
    """
    parts = []
    for title, name, _fn in SECTIONS:
        rows = _rows_of(name)
        if rows:
            parts.append("\n".join([f"{'#' * level} {title}", "", *_HEADER, *(_row_line(r) for r in rows)]))
    return "\n\n".join(parts)


# The README's headline rows: (result file, start of the row's first cell). One row each, in this order.
HEADLINE: list[tuple[str, str]] = [
    ("foundation.json", "SciFact nDCG@10, MiniLM 384-d flat"),
    ("foundation.json", "PCA rotation vs truncation, 64-d"),
    ("foundation.json", "int8 index"),
    ("foundation.json", "binary index"),
    ("foundation.json", "query latency p50"),
    ("redis.json", "SciFact nDCG@10 Redis FLAT vs FAISS flat, 384-d"),
    ("milvus.json", "SciFact nDCG@10 Milvus HNSW"),
    ("hybrid_scifact.json", "SciFact nDCG@10 hybrid (linear"),
    ("advise_scifact.json", "advisor winner on SciFact"),
    ("compare_scifact.json", "compare mpnet@full"),
    ("scale.json", "1M × 384 realistic: funnel, 192-d hnsw_sq8"),
    ("fusion_scifact.json", "hybrid RRF fusion overhead"),
    ("concurrency.json", "QPS at 4 client threads, faiss plain (hnsw)"),
    ("filters.json", "Selective filters"),
    ("defaults_scifact.json", "SciFact nDCG@10 kept, cluster defaults"),
]
_HEADER = ["| benchmark | ours | raw library | ratio / diff | goal | source |", "|---|---|---|---|---|---|"]


def _row_line(r: Row) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |"


def _rows_of(name: str) -> list[Row]:
    d = _load(name)
    fn = next((f for _, n, f in SECTIONS if n == name), None)
    if d is None:
        return []
    return fn(d) if fn else generic_rows(name, d)


def headline() -> str:
    """The README's short table: the rows named in :data:`HEADLINE` (a missing result file drops its row).

    Returns:
        A Markdown table (header + one line per row found), no trailing newline.
    """
    lines = list(_HEADER)
    for name, start in HEADLINE:
        lines += [_row_line(r) for r in _rows_of(name) if r[0].startswith(start)][:1]
    return "\n".join(lines)


def readme_block() -> str:
    """The README text between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` (markers included)."""
    return f"<!-- bench:start -->\n{headline()}\n<!-- bench:end -->"


def growth_table() -> str:
    """``results/scale_growth.md`` without its title, headings one level down (``####``); '' when absent."""
    growth = RESULTS / "scale_growth.md"
    if not growth.exists():
        return ""
    return growth.read_text().split("\n", 2)[2].replace("\n## ", "\n#### ").strip()


def projection_table() -> str:
    """``results/scale_projection.md`` without its title, headings one level down; '' when absent."""
    proj = RESULTS / "scale_projection.md"
    if not proj.exists():
        return ""
    return proj.read_text().split("\n", 2)[2].replace("\n## ", "\n#### ").strip()


def rewrite_readme(text: str) -> str:
    """``text`` (the README) with its bench block replaced by :func:`readme_block`.

    Raises:
        ValueError: the README has no ``<!-- bench:start -->`` ... ``<!-- bench:end -->`` block.
    """
    pattern = re.compile(r"<!-- bench:start -->.*?<!-- bench:end -->", flags=re.S)
    if not pattern.search(text):
        raise ValueError("README.md has no <!-- bench:start --> ... <!-- bench:end --> block")
    return pattern.sub(lambda _: readme_block(), text)


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    if "--full" in args:
        print(build())
        return 0
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = rewrite_readme(text)
    if "--check" in args:
        if new != text:
            print("README.md's benchmark block is out of date: run .venv/bin/python benchmarks/make_table.py")
            return 1
        return 0
    readme.write_text(new)
    print(headline())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
