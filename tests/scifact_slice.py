"""The conftest's SciFact slice with filterable metadata added, for the cluster, funnel and map tests.

Same texts as ``scifact_small`` (so the session's embedding cache is shared), plus a numeric ``year``
and a TAG-able ``group`` derived from the document id, to test filters composed with the prefilters.
"""

from __future__ import annotations

from langchain_core.documents import Document


def with_filter_metadata(dataset, n_queries: int = 12):  # noqa: ANN001, ANN201 - BeirDataset in, tuple out
    docs = [
        Document(
            id=d.id,
            page_content=d.page_content,
            metadata={**d.metadata, "year": 2000 + int(d.id) % 20, "group": "even" if int(d.id) % 2 == 0 else "odd"},
        )
        for d in dataset.corpus
    ]
    qids = [q for q in dataset.queries if q in dataset.qrels][:n_queries]
    queries = {q: dataset.queries[q] for q in qids}
    qrels = {q: set(dataset.qrels[q]) for q in qids}
    return docs, queries, qrels
