"""Speaker retrieval on the generated espeak-ng speech set with Resemblyzer, through the package's own path.

Data: ``scripts/make_audio_set.py`` (12 speakers = espeak-ng voice + variant + pitch + speed over 8 English
voices; each says the same 30 Harvard sentences as corpus documents, and 5 sentences that are in no document
as queries; relevant = every document of the query's speaker). Generated into the package cache if missing.

Quality: ``AudioEmbeddings("resemblyzer")`` -> ``MatryoshkaEmbeddings`` at 256 / 128 / 64 / 32 d, float32 /
int8 / binary, without and with a PCA rotation fitted on the corpus -> ``FaissVectorStore`` (exact, cosine)
-> precision@1 and nDCG@10 (pytrec_eval). Resemblyzer's vectors are non-negative (ReLU before the L2 norm),
so ``binary`` without a rotation is refused by the package (every sign bit would be 1): recorded as refused.
"PCA gain" = metric with the rotation minus without, per dim x precision.

Equality and speed: every file embedded by ``AudioEmbeddings.encode`` (decode in threads, one batched LSTM pass
over all partial windows) and by raw Resemblyzer (``embed_utterance(preprocess_wav(path))`` per file):
minimum cosine between the two, and files/s of each (median of ``--rounds``, alternating).

    python benchmarks/bench_audio.py [--data DIR] [--rounds 3] [--out benchmarks/results/audio.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from langchain_embcompare.errors import InvalidParameterError  # noqa: E402
from langchain_embcompare.evaluation.datasets import load_beir  # noqa: E402
from langchain_embcompare.evaluation.metrics import evaluate_run  # noqa: E402
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings  # noqa: E402
from langchain_embcompare.media.audio import AudioEmbeddings  # noqa: E402
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore  # noqa: E402

DIMS = (256, 128, 64, 32)
PRECISIONS = ("float32", "int8", "binary")
METRICS = ("precision@1", "ndcg@10")


def quality(audio: AudioEmbeddings, ds) -> list[dict]:
    base = MatryoshkaEmbeddings(audio, cache_dir=None)
    qids, qrefs = list(ds.queries), list(ds.queries.values())
    t0 = time.perf_counter()
    base.encode_documents(ds.texts)
    base.encode_queries(qrefs)  # every setting below reuses these vectors (in-memory cache)
    encode_s = time.perf_counter() - t0
    rotated = base.fit_rotation(ds.texts)
    rows = []
    for dim in DIMS:
        for precision in PRECISIONS:
            for rotation in ("none", "pca"):
                emb = (rotated if rotation == "pca" else base).with_dim(dim, precision=precision)
                row = {"dim": dim, "precision": precision, "rotation": rotation}
                try:
                    store = FaissVectorStore(emb, FaissIndexSpec(kind="flat", metric="cosine"))
                    store.add_documents(ds.corpus)
                except InvalidParameterError as exc:
                    rows.append({**row, "refused": str(exc)[:160]})
                    print(rows[-1], flush=True)
                    continue
                hits = store.search_vectors(emb.encode_queries(qrefs), k=10)
                run = {qid: {d.id: float(s) for d, s in h} for qid, h in zip(qids, hits)}
                scores = evaluate_run(run, ds.qrels, metrics=METRICS)
                rows.append({**row, **{k: round(v, 4) for k, v in scores.items()}})
                print(rows[-1], flush=True)
    rows[0]["encode_seconds_all_files"] = round(encode_s, 1)
    return rows


def pca_gain(rows: list[dict]) -> dict:
    by = {(r["dim"], r["precision"], r["rotation"]): r for r in rows if "refused" not in r}
    out = {}
    for (dim, precision, rot), r in by.items():
        if rot == "pca" and (dim, precision, "none") in by:
            base = by[(dim, precision, "none")]
            out[f"{dim}d-{precision}"] = {m: round(r[m] - base[m], 4) for m in METRICS}
    return out


def equality_and_speed(audio: AudioEmbeddings, paths: list[str], rounds: int) -> dict:
    from resemblyzer import preprocess_wav

    enc = audio.backbone.encoder

    def raw() -> np.ndarray:
        return np.stack([enc.embed_utterance(preprocess_wav(p)) for p in paths])

    audio.encode(paths[:2])
    raw_two = np.stack([enc.embed_utterance(preprocess_wav(p)) for p in paths[:2]])  # warm-ups
    del raw_two
    ours_s, raw_s = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ours = audio.encode(paths)
        ours_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = raw()
        raw_s.append(time.perf_counter() - t0)
        print(f"ours {ours_s[-1]:.2f} s, raw {raw_s[-1]:.2f} s", flush=True)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    o, r = statistics.median(ours_s), statistics.median(raw_s)
    return {
        "files": len(paths),
        "min_cosine_ours_vs_raw_resemblyzer": round(float(cos.min()), 6),
        "ours_files_per_second": round(len(paths) / o, 2),
        "raw_files_per_second": round(len(paths) / r, 2),
        "ratio": round(r / o, 3),
        "ours_seconds": [round(s, 2) for s in ours_s],
        "raw_seconds": [round(s, 2) for s in raw_s],
        "decode_threads": audio.loader.num_workers,
    }


def main() -> None:
    import make_audio_set

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="the speech set (default: generated into the package cache)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "audio.json")
    a = p.parse_args()
    data = a.data or make_audio_set.default_out()
    if not (data / "corpus.jsonl").exists():
        make_audio_set.main(["--out", str(data)])
    ds = load_beir(data)
    audio = AudioEmbeddings()
    result: dict = {
        "dataset": {"generator": "scripts/make_audio_set.py", "documents": len(ds.corpus), "queries": len(ds.queries),
                    "speakers": len({d.metadata["speaker"] for d in ds.corpus}), "relevance": "same speaker (new sentence)"},
        "model": audio.model_id,
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(), "python": platform.python_version(),
                    "note": "2 cores shared with other jobs: absolute speeds are noisy; the ratio is what counts"},
    }
    rows = quality(audio, ds)
    result["quality"] = rows
    result["pca_rotation_gain"] = pca_gain(rows)
    paths = ds.texts + list(ds.queries.values())
    result["equality_and_speed"] = equality_and_speed(audio, paths, a.rounds)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["equality_and_speed"], indent=1))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
