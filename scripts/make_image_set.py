"""Make the small labelled image set (a BEIR folder) used by tests, the image example and the benchmark.

Ten shape classes (circle, square, triangle, star, cross, ring, crescent, arrow, stripes, checkerboard),
drawn with Pillow at a random size, position, rotation, foreground and background colour, so that colour
and position carry no class information: only the shape does. Each class has ``--docs`` corpus images
and ``--queries`` held-out query images (drawn from other random settings); a query is relevant to every
corpus image of its class (grade 1).

Output (``langchain_embcompare/data/images`` by default)::

    corpus.jsonl    {"_id": "circle-00", "image": "corpus/circle-00.png", "title": "", "text": "red circle on grey", "metadata": {"label": "circle"}}
    queries.jsonl   {"_id": "q-circle-0", "image": "queries/circle-0.png", "text": "blue circle on white"}
    qrels/test.tsv  query-id  corpus-id  score
    corpus/*.png, queries/*.png

Deterministic: the same ``--seed`` gives byte-identical files. Run: ``python scripts/make_image_set.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring", "crescent", "arrow", "stripes", "checkerboard")
COLOURS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40),
    "purple": (140, 60, 180), "orange": (240, 140, 30), "black": (20, 20, 20), "white": (245, 245, 245),
    "grey": (140, 140, 140), "cyan": (40, 200, 210),
}
ROOT = Path(__file__).resolve().parents[1] / "langchain_embcompare" / "data" / "images"


def _rotate(points: list[tuple[float, float]], cx: float, cy: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in points]


def draw_shape(label: str, size: int, rng: random.Random) -> tuple[Image.Image, str]:
    """One ``size`` x ``size`` RGB image of class ``label``; returns it and a caption ("red star on blue")."""
    fg_name, bg_name = rng.sample(sorted(COLOURS), 2)
    fg, bg = COLOURS[fg_name], COLOURS[bg_name]
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.38) * size
    cx, cy = rng.uniform(r + 2, size - r - 2), rng.uniform(r + 2, size - r - 2)
    a = rng.uniform(0, 2 * math.pi)
    box = (cx - r, cy - r, cx + r, cy + r)
    if label == "circle":
        d.ellipse(box, fill=fg)
    elif label == "ring":
        d.ellipse(box, outline=fg, width=max(3, int(r * 0.3)))
    elif label == "square":
        pts = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
        d.polygon(_rotate(pts, cx, cy, a), fill=fg)
    elif label == "triangle":
        pts = [(cx + r * math.cos(a + k * 2 * math.pi / 3), cy + r * math.sin(a + k * 2 * math.pi / 3)) for k in range(3)]
        d.polygon(pts, fill=fg)
    elif label == "star":
        pts = [
            (cx + (r if k % 2 == 0 else r * 0.42) * math.cos(a + k * math.pi / 5), cy + (r if k % 2 == 0 else r * 0.42) * math.sin(a + k * math.pi / 5))
            for k in range(10)
        ]
        d.polygon(pts, fill=fg)
    elif label == "cross":
        w = r * 0.33
        for pts in ([(cx - r, cy - w), (cx + r, cy - w), (cx + r, cy + w), (cx - r, cy + w)], [(cx - w, cy - r), (cx + w, cy - r), (cx + w, cy + r), (cx - w, cy + r)]):
            d.polygon(_rotate(pts, cx, cy, a), fill=fg)
    elif label == "crescent":
        d.ellipse(box, fill=fg)
        ox, oy = cx + 0.45 * r * math.cos(a), cy + 0.45 * r * math.sin(a)
        d.ellipse((ox - r * 0.85, oy - r * 0.85, ox + r * 0.85, oy + r * 0.85), fill=bg)
    elif label == "arrow":
        w = r * 0.22
        pts = [(cx - r, cy - w), (cx + 0.2 * r, cy - w), (cx + 0.2 * r, cy - 2.2 * w), (cx + r, cy), (cx + 0.2 * r, cy + 2.2 * w), (cx + 0.2 * r, cy + w), (cx - r, cy + w)]
        d.polygon(_rotate(pts, cx, cy, a), fill=fg)
    elif label == "stripes":
        n = rng.randint(3, 6)
        step = size / (2 * n)
        for k in range(-2 * n, 4 * n):
            x0 = k * 2 * step
            pts = [(x0, -size), (x0 + step, -size), (x0 + step, 2 * size), (x0, 2 * size)]
            d.polygon(_rotate(pts, size / 2, size / 2, a), fill=fg)
    elif label == "checkerboard":
        n = rng.randint(3, 6)
        step = size / n
        for i in range(n):
            for j in range(n):
                if (i + j) % 2 == 0:
                    d.rectangle((i * step, j * step, (i + 1) * step - 1, (j + 1) * step - 1), fill=fg)
    else:  # pragma: no cover
        raise ValueError(label)
    return img, f"{fg_name} {label} on {bg_name}"


def make(root: Path, docs: int = 20, queries: int = 3, size: int = 64, seed: int = 0) -> dict[str, int]:
    """Write the BEIR folder under ``root``; returns counts {"documents": n, "queries": m, "bytes": b}."""
    rng = random.Random(seed)
    for sub in ("corpus", "queries", "qrels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for old in (root / sub).glob("*.png"):
            old.unlink()
    corpus_rows, query_rows, qrels = [], [], []
    for label in CLASSES:
        ids = []
        for i in range(docs):
            img, caption = draw_shape(label, size, rng)
            rel = f"corpus/{label}-{i:02d}.png"
            img.save(root / rel, optimize=True)
            ids.append(f"{label}-{i:02d}")
            corpus_rows.append({"_id": ids[-1], "image": rel, "title": "", "text": caption, "metadata": {"label": label}})
        for j in range(queries):
            img, caption = draw_shape(label, size, rng)
            rel = f"queries/{label}-{j}.png"
            img.save(root / rel, optimize=True)
            qid = f"q-{label}-{j}"
            query_rows.append({"_id": qid, "image": rel, "text": caption})
            qrels.extend((qid, doc_id, 1) for doc_id in ids)
    with (root / "corpus.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in corpus_rows)
    with (root / "queries.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in query_rows)
    with (root / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q}\t{d}\t{s}\n" for q, d, s in qrels)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {"documents": len(corpus_rows), "queries": len(query_rows), "bytes": total}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT)
    p.add_argument("--docs", type=int, default=20, help="corpus images per class")
    p.add_argument("--queries", type=int, default=3, help="held-out query images per class")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    print(make(a.out, a.docs, a.queries, a.size, a.seed))


if __name__ == "__main__":
    main()
