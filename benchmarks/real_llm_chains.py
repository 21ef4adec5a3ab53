"""RAG, cited QA and A/B chains against a real local LLM (llama.cpp's OpenAI-compatible server).

Evidence that the chains work with a real chat model over HTTP, not only with fakes: sync invoke,
token streaming (time to first token), async, and the concurrent A/B chain. Start the server first
(``scripts/local_llm.sh``: SmolLM2-135M-Instruct under llama-cpp-python), then:

    python benchmarks/real_llm_chains.py --base-url http://127.0.0.1:8080/v1

Writes benchmarks/results/chains_real_llm.json. SmolLM2-135M is tiny: the point is the plumbing
(retrieval → prompt → HTTP → streamed answer → parsed citations), not answer quality.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI

from langchain_embcompare.chains import build_ab_chain, build_qa_chain, build_rag_chain
from langchain_embcompare import EmbRetriever, FaissVectorStore, MatryoshkaEmbeddings, load_beir
from langchain_embcompare.data import demo_dataset_path

OUT = Path(__file__).resolve().parent / "results" / "chains_real_llm.json"
QUESTIONS = (
    "Who writes battlecards and pitch decks for the sales team?",
    "Who builds tested SQL transformations in dbt?",
)


def _docs(ctx: list) -> list[dict[str, Any]]:
    return [{"id": d.id, "category": d.metadata.get("category"), "score": round(float(d.metadata.get("score", 0)), 4)}
            for d in ctx]


def _server_models(base_url: str) -> Any:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=10) as resp:
            return json.loads(resp.read())
    except OSError as exc:
        raise SystemExit(f"no OpenAI-compatible server at {base_url} ({exc}); start scripts/local_llm.sh first")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--model", default=None, help="model name; default: the first one the server lists")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    models = _server_models(args.base_url)
    model = args.model or (models.get("data") or [{}])[0].get("id", "local-model")
    # ChatOpenAI sends the cap as "max_completion_tokens", which llama.cpp's server ignores (it reads
    # "max_tokens"): without extra_body a 135M model may ramble until the context is full.
    llm = ChatOpenAI(base_url=args.base_url, api_key="not-needed", model=model, temperature=0.0,
                     max_tokens=args.max_tokens, extra_body={"max_tokens": args.max_tokens},
                     timeout=300, max_retries=0)

    t = time.perf_counter()
    corpus = load_beir(demo_dataset_path()).corpus
    base = MatryoshkaEmbeddings("all-MiniLM-L6-v2")
    retrievers = {}
    for dim in (384, 64):
        store = FaissVectorStore(base if dim == base.native_dim else base.with_dim(dim))
        store.add_documents(corpus)
        retrievers[f"minilm@{dim}"] = EmbRetriever(store=store, k=args.k)
    index_s = time.perf_counter() - t
    retriever = retrievers["minilm@384"]

    rag, qa = build_rag_chain(retriever, llm), build_qa_chain(retriever, llm)
    ab = build_ab_chain(retrievers, llm)
    runs: list[dict[str, Any]] = []
    for question in QUESTIONS:
        row: dict[str, Any] = {"question": question}
        t = time.perf_counter()
        out = rag.invoke(question)
        row["rag_invoke"] = {"answer": out["answer"], "sources": out["sources"], "context": _docs(out["context"]),
                             "wall_ms": round((time.perf_counter() - t) * 1000, 1)}

        t, first, chunks, text = time.perf_counter(), None, 0, ""
        for chunk in rag.stream(question):
            if "answer" in chunk and chunk["answer"]:
                first = first if first is not None else time.perf_counter() - t
                chunks += 1
                text += chunk["answer"]
        row["rag_stream"] = {"answer_chunks": chunks, "time_to_first_token_ms": round((first or 0) * 1000, 1),
                             "wall_ms": round((time.perf_counter() - t) * 1000, 1), "answer": text}

        t = time.perf_counter()
        out = ab.invoke(question)
        row["ab_invoke"] = {
            "results": {n: {"answer": r["answer"], "sources": r["sources"], "context": _docs(r["context"]),
                            "retrieval_ms": r["retrieval_ms"], "latency_ms": r["latency_ms"]}
                        for n, r in out["results"].items()},
            "overlap": out["overlap"], "total_ms": out["total_ms"],
            "sum_of_branch_latencies_ms": round(sum(r["latency_ms"] for r in out["results"].values()), 1),
            "wall_ms": round((time.perf_counter() - t) * 1000, 1),
        }
        runs.append(row)
        print(json.dumps({"question": question, "rag": row["rag_invoke"]["answer"][:160],
                          "stream_chunks": chunks, "ab_total_ms": out["total_ms"]}, ensure_ascii=False), flush=True)

    # Async path, in ONE event loop: ChatOpenAI caches its async HTTP client per loop, so a second
    # asyncio.run() would reuse a client bound to a closed loop ("Event loop is closed").
    async def qa_all() -> list[tuple[dict[str, Any], float]]:
        async def one(q: str) -> tuple[dict[str, Any], float]:
            t0 = time.perf_counter()
            res = await qa.ainvoke(q)
            return res, round((time.perf_counter() - t0) * 1000, 1)

        return [await one(q) for q in QUESTIONS]

    for row, (out, wall_ms) in zip(runs, asyncio.run(qa_all())):
        row["qa_ainvoke"] = {"answer": out["answer"], "citations": out["citations"], "sources": out["sources"],
                             "invalid_citations": out["invalid_citations"], "wall_ms": wall_ms}

    result = {
        "what": "RAG / QA / A/B chains against a real local LLM through llama.cpp's OpenAI-compatible server",
        "command": "python benchmarks/real_llm_chains.py --base-url " + args.base_url,
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "processor": platform.machine(),
                    "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "server": {"base_url": args.base_url, "model": model, "models_endpoint": models},
        "llm_params": {"temperature": 0.0, "max_tokens": args.max_tokens},
        "retrieval": {"embeddings": "all-MiniLM-L6-v2 (384 and Matryoshka-truncated 64)", "store": "FAISS flat cosine",
                      "k": args.k, "corpus": "embcompare demo set (300 docs)", "index_seconds": round(index_s, 2)},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
