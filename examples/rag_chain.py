"""RAG and cited question answering over the bundled demo set, with any LangChain retriever.

Runs offline in seconds: FAISS + all-MiniLM-L6-v2 (offline package) for retrieval and a deterministic
extractive chat model for answers. Point it at a real LLM with ``--llm``:

    python examples/rag_chain.py
    python examples/rag_chain.py --llm "openai-compatible:http://127.0.0.1:8080/v1#smollm2"
    python examples/rag_chain.py --llm openai:gpt-4o-mini          # needs OPENAI_API_KEY
"""

from __future__ import annotations

import argparse
import asyncio
import time

from langchain_core.language_models import BaseChatModel

from langchain_embcompare.chains import ExtractiveChatModel, build_qa_chain, build_rag_chain
from langchain_embcompare import EmbRetriever, FaissVectorStore, MatryoshkaEmbeddings, load_beir
from langchain_embcompare.data import demo_dataset_path


def chat_model(spec: str | None) -> BaseChatModel:
    """The offline extractive model, or a real one from a spec such as ``openai:gpt-4o-mini``."""
    if spec is None:
        return ExtractiveChatModel()
    from langchain_embcompare.rerank.chat import make_chat_model

    return make_chat_model(spec, max_tokens=200)


def build_store(model: str = "all-MiniLM-L6-v2") -> FaissVectorStore:
    """Exact-search FAISS index over the 300 demo job profiles (metadata kept for filters)."""
    store = FaissVectorStore(MatryoshkaEmbeddings(model))
    store.add_documents(load_beir(demo_dataset_path()).corpus)
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default=None, help="chat model spec; default: offline extractive model")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="embedding model")
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    store = build_store(args.model)
    retriever = EmbRetriever(store=store, k=args.k)
    llm = chat_model(args.llm)
    print(f"indexed {len(store)} profiles with {args.model} in {time.perf_counter() - t0:.1f}s")

    # 1. RAG: answer + the ids of the numbered sources it was given.
    rag = build_rag_chain(retriever, llm)
    out = rag.invoke("Who writes battlecards and pitch decks for the sales team?")
    print("\n[rag.invoke]", out["answer"])
    print("  sources:", out["sources"], [d.metadata["category"] for d in out["context"]])

    # 2. Streaming: context first, then the answer token by token.
    print("\n[rag.stream] ", end="")
    for chunk in rag.stream({"question": "Who builds tested SQL models in dbt?"}):
        if "answer" in chunk:
            print(chunk["answer"], end="", flush=True)
    print()

    # 3. QA with citations: only the documents the answer cites count as its sources.
    qa = build_qa_chain(retriever, llm)
    cited = qa.invoke("Who runs usability tests on prototypes?")
    print("\n[qa.invoke]", cited["answer"])
    print("  cited:", cited["citations"], "->", cited["sources"],
          [d.metadata["category"] for d in cited["context"] if d.id in cited["sources"]])

    # 4. The same chain over a filtered retriever (metadata filter, applied inside FAISS).
    seniors = EmbRetriever(store=store, k=args.k, filter={"family": "data", "years": {"$gte": 10}})
    out = build_rag_chain(seniors, llm).invoke("Who deploys machine learning models?")
    print("\n[rag, filter family=data & years>=10]", out["answer"])
    print("  years:", [d.metadata["years"] for d in out["context"]])
    if any(d.metadata["years"] < 10 or d.metadata["family"] != "data" for d in out["context"]):
        raise SystemExit("filter was not applied")

    # 5. batch and async, as with any LCEL runnable.
    questions = ["Who owns the product roadmap?", "Who plans the capacity of several teams?"]
    for q, o in zip(questions, rag.batch(questions)):
        print(f"\n[rag.batch] {q}\n  {o['answer']}  {o['sources']}")
    o = asyncio.run(rag.ainvoke("Who keeps the risk register of a project?"))
    print(f"\n[rag.ainvoke] {o['answer']}  {o['sources']}")

    if not out["sources"] or not cited["context"]:
        raise SystemExit("no documents retrieved")
    print(f"\ndone in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
