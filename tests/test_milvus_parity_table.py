"""The shared filter table (tests/test_filter_parity.py) on Milvus Lite, flat and hnsw: every case
returns exactly the documents the table names, through the vector path and the retriever."""

from __future__ import annotations

import pytest
from milvus_fixtures import milvus_uri  # noqa: F401
from test_filter_parity import CASES, DOCS, METADATA_SCHEMA, _Vec

from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore


@pytest.fixture(params=["flat", "hnsw", "hnsw-untyped"], scope="module")
def milvus_filled(request, milvus_uri):  # noqa: F811
    kind = request.param.split("-")[0]
    schema = {} if request.param.endswith("untyped") else METADATA_SCHEMA
    store = MilvusVectorStore(
        _Vec.embeddings(), MilvusIndexSpec(f"parity_{request.param.replace('-', '_')}", kind=kind, metadata_schema=schema),
        uri=milvus_uri, overwrite=True,
    )
    store.add_documents(DOCS)
    return store


@pytest.mark.parametrize("name,filt,expected", CASES, ids=[c[0] for c in CASES])
def test_filter_table_on_milvus(milvus_filled, name, filt, expected):
    assert {d.id for d in milvus_filled.similarity_search("q", k=10, filter=filt)} == expected, name
    assert {d.id for d in milvus_filled.as_retriever(k=10, filter=filt).invoke("q")} == expected


def test_k_larger_than_filter_leaves_on_milvus(milvus_filled):
    hits = milvus_filled.similarity_search("q", k=50, filter={"city": {"$in": ["Paris"]}})
    assert sorted(d.id for d in hits) == ["d4", "d5"]
