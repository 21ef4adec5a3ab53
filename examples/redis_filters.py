"""Hybrid search on Redis: KNN after a metadata prefilter (tag, numeric range, full text, & and |).

Run: ``python examples/redis_filters.py``. With ``REDIS_URL`` unset it starts its own local Redis
(scripts/redis_server.py); otherwise point it at yours, e.g. one started with
``docker run -p 6379:6379 redis/redis-stack-server:latest`` -> ``REDIS_URL=redis://localhost:6379``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from redisvl.query.filter import Num, Tag, Text

import langchain_embcompare
from langchain_embcompare.evaluation.datasets import load_beir
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

ROOT = Path(__file__).resolve().parent.parent


def local_server():  # noqa: ANN201 - scripts/redis_server.RedisServer
    spec = importlib.util.spec_from_file_location("redis_server", ROOT / "scripts" / "redis_server.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["redis_server"] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.RedisServer().start()


def show(title: str, hits) -> None:  # noqa: ANN001
    print(f"\n== {title}")
    for doc, score in hits:
        m = doc.metadata
        print(f"  {score:.3f}  [{m['category']}, {m['seniority']}, {m['years']}y]  {m['title']}")


def main() -> None:
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        server = local_server()
        url = server.url
        print(f"started a local Redis at {url}")
    try:
        data = load_beir(Path(langchain_embcompare.__file__).parent / "data" / "demo")
        emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128)  # a 128-d Matryoshka prefix of MiniLM
        spec = RedisIndexSpec(
            "demo_profiles",
            kind="hnsw",
            metric="cosine",
            metadata_schema={"category": "tag", "family": "tag", "seniority": "tag", "years": "numeric", "title": "text"},
        )
        store = RedisVectorStore(emb, spec, url, overwrite=True)
        store.add_documents(data.corpus)
        print(f"indexed {store.count()} profiles in Redis index {spec.index_name!r} ({store.space.model}, {store.space.dim} d)")

        q = "runs usability tests and interviews customers"
        show("no filter", store.similarity_search_with_score(q, k=3))
        show("tag: seniority == senior", store.similarity_search_with_score(q, k=3, filter=Tag("seniority") == "senior"))
        show("numeric range: 2 <= years <= 4", store.similarity_search_with_score(q, k=3, filter=Num("years").between(2, 4)))
        show("full text: title mentions 'banking'", store.similarity_search_with_score(q, k=3, filter=Text("title") % "banking"))
        expr = (Tag("family") == "data") & ((Num("years") >= 8) | (Tag("seniority") == "lead"))
        show(f"composed: {expr}", store.similarity_search_with_score("builds data pipelines", k=3, filter=expr))
        show("LangChain dict: {'category': {'$in': [...]}, 'years': {'$lt': 5}}", store.similarity_search_with_score(
            q, k=3, filter={"category": {"$in": ["ux_researcher", "product_manager"]}, "years": {"$lt": 5}}))

        retriever = store.as_retriever(search_kwargs={"k": 2, "filter": {"seniority": "junior"}})
        print("\n== as_retriever(filter={'seniority': 'junior'}).invoke(...)")
        for doc in retriever.invoke(q):
            print(f"  {doc.id}: {doc.metadata['title']}")
        store.drop()
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
