"""End to end on a real Redis with the real all-MiniLM-L6-v2 model on a small slice of SciFact:
Matryoshka 128-d documents in, LangChain retriever out, the same ranking as brute force on the
same vectors, relevant documents found, and a query from another space refused."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import SchemaMismatchError, VectorSpaceMismatchError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore

SCIFACT = Path("/work/shared/data/beir/scifact")
N_QUERIES, N_FILLER = 15, 50


@pytest.fixture(scope="module")
def scifact_slice() -> tuple[list[Document], dict[str, str], dict[str, set[str]]]:
    qrels: dict[str, set[str]] = {}
    with open(SCIFACT / "qrels" / "test.tsv") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    qids = sorted(qrels, key=int)[:N_QUERIES]
    wanted = set().union(*(qrels[q] for q in qids))
    docs: list[Document] = []
    filler = 0
    with open(SCIFACT / "corpus.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            if d["_id"] not in wanted:
                if filler >= N_FILLER:
                    continue
                filler += 1
            year = 2000 + int(d["_id"]) % 20
            docs.append(Document(id=d["_id"], page_content=f"{d['title']} {d['text']}",
                                 metadata={"doc_id": d["_id"], "title": d["title"], "year": year}))
    queries = {}
    with open(SCIFACT / "queries.jsonl") as fh:
        for line in fh:
            q = json.loads(line)
            if q["_id"] in qids:
                queries[q["_id"]] = q["text"]
    assert wanted <= {d.id for d in docs}
    return docs, queries, {q: qrels[q] for q in qids}


def test_minilm_on_scifact_slice(redis_url, scifact_slice):
    docs, queries, qrels = scifact_slice
    emb = MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128)
    spec = RedisIndexSpec(f"e2e_{uuid.uuid4().hex[:8]}", algorithm="flat", metric="cosine",
                          metadata_schema={"title": "text", "year": "numeric"})
    store = RedisVectorStore(emb, spec, redis_url)
    assert store.space == emb.space and store.space.dim == 128
    store.add_documents(docs)
    store.add_documents(docs)  # idempotent
    assert store.count() == len(docs)

    qids = list(queries)
    qv = emb.encode_queries([queries[q] for q in qids])
    dv = emb.encode_documents([d.page_content for d in docs])
    hits = store.search_vectors(qv, 10)
    brute = qv @ dv.T
    for qi, h in enumerate(hits):
        order = np.argsort(-brute[qi])[:10]
        assert [d.id for d, _ in h] == [docs[i].id for i in order]
        np.testing.assert_allclose([s for _, s in h], brute[qi, order], atol=1e-5)

    # The retriever a LangChain user gets finds the relevant abstract for most claims.
    retriever = store.as_retriever(search_kwargs={"k": 10})
    found = [bool({d.id for d in retriever.invoke(queries[q])} & qrels[q]) for q in qids]
    assert np.mean(found) >= 0.6, f"recall@10 on the slice is only {np.mean(found):.2f}"

    # Hybrid: a numeric range and a full-text prefilter restrict what the KNN may return.
    res = store.similarity_search(queries[qids[0]], k=5, filter={"year": {"$gte": 2010}})
    assert res and all(d.metadata["year"] >= 2010 for d in res)

    # Another vector space (a query prompt the index was not built with) is refused, naming both.
    other = MatryoshkaEmbeddings("all-MiniLM-L6-v2", dim=128, query_prompt="query: ")
    with pytest.raises(VectorSpaceMismatchError, match="query_prompt"):
        RedisVectorStore(other, spec, redis_url)
    # Another Matryoshka dim is another schema: refused unless overwrite=True.
    with pytest.raises(SchemaMismatchError, match="dims: index has 128, asked for 64"):
        RedisVectorStore(emb.with_dim(64), spec, redis_url)
    store.drop()
