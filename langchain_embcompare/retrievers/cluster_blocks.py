"""Moved to :mod:`langchain_embcompare.stores.cluster_blocks` (a store-side helper); re-exported here."""

from langchain_embcompare.stores.cluster_blocks import ClusterBlocks

__all__ = ["ClusterBlocks"]
