"""Make a small labelled video set offline: clips (slideshows of the bundled shape images), image queries.

Each clip is an H.264 MP4 (PyAV / FFmpeg, yuv444p, crf 10) showing ``--per-clip`` images of the bundled
shape set (``langchain_embcompare/data/images/corpus``) for ``--seconds`` seconds each. ``--queries``
images are each shown in exactly ``--repeats`` clips; a query is that image and its relevant documents
are the clips that show it (grade 1). The other slots hold other images of the set, so same-shape
images of other colours are in other clips: a clip has to be found by the image it shows, not by its
shape class. Clips are long relative to one image, so mean pooling dilutes the query's image by the
clip's others, while per-segment vectors (``VideoEmbeddings.segment_documents``) find the moment.

Output (``--out``; default ``$EMBCOMPARE_CACHE/data/video-shapes``, else
``~/.cache/langchain_embcompare/data/video-shapes``)::

    corpus.jsonl   {"_id": "clip-07", "video": "clips/clip-07.mp4", "text": "star-03 circle-11 ...", "metadata": {"shows": "star-03 circle-11 ...", "seconds_per_image": 2.0}}
    queries.jsonl  {"_id": "q-star-03", "image": "queries/star-03.png"}
    qrels/test.tsv query-id, corpus-id, 1 for every clip that shows the query image

    python scripts/make_video_set.py                                   # 40 clips x 6 images x 2 s, 30 queries
    python scripts/make_video_set.py --clips 3 --per-clip 3 --seconds 1 --queries 2 --out tests/data/video-small
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from langchain_embcompare.evaluation.datasets import write_beir
from langchain_embcompare.media.video import write_slideshow

IMAGES = Path(__file__).resolve().parents[1] / "langchain_embcompare" / "data" / "images" / "corpus"


def default_out() -> Path:
    env = os.environ.get("EMBCOMPARE_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "langchain_embcompare"
    return base / "data" / "video-shapes"


def plan(names: list[str], clips: int, per_clip: int, queries: int, repeats: int, seed: int) -> tuple[list[list[str]], list[str]]:
    """Which images each clip shows: every query image in ``repeats`` different clips, the other slots
    filled with non-query images (each used once while they last). Returns (clips, query images)."""
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    chosen, fillers = order[:queries], order[queries:]
    if queries * repeats > clips * per_clip:
        sys.exit("too many query slots: --queries x --repeats must be <= --clips x --per-clip")
    if repeats > clips:
        sys.exit("--repeats must be <= --clips")
    slots: list[list[str]] = [[] for _ in range(clips)]
    for q in chosen:  # each query image into the `repeats` emptiest clips (ties: random)
        free = sorted(range(clips), key=lambda c: (len(slots[c]), rng.random()))
        for c in free[:repeats]:
            slots[c].append(q)
    filler = iter(fillers * (1 + clips * per_clip // max(1, len(fillers))))
    for c in range(clips):
        while len(slots[c]) < per_clip:
            slots[c].append(next(filler))
        slots[c] = [slots[c][i] for i in rng.permutation(per_clip)]
    return slots, chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: the package cache)")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--per-clip", type=int, default=6, help="images shown per clip")
    ap.add_argument("--seconds", type=float, default=2.0, help="seconds each image is shown")
    ap.add_argument("--fps", type=int, default=4, help="frame rate of the encoded clips")
    ap.add_argument("--queries", type=int, default=30, help="query images")
    ap.add_argument("--repeats", type=int, default=2, help="clips showing each query image")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    names = sorted(p.stem for p in IMAGES.glob("*.png"))
    slots, chosen = plan(names, args.clips, args.per_clip, args.queries, args.repeats, args.seed)
    out = args.out or default_out()
    for sub in ("clips", "queries", "qrels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    corpus, qrels = [], []
    for c, shows in enumerate(slots):
        cid = f"clip-{c:02d}"
        write_slideshow(str(out / "clips" / f"{cid}.mp4"), [str(IMAGES / f"{n}.png") for n in shows], args.seconds, args.fps)
        text = " ".join(shows)
        corpus.append({"_id": cid, "video": f"clips/{cid}.mp4", "text": text, "metadata": {"shows": text, "seconds_per_image": args.seconds}})
    queries = []
    for q in chosen:
        shutil.copyfile(IMAGES / f"{q}.png", out / "queries" / f"{q}.png")
        queries.append({"_id": f"q-{q}", "image": f"queries/{q}.png"})
        qrels += [(f"q-{q}", f"clip-{c:02d}") for c, shows in enumerate(slots) if q in shows]
    write_beir(out, corpus, queries, qrels)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out}: {len(corpus)} clips of {args.per_clip * args.seconds:g} s, {len(queries)} image queries, {size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
