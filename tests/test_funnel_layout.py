"""The funnel memory layout (issue 25): full vectors in a memory-mapped file (``vector_storage="mmap"``),
quantised shortlist field indexes (int8, RaBitQ), and the calibration choosing the shortlist index kind.
Real FAISS stores on generated clustered vectors (fast: no model)."""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.precomputed.embeddings import PrecomputedEmbeddings
from langchain_embcompare.retrievers.calibration import HeldOut, exact_top_k, recall_at_k
from langchain_embcompare.retrievers.funnel import MatryoshkaFunnelRetriever
from langchain_embcompare.stores.faiss import FaissVectorStore
from langchain_embcompare.stores.faiss_index import FIELD_KINDS, FaissIndexSpec

DIM = 64


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """faiss on one OpenMP thread here: small indexes build faster than with threads spinning on a busy machine."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    """3,000 unit vectors in 40 groups (ids "0".."2999") and 30 noisy queries."""
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((40, DIM)).astype(np.float32) * 2
    x = centres[rng.integers(0, 40, 3000)] + rng.standard_normal((3000, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.integers(0, 3000, 30)] + 0.3 * rng.standard_normal((30, DIM)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q, [str(i) for i in range(3000)]


def make_store(x, ids, tmp_path=None, **spec):
    emb = PrecomputedEmbeddings(x[:1], document_ids=[ids[0]], model_id="layout-test", validate=False)
    if spec.get("vector_storage") == "mmap" and tmp_path is not None:
        spec.setdefault("storage_dir", str(tmp_path / "scratch"))
    return FaissVectorStore(emb, FaissIndexSpec(**spec))


def docs(ids, tag="a"):
    return [Document(page_content=f"doc {i}", metadata={"tag": tag}, id=i) for i in ids]


def test_mmap_store_equals_the_ram_store_through_writes_and_a_save(data, tmp_path):
    """Appends, an upsert of stored ids, deletes, save/load and appends after the load: every search and
    read of the mmap store equals the RAM store's exactly, and the saved folder is never changed."""
    x, q, ids = data
    ram, mm = make_store(x, ids), make_store(x, ids, tmp_path, vector_storage="mmap")
    for s in (ram, mm):
        s.upsert_vectors(x[:1000], docs(ids[:1000]))
        s.upsert_vectors(x[1000:2000], docs(ids[1000:2000]))
        s.upsert_vectors(x[2000:2100] * 2, docs(ids[:100], "b"))  # replaces rows: a compaction
        s.delete(ids[500:700])
    assert mm.index is None and mm.block_scan and not mm.vectors.flags.writeable
    assert mm.mapped_bytes() == len(mm) * DIM * 4 == ram.vectors.nbytes
    np.testing.assert_array_equal(mm.vectors, ram.vectors)
    rows = np.array([0, 5, 1700, 42])
    np.testing.assert_array_equal(mm.vectors_at(rows), ram.vectors_at(rows))
    for kw in ({}, {"filter": {"tag": "b"}}, {"candidate_rows": np.arange(0, 1800, 3)}):
        s_ram, r_ram = ram.search_rows(q, 10, **kw)
        s_mm, r_mm = mm.search_rows(q, 10, **kw)
        np.testing.assert_array_equal(r_mm, r_ram)
        np.testing.assert_allclose(s_mm, s_ram, rtol=1e-6)
    folder = mm.save_local(tmp_path / "saved")
    before = hashlib.sha256((folder / "vectors.npy").read_bytes()).hexdigest()
    loaded = FaissVectorStore.load_local(folder, PrecomputedEmbeddings(x[:1], document_ids=[ids[0]], model_id="layout-test", validate=False))
    assert loaded.block_scan and loaded.mapped_bytes() == mm.mapped_bytes()
    np.testing.assert_array_equal(loaded.search_rows(q, 10)[1], ram.search_rows(q, 10)[1])
    for s in (loaded, ram):
        s.upsert_vectors(x[2100:2200], docs(ids[2100:2200]))
        s.delete(ids[2150:2160])
    np.testing.assert_array_equal(loaded.search_rows(q, 10)[1], ram.search_rows(q, 10)[1])
    np.testing.assert_array_equal(loaded.vectors, ram.vectors)
    assert hashlib.sha256((folder / "vectors.npy").read_bytes()).hexdigest() == before  # the folder was not written
    loaded.delete()
    assert len(loaded) == 0 and loaded.search_rows(q, 3)[1].tolist() == [[-1] * 3] * len(q)


