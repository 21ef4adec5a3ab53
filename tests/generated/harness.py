"""Shared pieces of the generated harness: example counts per profile, deterministic embeddings,
the store variants (every store and index kind), and the comparison with the reference store.

Imported by the test modules of ``tests/generated/`` (``conftest.py`` holds the profiles and fixtures;
pytest gives every package-less conftest the same module name, so nothing imports it).
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from generated.strategies import SCHEMA

FUZZ_FACTOR = 25
"""``make fuzz`` runs this many times the examples of the ``ci`` profile (the issue asks for >= 20)."""

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def examples(n: int, variant: Variant | None = None) -> int:
    """The example count of a test: ``n`` under the ``ci`` profile, ``n * FUZZ_FACTOR`` under ``fuzz``;
    divided by ``variant.cost`` (at least 2) for a slow store (a real server: seconds per example)."""
    n = n * FUZZ_FACTOR if PROFILE == "fuzz" else n
    return n if variant is None else max(2, n // variant.cost)


# --------------------------------------------------------------------------- embeddings


def stable_vector(text: str, dim: int) -> np.ndarray:
    """A deterministic (across processes, unlike ``hash()``) standard-normal float32 vector for ``text``
    (lone surrogates allowed: hashed as ``surrogatepass`` UTF-8)."""
    seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


class StableEmbeddings(Embeddings):
    """LangChain ``Embeddings`` with :func:`stable_vector` per text (a failing example replays
    with the same vectors in any process)."""

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.model_id = f"stable-hash-{dim}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [stable_vector(t, self.dim).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return stable_vector(text, self.dim).tolist()


def harness_embeddings(precision: str = "float32") -> Any:
    """16-d :class:`StableEmbeddings` as ``MatryoshkaEmbeddings`` (no disk cache) at ``precision``."""
    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    return MatryoshkaEmbeddings(StableEmbeddings(16), cache_dir=None, precision=precision)


# --------------------------------------------------------------------------- store variants


def _faiss(kind: str, precision: str = "float32") -> Callable[..., Any]:
    def make(name: str, request: Any, metric: str = "cosine") -> Any:
        from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

        nlist = 1 if kind == "ivf" else None
        return FaissVectorStore(harness_embeddings(precision), FaissIndexSpec(kind=kind, metric=metric, nlist=nlist))

    return make


def _fake(name: str, request: Any, metric: str = "cosine") -> Any:
    from fake_store import FakeStore

    return FakeStore(harness_embeddings(), metric=metric)


def _redis(kind: str) -> Callable[..., Any]:
    def make(name: str, request: Any, metric: str = "cosine") -> Any:
        from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

        spec = RedisIndexSpec(name, kind=kind, metric=metric, metadata_schema=dict(SCHEMA))
        return RedisVectorStore(harness_embeddings(), spec, request.getfixturevalue("redis_url"))

    return make


def _milvus(kind: str, uri_fixture: str = "milvus_uri") -> Callable[..., Any]:
    def make(name: str, request: Any, metric: str = "cosine") -> Any:
        from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

        spec = MilvusIndexSpec(name, kind=kind, metric=metric, metadata_schema=dict(SCHEMA), nlist=1)
        return MilvusVectorStore(harness_embeddings(), spec, request.getfixturevalue(uri_fixture))

    return make


def _qdrant(name: str, request: Any, metric: str = "cosine") -> Any:
    from langchain_embcompare.stores.qdrant import QdrantOptions, QdrantVectorStore

    # local mode in a folder of the session: a second call with the same name reopens the collection
    folder = request.getfixturevalue("tmp_path_factory").getbasetemp() / "qdrant"
    return QdrantVectorStore(harness_embeddings(), QdrantOptions(path=str(folder), collection=name), metric=metric)


@dataclass(frozen=True)
class Variant:
    """One store kind with one index kind / precision.

    ``name``: the test id; ``store``: its entry in ``STORE_KINDS``; ``make(name, request, metric)``: an
    empty store on index / collection ``name`` (a second call with the same name opens the same data:
    the "reopen" of a server store); ``exact``: searches are exact (top-k and scores compared with the
    reference); ``metric``: the store's metric (the reference uses the same); ``cost``: examples are divided by it
    (a slow store); ``persist``: ``"reopen"`` (a new object on the same index), ``"save"`` (save_local /
    load_local) or ``None``.
    """

    name: str
    store: str
    make: Callable[..., Any]
    exact: bool = True
    persist: str | None = "reopen"
    marks: tuple[Any, ...] = field(default=())
    metric: str = "cosine"
    cost: int = 1

    def new(self, name: str, request: Any) -> Any:
        """An empty store of this variant on index / collection ``name`` (or the stored one, reopened)."""
        return self.make(name, request, self.metric)


_SERVER = (pytest.mark.integration,)
VARIANTS = [
    Variant("fake", "fake", _fake, persist=None),
    Variant("faiss-flat", "faiss", _faiss("flat"), persist="save"),
    Variant("faiss-hnsw", "faiss", _faiss("hnsw"), exact=False, persist="save"),
    Variant("faiss-ivf", "faiss", _faiss("ivf"), exact=False, persist="save"),
    Variant("faiss-flat-int8", "faiss", _faiss("flat", "int8"), exact=False, persist="save"),
    Variant("faiss-hnsw-binary", "faiss", _faiss("hnsw", "binary"), exact=False, persist="save"),
    Variant("faiss-flat-l2", "faiss", _faiss("flat"), persist="save", metric="l2"),
    Variant("faiss-flat-ip", "faiss", _faiss("flat"), persist="save", metric="ip"),
    Variant("redis-flat", "redis", _redis("flat"), marks=_SERVER),
    Variant("redis-flat-l2", "redis", _redis("flat"), marks=_SERVER, metric="l2"),
    Variant("redis-hnsw", "redis", _redis("hnsw"), exact=False, marks=_SERVER),
    Variant("milvus-flat", "milvus", _milvus("flat"), marks=_SERVER),
    Variant("milvus-flat-ip", "milvus", _milvus("flat"), marks=_SERVER, metric="ip"),
    Variant("milvus-hnsw", "milvus", _milvus("hnsw"), exact=False, marks=_SERVER),
    Variant("milvus-server-flat", "milvus-server", _milvus("flat", "milvus_server_uri"), marks=_SERVER, cost=5),
    Variant("qdrant-local", "qdrant", _qdrant),
    Variant("qdrant-local-l2", "qdrant", _qdrant, metric="l2"),
]
VARIANT_PARAMS = [pytest.param(v, id=v.name, marks=v.marks) for v in VARIANTS if v.name != "fake"]


def fresh_name() -> str:
    """An index / collection name no other test uses (letters, digits, ``_``: valid on every store)."""
    return f"g_{uuid.uuid4().hex[:10]}"


def drop(store: Any) -> None:
    """Drop a server store's index / collection (FAISS and the fake hold nothing outside the process)."""
    if hasattr(store, "drop"):
        store.drop()


