"""A/B chain: one question, several retrievers side by side (full vs Matryoshka-truncated vectors).

Each branch retrieves (optionally reranks), answers, and reports its latency; the chain adds the
pairwise overlap of the retrieved documents. Branches run concurrently. Offline by default:

    python examples/ab_chain.py
    python examples/ab_chain.py --llm "openai-compatible:http://127.0.0.1:8080/v1#smollm2" --rerank
"""

from __future__ import annotations

import argparse
import asyncio
import time

from langchain_embcompare.chains import build_ab_chain
from langchain_embcompare import EmbRetriever, FaissVectorStore, MatryoshkaEmbeddings, load_beir
from langchain_embcompare.data import demo_dataset_path

QUESTIONS = (
    "Who finds out why we lose deals to competitors?",
    "Who turns interview notes into themes and personas?",
    "Who makes model inference faster and cheaper?",
)


def chat_model(spec: str | None):
    """Offline extractive model, or a real chat model from a spec (see examples/rag_chain.py)."""
    if spec is None:
        from langchain_embcompare.chains import ExtractiveChatModel

        return ExtractiveChatModel()
    from langchain_embcompare.rerank.chat import make_chat_model

    return make_chat_model(spec, max_tokens=200)


def build_retrievers(model: str, dims: list[int], k: int) -> dict[str, EmbRetriever]:
    """One FAISS store per dimension; with_dim reuses the cached native embeddings."""
    corpus = load_beir(demo_dataset_path()).corpus
    base = MatryoshkaEmbeddings(model)
    retrievers = {}
    for dim in dims:
        emb = base if dim == base.native_dim else base.with_dim(dim)
        store = FaissVectorStore(emb)
        store.add_documents(corpus)
        retrievers[f"{model}@{dim}"] = EmbRetriever(store=store, k=k)
    return retrievers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="chat model spec; default: offline extractive model")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 64])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rerank", action="store_true",
                        help="rerank the last retriever with PairwiseLLMReranker (needs --llm)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    retrievers = build_retrievers(args.model, args.dims, args.k)
    llm = chat_model(args.llm)
    reranker = None
    if args.rerank:
        if args.llm is None:
            raise SystemExit("--rerank needs a judge model: pass --llm SPEC")
        from langchain_embcompare.rerank import PairwiseLLMReranker

        reranker = {list(retrievers)[-1]: PairwiseLLMReranker(llm=chat_model(args.llm), top_n=3)}
    chain = build_ab_chain(retrievers, llm, reranker=reranker)
    print(f"built {len(retrievers)} retrievers in {time.perf_counter() - t0:.1f}s")

    for question, out in zip(QUESTIONS, chain.batch(list(QUESTIONS))):
        print(f"\nQ: {question}   (wall {out['total_ms']:.0f} ms)")
        for name, res in out["results"].items():
            cats = [d.metadata["category"] for d in res["context"]]
            print(f"  {name:>24}: {res['latency_ms']:7.1f} ms  {res['answer']}")
            print(f"  {'':>24}  sources {res['sources']}  {cats}")
        for pair, m in out["overlap"].items():
            print(f"  overlap {pair}: jaccard {m['jaccard']:.2f}, overlap@{m['k']} {m['overlap_at_k']:.2f}")

    # Streaming: answer tokens of every branch arrive interleaved as {"results": {name: {"answer": ...}}}.
    print("\n[astream]")

    async def stream() -> int:
        n = 0
        async for chunk in chain.astream(QUESTIONS[0]):
            for name, part in chunk.get("results", {}).items():
                if "answer" in part:
                    n += 1
        return n

    n_tokens = asyncio.run(stream())
    print(f"  {n_tokens} answer chunks streamed from {len(retrievers)} branches")
    if n_tokens < len(retrievers):
        raise SystemExit("streaming produced no answer tokens")
    print(f"\ndone in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
