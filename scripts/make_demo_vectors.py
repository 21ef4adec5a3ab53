"""Build the bundled precomputed-vector table of the demo set: langchain_embcompare/data/demo/vectors.parquet.

Two offline models embed the 300 demo documents and 44 queries ("title text" for documents, as the
BEIR loader builds them): all-MiniLM-L6-v2 (384 d) and its model2vec static distillation (256 d). The
vectors are unit length, float32, written as ``fixed_size_list<float>`` columns ``minilm`` and
``static``, with ``_id`` and ``kind`` (``document`` / ``query``) columns: one table, both roles.

    python scripts/make_demo_vectors.py           # (re)write the table
    python scripts/make_demo_vectors.py --check   # re-embed and compare with the committed table (max abs diff)

Runs offline (models from PyPI packages, see /work/shared/MODELS.md); a minute or two on 2 CPUs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = {"minilm": "all-MiniLM-L6-v2", "static": "static-minilm"}
TARGET = ROOT / "langchain_embcompare" / "data" / "demo" / "vectors.parquet"


def build() -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    from langchain_embcompare.data import demo_dataset_path
    from langchain_embcompare.evaluation.datasets import load_beir
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    ds = load_beir(demo_dataset_path())
    ids = [d.id for d in ds.corpus] + list(ds.queries)
    kinds = ["document"] * len(ds.corpus) + ["query"] * len(ds.queries)
    columns = {}
    for column, model in MODELS.items():
        emb = MatryoshkaEmbeddings(model, cache_dir=None)
        columns[column] = np.concatenate([emb.encode_documents(ds.texts), emb.encode_queries(list(ds.queries.values()))])
        print(f"{column}: {model}, {columns[column].shape}", flush=True)
    return ids, kinds, columns


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids, kinds, columns = build()
    if args.check:
        from langchain_embcompare.precomputed import load_vectors

        table = load_vectors(TARGET)
        assert table.ids == ids, "ids differ from the committed table"
        for name, m in columns.items():
            diff = float(np.abs(table.column(name) - m).max())
            print(f"{name}: max abs difference {diff:.2e}")
            if diff > 1e-4:
                raise SystemExit(f"{name}: the committed table differs from a fresh embedding by {diff:.2e}")
        return
    arrays = {"_id": pa.array(ids), "kind": pa.array(kinds)}
    for name, m in columns.items():
        arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(m.astype(np.float32).ravel()), m.shape[1])
    # byte-stream-split + zstd: float columns shrink ~20% (dictionary encoding would grow them)
    pq.write_table(
        pa.table(arrays), TARGET, compression="zstd", compression_level=19, use_dictionary=["_id", "kind"],
        use_byte_stream_split=[f"{name}.list.element" for name in columns],
    )
    print(f"wrote {TARGET} ({TARGET.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