# --------------------------------------------------------------------------- comparing with the reference


def fresh_reference(metric: str = "cosine") -> Any:
    """An empty reference store (``tests/fake_store.py``) on the harness embeddings."""
    return _fake("reference", None, metric)


def canonical(value: Any) -> Any:
    """A comparable form of a metadata value that keeps its TYPE: ``(type name, value)`` recursively,
    NaN as the string ``"nan"`` (NaN != NaN), dict keys kept. Two stores agree on a value when
    their canonical forms are equal: ``np.int64(5)`` and ``5`` and ``"5"`` all differ."""
    if isinstance(value, Mapping):
        return ("dict", tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, (float, np.floating)) and math.isnan(float(value)):
        return (type(value).__name__, "nan")
    return (type(value).__name__, value)


def doc_form(doc: Document) -> tuple[Any, ...]:
    """``(id, text, canonical metadata)`` of a document, without the search-time ``score`` key."""
    md = {k: v for k, v in doc.metadata.items() if k != "score"}
    return (doc.id, doc.page_content, canonical(md))


def add_both(reference: Any, store: Any, docs: Sequence[Document]) -> BaseException | None:
    """Add ``docs`` to the reference and to ``store``: both accept, or both refuse with the same error
    class (naming the same document id). Returns the reference's error (``None``: accepted)."""
    from hypothesis import event

    ref_error = store_error = None
    try:
        reference.add_documents(list(docs))
    except Exception as exc:  # noqa: BLE001 - the comparison is the test
        ref_error = exc
    try:
        store.add_documents(list(docs))
    except Exception as exc:  # noqa: BLE001
        store_error = exc
    if ref_error is None:
        event("accepted")
        assert store_error is None, f"the reference accepts these documents, {type(store).__name__} raises {store_error!r}"
    else:
        event(f"refused: {type(ref_error).__name__}")
        assert store_error is not None, f"the reference refuses ({ref_error!r}), {type(store).__name__} accepts"
        assert type(store_error) is type(ref_error), f"different errors: reference {ref_error!r}, store {store_error!r}"
        assert str(store_error) == str(ref_error), "the same input rule gives the same message on every store"
        named_documents_and_fields(ref_error, docs)
    return ref_error


