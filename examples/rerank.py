"""Pairwise LLM reranking (PRP) after any retriever, offline in seconds.

A TF-IDF retriever fetches 12 candidates from the bundled demo data set; a
``ContextualCompressionRetriever`` reranks them with ``PairwiseLLMReranker``. The judge here is
``OracleJudge`` (answers from the demo qrels, 10 % of answers flipped) so the example runs without a
model; swap in a real one with ``make_chat_model("openai:gpt-4o-mini")`` or
``make_chat_model("openai-compatible:http://127.0.0.1:8080/v1")``.

Run:  python examples/rerank.py
"""

from __future__ import annotations

from typing import Any

from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from sklearn.feature_extraction.text import TfidfVectorizer

from langchain_embcompare.data import demo_dataset_path
from langchain_embcompare.evaluation import evaluate_run, load_beir, retrieve_run
from langchain_embcompare.rerank import OracleJudge, PairwiseLLMReranker


class TfidfRetriever(BaseRetriever):
    """A tiny first-stage retriever: any LangChain retriever works the same way."""

    docs: list[Document]
    k: int = 20
    vectorizer: Any = None
    matrix: Any = None

    def model_post_init(self, context: Any) -> None:
        self.vectorizer = TfidfVectorizer(sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform([d.page_content for d in self.docs])

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        scores = (self.matrix @ self.vectorizer.transform([query]).T).toarray().ravel()
        top = scores.argsort()[::-1][: self.k]
        return [Document(page_content=self.docs[i].page_content, id=self.docs[i].id, metadata={"score": float(scores[i])}) for i in top]


def main() -> None:
    data = load_beir(demo_dataset_path())
    base = TfidfRetriever(docs=data.corpus, k=12)
    judge = OracleJudge.from_qrels(data.qrels, data.queries, data.corpus, noise=0.1)
    # timeout=None: the oracle answers instantly; keep the default (60 s) for real models.
    reranker = PairwiseLLMReranker(llm=judge, method="sorting", top_n=10, timeout=None)
    reranked = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=base)

    query = data.queries["q02"]
    print(f"query: {query!r}")
    for doc in reranked.invoke(query)[:3]:
        print(f"  #{doc.metadata['rerank_rank']} {doc.id}: {doc.page_content[:70]}...")
    report = reranker.last_report
    print(
        f"  {report.calls} calls, {report.cache_hits} cache hits, {report.prompt_tokens} prompt tokens "
        f"({report.token_encoding}), cost ${report.cost_usd:.4f}, same-position share "
        f"{report.same_position_share:.2f}"
    )

    reranker.reset_reports()
    before = evaluate_run(retrieve_run(base, data.queries, k=10), data.qrels, ("ndcg@10",))["ndcg@10"]
    after = evaluate_run(retrieve_run(reranked, data.queries, k=10), data.qrels, ("ndcg@10",))["ndcg@10"]
    summary = reranker.summary()
    print(
        f"{summary['queries']} queries: nDCG@10 TF-IDF {before:.3f} -> PRP-sorting {after:.3f}; "
        f"{summary['calls_per_query']:.1f} calls per query"
    )


if __name__ == "__main__":
    main()
