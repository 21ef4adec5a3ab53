"""Retrievers: plain, cluster-prefiltered and Matryoshka funnel (all LangChain ``BaseRetriever``)."""

from langchain_embcompare.stores.base import EmbRetriever  # lives with the store protocol it uses (no import cycle)

__all__ = ["EmbRetriever"]