def test_mmap_fields_live_in_files_and_keep_their_kind_through_a_save(data, tmp_path):
    x, q, ids = data
    mm = make_store(x, ids, tmp_path, vector_storage="mmap", field_kind="ivf_rabitq", hnsw_m=16, ef_construction=40)
    mm.bulk_load(x, docs(ids), ids, normalized=True)
    funnel = MatryoshkaFunnelRetriever(store=mm, shortlist_dim=32, k=10, shortlist=100, rotation="pca", shortlist_nprobe=16)
    funnel.search_rows(q)
    assert mm.mapped_bytes() == len(x) * (DIM + 32) * 4  # the field's floats are a second file, not RAM
    mm.set_field_index_kind(funnel.field, "hnsw_sq8")
    assert mm.field_index_kind(funnel.field) == "hnsw_sq8" and mm.field_index_bytes(funnel.field) > 0
    mm.set_field_index_kind(funnel.field, "flat")
    assert mm.field_index_bytes(funnel.field) == 0  # a mapped flat field is scanned from its file
    mm.set_field_index_kind(funnel.field, "ivf_rabitq")
    folder = mm.save_local(tmp_path / "saved")
    loaded = FaissVectorStore.load_local(folder, PrecomputedEmbeddings(x[:1], document_ids=[ids[0]], model_id="layout-test", validate=False))
    assert loaded.field_index_kind(funnel.field) == "ivf_rabitq"
    np.testing.assert_array_equal(loaded.vectors_at(np.arange(5), funnel.field), mm.vectors_at(np.arange(5), funnel.field))
    again = MatryoshkaFunnelRetriever(store=loaded, shortlist_dim=32, k=10, shortlist=100, rotation="pca", shortlist_nprobe=16)
    again.use_rotation(funnel.fitted_rotation)
    np.testing.assert_array_equal(again.search_rows(q)[1], funnel.search_rows(q)[1])


@pytest.mark.parametrize("kind", [*(k for k in FIELD_KINDS if k != "flat"), "ivf_rabitq/4"])
def test_each_shortlist_index_kind_finds_the_neighbours(data, kind, tmp_path):
    """Every field kind (and 4-bit RaBitQ codes), on a mapped store, as a 64-d (full-dimension) shortlist
    rescored exactly."""
    x, q, ids = data
    kind, _, bits = kind.partition("/")
    store = make_store(x, ids, tmp_path, vector_storage="mmap", field_kind=kind, hnsw_m=16, ef_construction=40,
                       field_rabitq_bits=int(bits or 1))
    store.bulk_load(x, docs(ids), ids, normalized=True)
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=DIM, rotation=None, vector_field="vector_full", k=10,
                                       shortlist=200, shortlist_ef_search=256, shortlist_nprobe=32)
    assert funnel.index_kind_in_use == kind
    truth = exact_top_k(store, HeldOut(q, None), 10)
    scores, rows = funnel.search_rows(q)
    # 64 sign bits are a coarse shortlist; HNSW-RaBitQ builds its graph on 1-bit estimates
    assert recall_at_k(rows, truth) >= {"binary": 0.6, "hnsw_rabitq": 0.85}.get(kind, 0.95)
    np.testing.assert_allclose(scores, np.einsum("qkd,qd->qk", x[rows], q), rtol=1e-5, atol=1e-6)  # exact rescoring
    # the field search itself: k rows of the index, filtered too
    fs, fr = store.search_rows(q, 10, vector_field="vector_full", filter={"tag": "a"})
    assert (fr >= 0).all() and np.isfinite(fs).all()


