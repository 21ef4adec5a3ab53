"""LCEL chains over any LangChain retriever: RAG, cited QA and a side-by-side A/B comparison."""

from langchain_embcompare.chains.ab import build_ab_chain, overlap_metrics, pairwise_overlap
from langchain_embcompare.chains.offline import ExtractiveChatModel, extractive_answer
from langchain_embcompare.chains.qa import build_qa_chain, cited_sources, parse_citations
from langchain_embcompare.chains.rag import DEFAULT_RAG_PROMPT, build_rag_chain, doc_id, format_docs, source_ids

__all__ = [
    "DEFAULT_RAG_PROMPT",
    "ExtractiveChatModel",
    "build_ab_chain",
    "build_qa_chain",
    "build_rag_chain",
    "cited_sources",
    "doc_id",
    "extractive_answer",
    "format_docs",
    "overlap_metrics",
    "pairwise_overlap",
    "parse_citations",
    "source_ids",
]