def named_documents_and_fields(error: BaseException, docs: Sequence[Document]) -> None:
    """A refusal names the documents (their ids) and, for each, the field: an ``InvalidDocumentError``
    whose ``failures`` maps ids of this batch to reasons naming ``page_content``, ``id`` or ``metadata[...]``."""
    from langchain_embcompare.errors import InvalidDocumentError

    assert isinstance(error, InvalidDocumentError), f"a refused input raises InvalidDocumentError, got {error!r}"
    printable = {str(d.id).encode("utf-8", "backslashreplace").decode("utf-8") for d in docs}
    assert error.failures and set(error.failures) <= printable, (error.failures, printable)
    for why in error.failures.values():
        assert any(f in why for f in ("page_content", "id", "metadata")), why


def assert_same_documents(reference: Any, store: Any, ids: Sequence[str]) -> None:
    """``get_by_ids`` gives the same documents (id, text, metadata values and types) on both."""
    want = sorted(map(doc_form, reference.get_by_ids(list(ids))), key=repr)
    got = sorted(map(doc_form, store.get_by_ids(list(ids))), key=repr)
    assert got == want



SCORE_TOL = 1e-5
"""Scores of an exact index agree with the reference within this (float32 sums in another order)."""


def hit_list(store: Any, query: str, k: int, filt: Any) -> list[tuple[str, float]]:
    """``similarity_search_with_score`` as ``[(id, score)]``."""
    return [(d.id, s) for d, s in store.similarity_search_with_score(query, k=k, filter=filt)]


def assert_same_search(reference: Any, store: Any, exact: bool, query: str, k: int, filt: Any) -> int:
    """One query on both stores. The filter result set (a search with ``k`` = every document) is the
    reference's; the top ``k`` are ``min(k, matching)`` distinct matching documents; on an ``exact``
    index their scores are the reference's top-k scores and each document's exact score (within
    :data:`SCORE_TOL`); MMR picks ``min(k, matching)`` distinct matching documents. Returns the
    number of matching documents."""
    from hypothesis import event

    n = max(reference.count(), 1)
    everything = dict(hit_list(reference, query, n, filt))  # the matching documents, exact scores
    event("matching: none" if not everything else "matching: fewer than k" if len(everything) < k else "matching: at least k")
    assert {i for i, _ in hit_list(store, query, n, filt)} == set(everything), "filter result sets differ"
    got = hit_list(store, query, k, filt)
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids)) == min(k, len(everything))
    assert set(ids) <= set(everything)
    if exact:
        want = hit_list(reference, query, k, filt)
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=SCORE_TOL)
        np.testing.assert_allclose([s for _, s in got], [everything[i] for i in ids], atol=SCORE_TOL)
    mmr = [d.id for d in store.max_marginal_relevance_search(query, k=k, fetch_k=n, filter=filt)]
    assert len(mmr) == len(set(mmr)) == min(k, len(everything))
    assert set(mmr) <= set(everything)
    return len(everything)
