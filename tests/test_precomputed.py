"""Precomputed vectors: loaders per format (good, malformed, mixed dimensions, NaN, non-unit),
PrecomputedEmbeddings lookups, the bulk FAISS path, and the pipeline/compare/CLI wiring (fakes only)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import (
    DimensionMismatchError,
    InvalidParameterError,
    InvalidVectorError,
    MissingVectorError,
)
from langchain_embcompare.evaluation.datasets import BeirDataset
from langchain_embcompare.precomputed import (
    DOCUMENT_ROLE,
    QUERY_ROLE,
    PrecomputedEmbeddings,
    faiss_store_from_vectors,
    load_vectors,
    precomputed_from_dataset,
    vector_columns,
)

DIM = 8


def unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fsl(m: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), m.shape[1])


IDS = [f"d{i}" for i in range(6)]
A, B = unit(6, seed=1), unit(6, 4, seed=2)


# --------------------------------------------------------------------------- formats


def test_parquet_fixed_and_variable_lists(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"_id": IDS, "a": fsl(A), "b": [r.tolist() for r in B], "note": ["x"] * 6}), path)
    t = load_vectors(path)
    assert t.ids == IDS and t.id_column == "_id"
    assert t.dims == {"a": 8, "b": 4}  # the string column is not a model
    np.testing.assert_array_equal(t.column("a"), A)
    np.testing.assert_allclose(t.column("b"), B, atol=0)
    assert t.column("a").dtype == np.float32 and t.column("a").flags.c_contiguous
    assert vector_columns(path) == ["a", "b"]
    assert list(load_vectors(path, vector_columns=["b"]).columns) == ["b"]


def test_parquet_multiple_row_groups_and_float64(tmp_path):
    path = tmp_path / "t.parquet"
    table = pa.table({"id": IDS, "a": [r.astype(np.float64).tolist() for r in A]})
    pq.write_table(table, path, row_group_size=2)
    t = load_vectors(path)
    assert t.id_column == "id"  # falls back to `id`
    np.testing.assert_allclose(t.column("a"), A, atol=1e-7)


def test_parquet_mixed_dimensions_names_file_and_row(tmp_path):
    path = tmp_path / "mixed.parquet"
    rows = [r.tolist() for r in A]
    rows[3] = rows[3][:5]
    pq.write_table(pa.table({"_id": IDS, "a": rows}), path, row_group_size=2)
    with pytest.raises(DimensionMismatchError, match=r"mixed\.parquet: column 'a', row 3 \(id 'd3'\) has 5 dimensions but row 0 has 8"):
        load_vectors(path)


def test_parquet_nan_null_zero_and_non_float(tmp_path):
    bad = A.copy()
    bad[4, 2] = np.nan
    pq.write_table(pa.table({"_id": IDS, "a": fsl(bad)}), tmp_path / "nan.parquet")
    with pytest.raises(InvalidVectorError, match=r"nan\.parquet: column 'a', row 4 \(id 'd4'\) holds NaN"):
        load_vectors(tmp_path / "nan.parquet")
    rows = [r.tolist() for r in A]
    rows[2] = None
    pq.write_table(pa.table({"_id": IDS, "a": rows}), tmp_path / "null.parquet")
    with pytest.raises(InvalidVectorError, match=r"row 2 \(id 'd2'\) is null"):
        load_vectors(tmp_path / "null.parquet")
    zero = A.copy()
    zero[1] = 0
    pq.write_table(pa.table({"_id": IDS, "a": fsl(zero)}), tmp_path / "zero.parquet")
    with pytest.raises(InvalidVectorError, match=r"row 1 \(id 'd1'\) is a zero vector"):
        load_vectors(tmp_path / "zero.parquet", normalize=True)  # normalize cannot rescue a zero vector
    pq.write_table(pa.table({"_id": IDS, "a": [[1, 2]] * 6}), tmp_path / "int.parquet")
    with pytest.raises(InvalidParameterError, match="not floats"):
        load_vectors(tmp_path / "int.parquet")


def test_non_unit_refused_by_default_and_renormalised_on_request(tmp_path):
    scaled = A * np.arange(1, 7, dtype=np.float32)[:, None]
    pq.write_table(pa.table({"_id": IDS, "a": fsl(scaled)}), tmp_path / "s.parquet")
    with pytest.raises(InvalidVectorError, match=r"row 1 \(id 'd1'\) has L2 norm 2, not 1.*normalize=True"):
        load_vectors(tmp_path / "s.parquet")
    t = load_vectors(tmp_path / "s.parquet", normalize=True)
    np.testing.assert_allclose(t.column("a"), A, atol=1e-6)
    assert t.report["renormalised_rows"] == {"a": 5}
    # within tolerance: accepted untouched
    near = A * np.float32(1 + 5e-4)
    pq.write_table(pa.table({"_id": IDS, "a": fsl(near)}), tmp_path / "n.parquet")
    np.testing.assert_array_equal(load_vectors(tmp_path / "n.parquet").column("a"), near)


def test_duplicate_ids_and_missing_id_column(tmp_path):
    pq.write_table(pa.table({"_id": ["a", "b", "a", "c", "d", "e"], "v": fsl(A)}), tmp_path / "dup.parquet")
    with pytest.raises(InvalidParameterError, match=r"id 'a' appears twice \(rows 0 and 2\)"):
        load_vectors(tmp_path / "dup.parquet")
    pq.write_table(pa.table({"key": IDS, "v": fsl(A)}), tmp_path / "noid.parquet")
    with pytest.raises(InvalidParameterError, match=r"no id column.*--id-column"):
        load_vectors(tmp_path / "noid.parquet")
    assert load_vectors(tmp_path / "noid.parquet", id_column="key").ids == IDS
    with pytest.raises(InvalidParameterError, match="no vector column 'zz'"):
        load_vectors(tmp_path / "noid.parquet", id_column="key", vector_columns=["zz"])


def test_npy_with_sidecar_ids_and_npz(tmp_path):
    np.save(tmp_path / "minilm.npy", A)
    with pytest.raises(InvalidParameterError, match="no ids"):
        load_vectors(tmp_path / "minilm.npy")
    (tmp_path / "minilm.npy.ids.txt").write_text("\n".join(IDS) + "\n")
    t = load_vectors(tmp_path / "minilm.npy")
    assert list(t.columns) == ["minilm"] and t.ids == IDS
    np.testing.assert_array_equal(t.column("minilm"), A)
    np.savez(tmp_path / "two.npz", ids=np.array(IDS), a=A, b=B)
    t = load_vectors(tmp_path / "two.npz")
    assert t.dims == {"a": 8, "b": 4}
    np.savez(tmp_path / "short.npz", ids=np.array(IDS[:5]), a=A)
    with pytest.raises(InvalidParameterError, match=r"short\.npz: array 'a' has 6 rows but there are 5 ids"):
        load_vectors(tmp_path / "short.npz")
    np.save(tmp_path / "flat.npy", A[0])
    with pytest.raises(DimensionMismatchError, match=r"flat\.npy: array 'flat' has shape \(8,\)"):
        load_vectors(tmp_path / "flat.npy", ids=["x"])
    bad = A.copy()
    bad[5, 0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(InvalidVectorError, match=r"inf\.npy: column 'inf', row 5 \(id 'd5'\)"):
        load_vectors(tmp_path / "inf.npy", ids=IDS)


def test_jsonl_table_and_malformed_lines(tmp_path):
    path = tmp_path / "v.jsonl"
    lines = [json.dumps({"_id": i, "a": a.tolist(), "b": b.tolist()}) for i, a, b in zip(IDS, A, B)]
    path.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")
    t = load_vectors(path)
    assert t.ids == IDS and t.dims == {"a": 8, "b": 4}
    np.testing.assert_allclose(t.column("a"), A, atol=1e-7)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n" + lines[1][:-3] + "\n")
    with pytest.raises(InvalidParameterError, match=r"broken\.jsonl: line 2 is not valid JSON"):
        load_vectors(broken)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(lines[0] + "\n\n" + json.dumps({"_id": "x", "a": [0.6, 0.8], "b": B[0].tolist()}) + "\n")
    with pytest.raises(DimensionMismatchError, match=r"mixed\.jsonl: line 3, field 'a' has 2 dimensions but line 1 has 8"):
        load_vectors(mixed)
    nan = tmp_path / "nan.jsonl"
    nan.write_text(lines[0] + "\n\n" + json.dumps({"_id": "x", "a": [float("nan")] * 8}) + "\n")
    with pytest.raises(InvalidVectorError, match=r"nan\.jsonl: column 'a', line 3 \(id 'x'\) holds NaN"):
        load_vectors(nan, vector_columns=["a"])
    text = tmp_path / "text.jsonl"
    text.write_text(lines[0] + "\n" + json.dumps({"_id": "x", "a": ["?"] * 8, "b": B[0].tolist()}) + "\n")
    with pytest.raises(InvalidParameterError, match=r"text\.jsonl: line 2, field 'a' holds a non-number"):
        load_vectors(text)


def test_datasets_save_to_disk_folder(tmp_path):
    import datasets
    ds = datasets.Dataset.from_dict({"_id": IDS, "a": A.tolist(), "b": B.tolist()})
    ds.save_to_disk(str(tmp_path / "hf"))
    t = load_vectors(tmp_path / "hf")
    assert t.ids == IDS and t.dims == {"a": 8, "b": 4}
    np.testing.assert_array_equal(t.column("a"), A)
    dd = datasets.DatasetDict({"train": ds, "test": ds.select(range(3))})
    dd.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(InvalidParameterError, match=r"DatasetDict with splits \['train', 'test'\]"):
        load_vectors(tmp_path / "dd")
    assert load_vectors(tmp_path / "dd", split="test").ids == IDS[:3]
    bad = datasets.Dataset.from_dict({"_id": IDS, "a": [r.tolist() for r in A[:5]] + [A[5, :3].tolist()]})
    bad.save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(DimensionMismatchError, match=r"bad: column 'a', row 5 \(id 'd5'\) has 3 dimensions"):
        load_vectors(tmp_path / "bad")


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "v.txt").write_text("x")
    with pytest.raises(InvalidParameterError, match="unknown vector table format '.txt'"):
        load_vectors(tmp_path / "v.txt")
    with pytest.raises(InvalidParameterError, match="does not exist"):
        load_vectors(tmp_path / "nope.parquet")


# --------------------------------------------------------------------------- the embeddings


def test_lookup_by_id_or_text_and_clear_errors():
    q = unit(2, seed=9)
    emb = PrecomputedEmbeddings(
        A, document_ids=IDS, document_texts=[f"text {i}" for i in range(6)],
        query_vectors=q, query_ids=["q1", "q2"], query_texts=["what?", "why?"], model_id="m",
    )
    np.testing.assert_array_equal(np.asarray(emb.embed_documents(["text 3", "d0"]), np.float32), A[[3, 0]])
    np.testing.assert_array_equal(np.asarray(emb.embed_query("why?"), np.float32), q[1])
    np.testing.assert_array_equal(emb.encode(["q1"], prompt=QUERY_ROLE), q[:1])
    np.testing.assert_array_equal(emb.encode(["d5"], prompt=DOCUMENT_ROLE), A[5:])
    with pytest.raises(MissingVectorError, match=r"No precomputed 'm' query vector for 1 of 1 texts: 'text 3'"):
        emb.embed_query("text 3")  # a document text is not a query
    with pytest.raises(MissingVectorError, match="'unknown doc'"):
        emb.embed_documents(["d1", "unknown doc"])
    with pytest.raises(InvalidParameterError, match="cannot take a prompt"):
        emb.encode(["d1"], prompt="query: ")
    assert asyncio.run(emb.aembed_query("what?")) == emb.embed_query("what?")
    with pytest.raises(DimensionMismatchError, match="query vectors of 'm' have 4 dimensions but document vectors have 8"):
        PrecomputedEmbeddings(A, document_ids=IDS, query_vectors=B[:1], query_ids=["q"], model_id="m")


def test_matryoshka_over_precomputed_truncates_and_keeps_roles(tmp_path):
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    emb = PrecomputedEmbeddings(A, document_ids=IDS, query_vectors=A[:2] * -1, query_ids=["d0", "d1"], model_id="m")
    m = MatryoshkaEmbeddings(emb, dim=4)
    assert m.cache_dir is None  # never cached on disk
    assert (m.space.query_prompt, m.space.document_prompt) == (QUERY_ROLE, DOCUMENT_ROLE)
    want = A[:, :4] / np.linalg.norm(A[:, :4], axis=1, keepdims=True)
    np.testing.assert_allclose(m.encode_documents(["d0", "d1"]), want[:2], atol=1e-6)
    np.testing.assert_allclose(m.encode_queries(["d0"]), -want[:1], atol=1e-6)  # same id, query table wins
    with pytest.raises(InvalidParameterError, match="cannot take a prompt"):
        MatryoshkaEmbeddings(emb, prompts="e5").encode_documents(["d0"])


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_bulk_faiss_store_equals_upsert_vectors(tmp_path, precision, kind):
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
    from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

    n, d = 600, 32
    m = unit(n, d, seed=3)
    ids = [f"doc{i}" for i in range(n)]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"_id": ids, "v": fsl(m)}), path, row_group_size=128)
    q = unit(7, d, seed=4)[:, :16]
    bulk = faiss_store_from_vectors(path, dim=16, precision=precision, spec=FaissIndexSpec(kind=kind))
    ref = FaissVectorStore(
        MatryoshkaEmbeddings(PrecomputedEmbeddings(m, document_ids=ids, model_id="precomputed:v"), 16, precision=precision),
        FaissIndexSpec(kind=kind),
    )
    ref.upsert_vectors(ref.embedding.encode_documents(ids), [Document(page_content="", metadata={"doc_id": i}, id=i) for i in ids])
    for got, want in zip(bulk.search_vectors(q, k=10), ref.search_vectors(q, k=10)):
        assert [d.id for d, _ in got] == [d.id for d, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
    assert len(bulk) == n and bulk.get_by_ids(["doc7"])[0].metadata == {"doc_id": "doc7"}
    assert bulk.space == ref.space
    hits = bulk.similarity_search_by_vector(q[0].tolist(), k=3)
    assert len(hits) == 3 and all(h.id.startswith("doc") for h in hits)


# --------------------------------------------------------------------------- binding to a data set


def _dataset() -> BeirDataset:
    corpus = [Document(page_content=f"text {n}", metadata={"doc_id": i}, id=i) for n, i in enumerate(IDS)]
    return BeirDataset("toy", corpus, {"q1": "what?", "q2": "why?"}, {"q1": {"d1": 1}, "q2": {"d4": 1}})


def test_bind_with_query_table_kind_column_and_errors(tmp_path):
    ds = _dataset()
    q = unit(2, seed=7)
    pq.write_table(pa.table({"_id": IDS, "a": fsl(A)}), tmp_path / "docs.parquet")
    pq.write_table(pa.table({"_id": ["q2", "q1", "extra"], "a": fsl(np.concatenate([q[::-1], q[:1]]))}), tmp_path / "q.parquet")
    emb = precomputed_from_dataset(ds, tmp_path / "docs.parquet", "a", query_vectors=tmp_path / "q.parquet")
    np.testing.assert_array_equal(emb.encode(["text 2"]), A[2:3])
    np.testing.assert_array_equal(emb.encode(["why?"], prompt=QUERY_ROLE), q[1:])
    with pytest.raises(MissingVectorError, match=r"docs\.parquet has no query row for 2 of 2 query ids: \['q1', 'q2'\].*--query-vectors"):
        precomputed_from_dataset(ds, tmp_path / "docs.parquet", "a")
    pq.write_table(pa.table({"_id": IDS[:4], "a": fsl(A[:4])}), tmp_path / "few.parquet")
    with pytest.raises(MissingVectorError, match=r"no document row for 2 of 6 corpus document ids: \['d4', 'd5'\]"):
        precomputed_from_dataset(ds, tmp_path / "few.parquet", "a", query_vectors=tmp_path / "q.parquet")
    # one table, a kind column, a query id equal to a document id
    ds2 = BeirDataset("toy", ds.corpus, {"d1": "what?"}, {"d1": {"d2": 1}})
    kinds = ["document"] * 6 + ["query"]
    pq.write_table(pa.table({"_id": IDS + ["d1"], "kind": kinds, "a": fsl(np.concatenate([A, q[:1]]))}), tmp_path / "both.parquet")
    emb = precomputed_from_dataset(ds2, tmp_path / "both.parquet", "a")
    np.testing.assert_array_equal(emb.encode(["d1"], prompt=QUERY_ROLE), q[:1])
    np.testing.assert_array_equal(emb.encode(["d1"]), A[1:2])
    pq.write_table(pa.table({"_id": IDS, "a": fsl(A)}), tmp_path / "clash.parquet")
    with pytest.raises(InvalidParameterError, match=r"query ids \['d1'\] are also corpus document ids.*'kind' column"):
        precomputed_from_dataset(ds2, tmp_path / "clash.parquet", "a")


def test_settings_refuse_vector_options_without_a_table():
    from langchain_embcompare.evaluation.pipeline import EvalSettings

    with pytest.raises(InvalidParameterError, match="vector_column='a' needs vectors="):
        EvalSettings(vector_column="a")
    with pytest.raises(InvalidParameterError, match="normalize=True applies to precomputed vectors"):
        EvalSettings(normalize=True)
    with pytest.raises(InvalidParameterError, match="prompts='e5' cannot apply to precomputed vectors"):
        EvalSettings(model="a", vectors="t.parquet", prompts="e5")


def test_compare_precomputed_runs_say_precomputed(tmp_path):
    """compare() over two model columns of one table: same JSON keys as the model path, no invented cost."""
    from langchain_embcompare.evaluation.compare import compare, load_config, specs_from_vectors

    ds = _dataset()
    rows = IDS + ["q1", "q2"]
    pq.write_table(
        pa.table({"_id": rows, "a": fsl(np.concatenate([A, A[[1, 4]]])), "b": fsl(np.concatenate([B, unit(2, 4, 5)]))}),
        tmp_path / "t.parquet",
    )
    specs = specs_from_vectors(tmp_path / "t.parquet", dims=[None, 4], k=5)
    assert [s.label() for s in specs] == ["a@full", "a@4", "b@full", "b@4"]
    res = compare(specs, ds, k=5, latency_queries=2, n_resamples=50, metrics=("ndcg@5", "recall@5", "mrr@5"))
    d = res.to_dict()
    run = d["runs"]["a@full"]
    assert {"ndcg@5", "recall@5", "mrr@5"} <= set(run)
    assert run["ndcg@5"] == pytest.approx(1.0)  # each query's vector is its relevant document's
    assert run["embedding"] == {"source": "precomputed"} and run["cost"]["kind"] == "precomputed"
    assert run["cost"]["usd_per_million_texts"] is None
    assert "precomputed" in res.table_text()
    html = res.to_html(tmp_path / "r.html").read_text()
    assert "precomputed" in html
    # the same runs from an ab.toml
    cfg = tmp_path / "ab.toml"
    cfg.write_text(
        f'k = 5\n[defaults]\nvectors = "{tmp_path / "t.parquet"}"\n[[runs]]\nmodel = "a"\n[[runs]]\nname = "b-small"\n'
        'model = "b"\ndim = 4\nvector_column = "b"\n'
    )
    parsed = load_config(cfg)
    assert [(s.label(), s.vector_column or s.model, s.dim) for s in parsed.runs] == [("a/fulld/float32/faiss/flat", "a", None), ("b-small", "b", 4)]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[runs]]\nmodel = "a"\nvectors = 3\n')
    with pytest.raises(InvalidParameterError, match=r"runs\[0\]\.vectors = 3: expected str"):
        load_config(bad)


def test_saved_precomputed_index_never_reloads_a_real_model(tmp_path):
    """A saved index of column 'minilm' must not reload the real MiniLM (an alias of that name) by itself."""
    from langchain_embcompare.errors import UnknownModelError
    from langchain_embcompare.stores.faiss import FaissVectorStore

    ids = [f"doc{i}" for i in range(20)]
    m = unit(20, 16, seed=8)
    pq.write_table(pa.table({"_id": ids, "minilm": fsl(m)}), tmp_path / "t.parquet")
    store = faiss_store_from_vectors(tmp_path / "t.parquet", query_vectors=m[:1], query_ids=["q"])
    assert store.space.model == "precomputed:minilm"
    store.save_local(tmp_path / "idx")
    with pytest.raises(UnknownModelError, match="'precomputed:minilm' names precomputed vectors"):
        FaissVectorStore.load_local(tmp_path / "idx")
    again = FaissVectorStore.load_local(tmp_path / "idx", embedding=store.embedding.base)
    assert [d.id for d in again.similarity_search("q", k=1)] == ["doc0"]


def test_cli_refuses_vector_options_with_config(tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app

    cfg = tmp_path / "ab.toml"
    cfg.write_text('[[runs]]\nmodel = "a"\n')
    res = CliRunner().invoke(app, ["compare", str(tmp_path), "--config", str(cfg), "--vectors", str(tmp_path / "t.parquet")])
    assert res.exit_code == 2 and "--vectors cannot be combined with --config" in res.output


def test_huge_finite_values_are_renormalised_not_zeroed(tmp_path):
    big = A.copy()
    big[2] *= np.float32(1e25)  # its float32 sum of squares overflows; the vector itself is finite
    pq.write_table(pa.table({"_id": IDS, "a": fsl(big)}), tmp_path / "big.parquet")
    with pytest.raises(InvalidVectorError, match=r"row 2 \(id 'd2'\) has L2 norm 1e\+25"):
        load_vectors(tmp_path / "big.parquet")
    np.testing.assert_allclose(load_vectors(tmp_path / "big.parquet", normalize=True).column("a"), A, atol=1e-6)


@pytest.mark.parametrize(
    "options",
    [
        {"retriever": "cluster", "clusters": 8, "nprobe": 8},
        {"retriever": "funnel", "shortlist_dim": 16, "shortlist": 50, "k": 50},
        {"rotation": "pca", "dim": 16},
        {"layer_norm": True, "dim": 24, "precision": "int8", "kind": "hnsw"},
        {"precision": "binary", "dim": 32},
    ],
    ids=["cluster", "funnel", "pca", "layernorm-int8-hnsw", "binary"],
)
def test_every_retriever_and_transform_runs_on_precomputed_vectors(tmp_path, options):
    """Downstream is unchanged: each query's vector is a copy of its relevant document's, so a correct
    pipeline ranks that document first (nDCG@10 = 1) whatever the retriever, rotation or precision."""
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

    n, d = 300, 48
    m = unit(n, d, seed=11)
    ids = [f"doc{i}" for i in range(n)]
    qids = [f"q{i}" for i in range(20)]
    pq.write_table(pa.table({"_id": ids, "v": fsl(m)}), tmp_path / "docs.parquet")
    q = m[:20] + 0.01 * unit(20, d, seed=12)
    pq.write_table(pa.table({"_id": qids, "v": fsl(q / np.linalg.norm(q, axis=1, keepdims=True))}), tmp_path / "q.parquet")
    corpus = [Document(page_content=f"document number {i}", metadata={"doc_id": i}, id=i) for i in ids]
    ds = BeirDataset("toy", corpus, {q: f"query {q}" for q in qids}, {q: {f"doc{i}": 1} for i, q in enumerate(qids)})
    settings = EvalSettings(model="v", vectors=str(tmp_path / "docs.parquet"), query_vectors=str(tmp_path / "q.parquet"), **{"k": 10, **options})
    res = run_eval(ds, settings, metrics=("ndcg@10", "recall@10", "mrr@10"))
    assert res["ndcg@10"] == pytest.approx(1.0)
    assert res["space"]["model"] == "precomputed:v"


def test_redis_store_on_precomputed_vectors(tmp_path, redis_url):
    """The same check on the real Redis store (integration: a real server)."""
    from langchain_embcompare.evaluation.pipeline import EvalSettings, run_eval

    n, d = 120, 32
    m = unit(n, d, seed=13)
    ids = [f"r{i}" for i in range(n)]
    qids = [f"rq{i}" for i in range(10)]
    pq.write_table(pa.table({"_id": ids + qids, "v": fsl(np.concatenate([m, m[:10]]))}), tmp_path / "t.parquet")
    corpus = [Document(page_content=f"redis document {i}", metadata={"doc_id": i}, id=i) for i in ids]
    ds = BeirDataset("toy-redis", corpus, {q: f"query {q}" for q in qids}, {q: {f"r{i}": 1} for i, q in enumerate(qids)})
    res = run_eval(ds, EvalSettings(model="v", vectors=str(tmp_path / "t.parquet"), store="redis", store_options={"url": redis_url}, dim=16, k=10), metrics=("ndcg@10", "recall@10", "mrr@10"))
    assert res["ndcg@10"] == pytest.approx(1.0)