def test_bad_layout_options_are_refused_by_name(data):
    x, _, ids = data
    with pytest.raises(InvalidParameterError, match="vector_storage"):
        FaissIndexSpec(kind="hnsw", vector_storage="mmap")
    with pytest.raises(InvalidParameterError, match="vector_storage"):
        FaissIndexSpec(vector_storage="disk")
    with pytest.raises(InvalidParameterError, match="field_kind"):
        FaissIndexSpec(field_kind="ivf_pq")
    with pytest.raises(InvalidParameterError, match="hnsw_rabitq"):
        FaissIndexSpec(metric="ip", field_kind="hnsw_rabitq")
    with pytest.raises(InvalidParameterError, match="field_query_bits"):
        FaissIndexSpec(field_query_bits=9)
    with pytest.raises(InvalidParameterError, match="field_rabitq_bits"):
        FaissIndexSpec(field_rabitq_bits=0)
    store = make_store(x, ids)
    store.bulk_load(x[:200], docs(ids[:200]), ids[:200], normalized=True)
    with pytest.raises(InvalidParameterError, match="field_kind"):
        store.set_field_index_kind("vector_32", "hnsw_pq")
    with pytest.raises(InvalidParameterError, match="shortlist_index_kind"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=32, k=10, shortlist_index_kind="hnsw_pq")
    with pytest.raises(InvalidParameterError, match="shortlist_index_kind"):
        MatryoshkaFunnelRetriever(store=store, shortlist_dim=32, k=10, precision="binary", shortlist_index_kind="hnsw")
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=32, k=10)
    with pytest.raises(InvalidParameterError, match="index_kinds"):
        funnel.calibrate(x[:20], index_kinds=["ivf", "annoy"])
    with pytest.raises(InvalidParameterError, match="max_bytes_per_vector"):
        funnel.calibrate(x[:20], index_kinds=["hnsw"], max_bytes_per_vector=1.0)


def test_calibration_chooses_the_index_kind_and_saves_it(data, tmp_path):
    x, q, ids = data
    store = make_store(x, ids, tmp_path, vector_storage="mmap", hnsw_m=16, ef_construction=40)
    store.bulk_load(x, docs(ids), ids, normalized=True)
    funnel = MatryoshkaFunnelRetriever(store=store, shortlist_dim=32, k=10, rotation="pca")
    kinds = ["flat", "hnsw_sq8", "ivf_rabitq"]
    cal = funnel.calibrate(q, target_recall=0.95, index_kinds=kinds, index_params=[16, 64, 256])
    assert cal.met and cal.settings["index_kind"] in kinds
    assert funnel.shortlist_index_kind == cal.settings["index_kind"] == store.field_index_kind(funnel.field)
    assert {t["index_kind"] for t in cal.tried} == set(kinds)
    timed = [t for t in cal.tried if "ms_per_query" in t]
    assert timed and min(t["ms_per_query"] for t in timed) == pytest.approx(cal.ms_per_query, abs=1e-3)
    truth = exact_top_k(store, HeldOut(q, None), 10)
    assert recall_at_k(funnel.search_rows(q)[1], truth) >= 0.95
    funnel.save(tmp_path / "funnel")
    fresh = make_store(x, ids)  # a RAM store with the default (flat) field kind: the loaded funnel sets its kind
    fresh.bulk_load(x, docs(ids), ids, normalized=True)
    again = MatryoshkaFunnelRetriever.load(tmp_path / "funnel", fresh)
    assert again.shortlist_index_kind == funnel.shortlist_index_kind
    again.search_rows(q)
    assert fresh.field_index_kind(again.field) == funnel.shortlist_index_kind
    # a memory budget below the float HNSW field's index leaves it out
    budget = funnel.calibrate(q, target_recall=0.95, index_kinds=["hnsw", "ivf_rabitq"], index_params=[16, 64, 256],
                              max_bytes_per_vector=100)
    assert budget.settings["index_kind"] == "ivf_rabitq" and budget.settings["index_bytes_per_vector"] <= 100
    assert any(t.get("skipped") for t in budget.tried if t["index_kind"] == "hnsw")


def rss_file_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssFile:"))


def test_mmap_reads_do_not_stay_resident(tmp_path):
    """Rescoring reads (a few scattered rows) leave no mapped page resident, and a full scan releases its
    pages: the resident set of an mmap store is its index, not its vectors (a 25 MB file here)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((60_000, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [str(i) for i in range(len(x))]
    store = make_store(x, ids, tmp_path, vector_storage="mmap")
    store.bulk_load(x, LazyDocs(len(x)), ids, normalized=True)
    before = rss_file_bytes()
    rows = rng.choice(len(x), 3_000, replace=False)
    np.testing.assert_array_equal(store.vectors_at(rows), x[rows])
    assert rss_file_bytes() - before < 1_000_000  # faults on the map would have made most of the 15 MB resident
    scores, found = store.search_rows(x[:3], 1)  # an exact scan of every row
    assert found[:, 0].tolist() == [0, 1, 2]
    assert rss_file_bytes() - before < 1_000_000


class LazyDocs:
    """n empty Documents named "0".."n-1", made on access."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Document:
        return Document(page_content="", id=str(i))
