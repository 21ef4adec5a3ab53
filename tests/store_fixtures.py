"""Every store of the package behind one fixture, so a test written once runs on each of them.

``STORE_KINDS`` lists them; adding a store is one entry (a name, a function that makes an empty store
for an embeddings object and a metric, and the marks its tests need). ``any_store`` is a fresh, empty
store of each kind; ``make_store`` is the factory itself (for tests that need several, or another
metric). Stores that need a server get it from the session fixtures (``redis_url``) and are dropped
when the test (or module) ends.

    def test_something(any_store): ...
    def test_other(make_store): store = make_store(embeddings, metric="l2")
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fake_store import FakeStore

__all__ = ["METADATA_SCHEMA", "STORE_KINDS", "STORE_PARAMS", "any_store", "contract_embeddings", "make_store", "params_with", "params_without",
           "new_store", "store_kind"]

# Metadata fields the tests filter on: stores with a declared schema (Redis) index these.
METADATA_SCHEMA = {"group": "tag", "year": "numeric", "category": "tag", "n": "numeric", "title": "text"}


def _fake(emb: Any, metric: str, request: Any) -> Any:
    return FakeStore(emb, metric=metric)


def _faiss(emb: Any, metric: str, request: Any) -> Any:
    from langchain_embcompare.stores.faiss import FaissVectorStore

    return FaissVectorStore(emb, metric=metric)


def _redis(emb: Any, metric: str, request: Any) -> Any:
    from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

    url = request.getfixturevalue("redis_url")
    spec = RedisIndexSpec(f"t_{uuid.uuid4().hex[:10]}", metric=metric, metadata_schema=dict(METADATA_SCHEMA))
    store = RedisVectorStore(emb, spec, url)
    request.addfinalizer(store.drop)
    return store


def _milvus(emb: Any, metric: str, request: Any, uri_fixture: str = "milvus_uri") -> Any:
    from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

    uri = request.getfixturevalue(uri_fixture)  # a Milvus Lite file, or the session's Milvus server
    # Milvus cannot add a vector field to an existing collection: declare the funnel fields the tests use
    fields = {"vector_64": 64, "vector_64_pca": 64, "vector_128": 128, "vector_128_pca": 128, "shared": 64, "small": 4}
    if uri_fixture == "milvus_server_uri":
        fields = {}  # the test server, Milvus 2.3, holds one vector field per collection (no "vector_fields")
    dim = emb.space.dim
    spec = MilvusIndexSpec(
        f"t_{uuid.uuid4().hex[:10]}", metric=metric, metadata_schema=dict(METADATA_SCHEMA),
        extra_vector_fields={k: v for k, v in fields.items() if v < dim},
    )
    store = MilvusVectorStore(emb, spec, uri)
    request.addfinalizer(store.drop)
    return store


def _qdrant(emb: Any, metric: str, request: Any) -> Any:
    from langchain_embcompare.stores.qdrant import QdrantOptions, QdrantVectorStore

    return QdrantVectorStore(emb, QdrantOptions(location=":memory:"), metric=metric)  # local mode, in memory


@dataclass(frozen=True)
class StoreKind:
    name: str
    make: Callable[[Any, str, Any], Any]  # (embeddings, metric, pytest request) -> an empty store
    marks: tuple[Any, ...] = field(default=())
    # capabilities the store of this kind lacks (the funnel needs "vector_fields"; Milvus before 2.4 has one
    # vector field per collection, and the tests' server is Milvus 2.3.5): tests of a capability run on the
    # kinds that have it, and tests/test_funnel.py checks the refusal on the others
    lacks: tuple[str, ...] = field(default=())


STORE_KINDS = [
    StoreKind("fake", _fake),
    StoreKind("faiss", _faiss),
    StoreKind("redis", _redis, (pytest.mark.integration,)),
    StoreKind("milvus", _milvus, (pytest.mark.integration,)),
    StoreKind("milvus-server", lambda e, m, r: _milvus(e, m, r, "milvus_server_uri"), (pytest.mark.integration,),
              lacks=("vector_fields",)),
    StoreKind("qdrant", _qdrant),
]
STORE_PARAMS = [pytest.param(kind.name, marks=kind.marks, id=kind.name) for kind in STORE_KINDS]


def params_with(capability: str) -> list[Any]:
    """``STORE_PARAMS`` of the kinds whose store has ``capability``."""
    return [pytest.param(k.name, marks=k.marks, id=k.name) for k in STORE_KINDS if capability not in k.lacks]


def params_without(capability: str) -> list[Any]:
    """``STORE_PARAMS`` of the kinds whose store lacks ``capability`` (to test the refusal)."""
    return [pytest.param(k.name, marks=k.marks, id=k.name) for k in STORE_KINDS if capability in k.lacks]
_BY_NAME = {kind.name: kind for kind in STORE_KINDS}


def new_store(kind: str, emb: Any, request: Any, metric: str = "cosine") -> Any:
    """An empty store of ``kind`` (torn down with ``request``'s scope)."""
    return _BY_NAME[kind].make(emb, metric, request)


@pytest.fixture(params=STORE_PARAMS)
def store_kind(request: Any) -> str:
    """The name of each store kind in turn."""
    return request.param


@pytest.fixture
def make_store(store_kind: str, request: Any) -> Callable[..., Any]:
    """``make_store(embeddings, metric="cosine")`` -> an empty store of the current kind."""
    return lambda emb, metric="cosine": new_store(store_kind, emb, request, metric)


@pytest.fixture
def any_store(make_store: Callable[..., Any], contract_embeddings: Any) -> Any:
    """An empty cosine store of each kind, over a 16-d fake embedding model."""
    return make_store(contract_embeddings)


@pytest.fixture
def contract_embeddings() -> Any:
    """16-d deterministic fake embeddings (no model, no cache on disk)."""
    from conftest import HashEmbeddings

    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    return MatryoshkaEmbeddings(HashEmbeddings(dim=16), cache_dir=None)
