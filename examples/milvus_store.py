"""Milvus as the store: embedded Milvus Lite (a local file, no server), the same code on a Milvus server.

Run: ``python examples/milvus_store.py``. It indexes the bundled demo profiles in a Milvus Lite file
(``./embcompare_demo_milvus.db``), searches with and without metadata filters, reopens the file, and
deletes. Set ``MILVUS_URI=http://localhost:19530`` (and ``MILVUS_TOKEN=root:Milvus`` if auth is on) to
run the very same code against a Milvus standalone server or cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

from langchain_embcompare.evaluation.datasets import load_beir
from langchain_embcompare.filters import Num, Tag, Text
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore

import langchain_embcompare


def show(title: str, hits) -> None:  # noqa: ANN001
    print(f"\n== {title}")
    for doc, score in hits:
        m = doc.metadata
        print(f"  {score:.3f}  [{m['category']}, {m['seniority']}, {m['years']}y]  {m['title']}")


def main() -> None:
    uri = os.environ.get("MILVUS_URI", "./embcompare_demo_milvus.db")
    token = os.environ.get("MILVUS_TOKEN")
    data = load_beir(Path(langchain_embcompare.__file__).parent / "data" / "demo")
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128)  # a 128-d Matryoshka prefix of MiniLM
    spec = MilvusIndexSpec(
        "demo_profiles", kind="hnsw", metric="cosine",
        metadata_schema={"category": "tag", "seniority": "tag", "years": "numeric"},
    )
    store = MilvusVectorStore(emb, spec, uri=uri, token=token, overwrite=True)
    store.add_documents(data.corpus)
    print(f"indexed {store.count()} profiles in Milvus collection {spec.collection_name!r} at {uri} "
          f"({store.space.model}, {store.space.dim} d, {spec.kind})")

    q = "runs usability tests and interviews customers"
    show("no filter", store.similarity_search_with_score(q, k=3))
    show("tag: seniority == SENIOR (case-insensitive, exact)", store.similarity_search_with_score(q, k=3, filter=Tag("seniority") == "SENIOR"))
    show("numeric range: 2 <= years <= 4", store.similarity_search_with_score(q, k=3, filter=Num("years").between(2, 4)))
    show("LangChain dict", store.similarity_search_with_score(q, k=3, filter={"category": {"$in": ["ux_researcher"]}, "years": {"$lt": 5}}))
    show("full text on the title (evaluated in-process, exact)", store.similarity_search_with_score(q, k=3, filter=Text("title") % "banking"))
    print("\n== the Milvus expression a filter becomes:")
    from langchain_embcompare.filters import filter_tree
    from langchain_embcompare.stores.milvus_schema import to_expression

    print("  " + to_expression(filter_tree({"seniority": "senior", "years": {"$gte": 5}}), spec.metadata_schema))

    store.close()
    reopened = MilvusVectorStore.from_existing("demo_profiles", emb, uri, token=token)  # checks the recorded space
    print(f"\nreopened: {reopened.count()} documents; MMR picks:")
    for doc in reopened.max_marginal_relevance_search(q, k=3, fetch_k=20, lambda_mult=0.5):
        print(f"  {doc.id}: {doc.metadata['title']}")
    reopened.delete([data.corpus[0].id, "no-such-id"])
    print(f"after deleting one: {reopened.count()} documents")
    reopened.drop()


if __name__ == "__main__":
    main()
