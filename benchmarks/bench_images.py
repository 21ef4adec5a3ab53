"""Image -> image retrieval through the package's own path, and its throughput against raw torch.

Quality: the labelled shape set (``langchain_embcompare/data/images``, made by ``scripts/make_image_set.py``:
200 corpus images, 30 held-out query images, relevant = same shape class). EfficientNet-Lite0 with its
ImageNet weights against the same architecture with random weights (seed 0), each through
``MatryoshkaEmbeddings`` -> ``FaissVectorStore`` (exact, cosine) -> nDCG@10 / Recall@100 / MRR@10 (pytrec_eval),
at the full 1,280 d and cut to 256 / 128 / 64 d, without and with a PCA rotation fitted on the corpus.

Throughput: the same batch of image files embedded by ``ImageEmbeddings.encode`` (decode in threads +
preprocess + forward) and by a plain torch loop written here (PIL decode, the same resize / crop /
normalise in numpy, one ``torch.stack``, ``extract_features(x).mean((2, 3))`` under ``inference_mode``),
alternating, ``--rounds`` times each; ratio = our images/s / raw images/s (median of rounds). The two
outputs are also compared element-wise.

    python benchmarks/bench_images.py [--rounds 3] [--batch 32] [--out benchmarks/results/images.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langchain_embcompare.evaluation.datasets import load_beir
from langchain_embcompare.evaluation.metrics import evaluate_run
from langchain_embcompare.media.images import ImageEmbeddings
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

DATA = ROOT / "langchain_embcompare" / "data" / "images"
DIMS = (None, 256, 128, 64)


def quality(name: str, ds) -> list[dict]:
    """nDCG@10 etc. of model ``name`` at every dim x rotation, through the FAISS store."""
    base = MatryoshkaEmbeddings(name, cache_dir=None)
    t0 = time.perf_counter()
    base.encode_documents(ds.texts)  # encodes once; every setting below reuses the in-memory cache
    qids, qrefs = list(ds.queries), list(ds.queries.values())
    base.encode_queries(qrefs)
    encode_s = time.perf_counter() - t0
    rows = []
    for dim in DIMS:
        for rotation in ("none", "pca"):
            emb = base.with_dim(dim)
            if rotation == "pca":
                emb = emb.fit_rotation(ds.texts)
            store = FaissVectorStore(emb, FaissIndexSpec(kind="flat", metric="cosine"))
            store.add_documents(ds.corpus)
            hits = store.search_vectors(emb.encode_queries(qrefs), k=100)
            run = {qid: {d.id: float(s) for d, s in h} for qid, h in zip(qids, hits)}
            scores = evaluate_run(run, ds.qrels)
            rows.append({"model": name, "dim": dim or emb.output_dim, "rotation": rotation, **{k: round(v, 4) for k, v in scores.items()}})
            print(rows[-1], flush=True)
    rows[0]["encode_seconds_230_images"] = round(encode_s, 1)
    return rows


def raw_torch(emb: ImageEmbeddings, paths: list[str]) -> np.ndarray:
    """The baseline: decode, transform and run the backbone directly, no package code on the path."""
    import torch
    from PIL import Image

    size, scale = 224, math.floor(224 / 0.875)
    mean, std = np.float32(0.5), np.float32(0.5)
    arrays = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")
            w, h = im.size
            nw, nh = (scale, max(scale, round(scale * h / w))) if w <= h else (max(scale, round(scale * w / h)), scale)
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
            a = (np.asarray(im, dtype=np.float32) / 255 - mean) / std
            arrays.append(a.transpose(2, 0, 1))
    model = emb.backbone.module
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(np.stack(arrays)))
        return model.extract_features(x).mean(dim=(2, 3)).numpy()


def throughput(paths: list[str], rounds: int) -> dict:
    emb = ImageEmbeddings(batch_size=len(paths))
    emb.encode(paths[:2])
    raw_torch(emb, paths[:2])  # warm-ups
    ours_s, raw_s = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ours = emb.encode(paths)
        ours_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        raw = raw_torch(emb, paths)
        raw_s.append(time.perf_counter() - t0)
        print(f"ours {ours_s[-1]:.2f} s, raw {raw_s[-1]:.2f} s", flush=True)
    o, r = statistics.median(ours_s), statistics.median(raw_s)
    return {
        "batch_images": len(paths),
        "rounds": rounds,
        "ours_seconds": [round(s, 3) for s in ours_s],
        "raw_torch_seconds": [round(s, 3) for s in raw_s],
        "ours_images_per_second": round(len(paths) / o, 2),
        "raw_torch_images_per_second": round(len(paths) / r, 2),
        "ratio": round(r / o, 3),
        "max_abs_difference": float(np.abs(ours - raw).max()),
        "decode_threads": emb.num_workers,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "images.json")
    p.add_argument("--skip-quality", action="store_true")
    a = p.parse_args()
    ds = load_beir(DATA)
    result: dict = {
        "dataset": {"path": str(DATA.relative_to(ROOT)), "documents": len(ds.corpus), "queries": len(ds.queries), "relevance": "same shape class"},
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(), "python": platform.python_version(), "note": "2 cores shared with other jobs: absolute speeds are low and noisy; the ratio is what counts"},
    }
    result["throughput"] = throughput(ds.texts[: a.batch], a.rounds)
    if not a.skip_quality:
        rows = quality("efficientnet-lite0", ds) + quality("efficientnet-lite0@random", ds)
        result["quality"] = rows
        pre = {(r["dim"], r["rotation"]): r["ndcg@10"] for r in rows if r["model"] == "efficientnet-lite0"}
        rnd = {(r["dim"], r["rotation"]): r["ndcg@10"] for r in rows if r["model"] != "efficientnet-lite0"}
        result["ndcg@10_pretrained_minus_random"] = {f"{d}-{rot}": round(pre[(d, rot)] - rnd[(d, rot)], 4) for d, rot in pre}
    result["machine"]["load_average_at_end"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result.get("throughput"), indent=1))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
