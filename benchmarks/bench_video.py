"""Clip retrieval on the generated video set: mean-pooled clip vectors against per-segment vectors.

Data: ``scripts/make_video_set.py`` (40 H.264 clips, each a 12 s slideshow of 6 bundled shape images, 2 s
each; 30 query images, each shown in exactly 2 clips; relevant = the clips that show the query image).
Generated into the package cache if missing.

Model: ``VideoEmbeddings(ImageEmbeddings("efficientnet-lite0"), fps=1)`` (frames sampled once a second,
embedded by the image model). Two ways to index the same clips, both through ``MatryoshkaEmbeddings`` ->
``FaissVectorStore`` (exact, cosine):

- **mean-pooled**: one vector per clip (the mean of its frames);
- **per-segment**: ``VideoEmbeddings.segment_documents`` (``--segments`` seconds per segment), the clip's score
  for a query = its best segment's score (max over segments), clips ranked by it.

Metrics: nDCG@10 and recall@10 (pytrec_eval) over clips; for per-segment, also "moment@1": the share of
queries whose best segment actually shows the query image (the segment's time range covers one of the
2 s slots where the image is on screen).

    python benchmarks/bench_video.py [--data DIR] [--segments 2,4] [--out benchmarks/results/video.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.media.video import VideoEmbeddings  # noqa: E402
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore  # noqa: E402

METRICS = ("ndcg@10", "recall@10")


def mean_pooled(emb: MatryoshkaEmbeddings, ds) -> dict:
    t0 = time.perf_counter()
    store = FaissVectorStore(emb, FaissIndexSpec(kind="flat", metric="cosine"))
    store.add_documents(ds.corpus)
    index_s = time.perf_counter() - t0
    qids, qrefs = list(ds.queries), list(ds.queries.values())
    hits = store.search_vectors(emb.encode_queries(qrefs), k=10)
    run = {qid: {d.id: float(s) for d, s in h} for qid, h in zip(qids, hits)}
    scores = evaluate_run(run, ds.qrels, metrics=METRICS)
    return {"method": "mean-pooled", "vectors": len(ds.corpus), "index_seconds": round(index_s, 1), **{k: round(v, 4) for k, v in scores.items()}}


def per_segment(emb: MatryoshkaEmbeddings, video: VideoEmbeddings, ds, seconds: float) -> dict:
    t0 = time.perf_counter()
    docs = video.segment_documents(ds.texts, seconds, [dict(d.metadata) for d in ds.corpus])
    store = FaissVectorStore(emb, FaissIndexSpec(kind="flat", metric="cosine"))
    store.add_documents(docs)
    index_s = time.perf_counter() - t0
    qids, qrefs = list(ds.queries), list(ds.queries.values())
    hits = store.search_vectors(emb.encode_queries(qrefs), k=len(docs))
    run, moment = {}, 0
    for qid, h in zip(qids, hits):
        best: dict[str, float] = {}
        for doc, score in h:  # best segment per clip, in score order
            clip = doc.metadata["doc_id"].split("#")[0]
            best.setdefault(clip, float(score))
        run[qid] = dict(list(best.items())[:10])
        top = h[0][0].metadata
        per = float(top["seconds_per_image"])
        shown = top["shows"].split()
        slots = {shown[i] for i in range(len(shown)) if i * per < top["end"] - 1e-6 and (i + 1) * per > top["start"] + 1e-6}
        moment += qid[2:] in slots  # q-<image name>
    scores = evaluate_run(run, ds.qrels, metrics=METRICS)
    return {
        "method": f"per-segment ({seconds:g} s)", "vectors": len(docs), "index_seconds": round(index_s, 1),
        **{k: round(v, 4) for k, v in scores.items()}, "moment@1": round(moment / len(qids), 4),
    }


def main() -> None:
    import make_video_set

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="the video set (default: generated into the package cache)")
    p.add_argument("--segments", default="2,4", help="segment lengths in seconds, comma-separated")
    p.add_argument("--fps", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "video.json")
    a = p.parse_args()
    data = a.data or make_video_set.default_out()
    if not (data / "corpus.jsonl").exists():
        make_video_set.main(["--out", str(data)])
    ds = load_beir(data)
    video = VideoEmbeddings("efficientnet-lite0", fps=a.fps)
    emb = MatryoshkaEmbeddings(video, cache_dir=None)
    result: dict = {
        "dataset": {"generator": "scripts/make_video_set.py", "clips": len(ds.corpus), "queries": len(ds.queries),
                    "relevance": "the clips that show the query image (2 per query)"},
        "model": video.model_id,
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(), "python": platform.python_version()},
        "runs": [],
    }
    result["runs"].append(mean_pooled(emb, ds))
    print(result["runs"][-1], flush=True)
    for seconds in (float(s) for s in a.segments.split(",")):
        result["runs"].append(per_segment(emb, video, ds, seconds))
        print(result["runs"][-1], flush=True)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
