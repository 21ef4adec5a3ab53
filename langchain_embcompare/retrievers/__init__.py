"""Retrievers: plain, cluster-prefiltered and Matryoshka funnel (all LangChain ``BaseRetriever``)."""

from langchain_embcompare.retrievers.vector import EmbRetriever

__all__ = ["EmbRetriever"]
