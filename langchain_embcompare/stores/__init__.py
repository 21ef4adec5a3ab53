"""Vector stores: FAISS (embedded default) and Redis (server, scale-out)."""

from langchain_embcompare.stores.base import EmbStore
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

__all__ = ["EmbStore", "FaissIndexSpec", "FaissVectorStore"]
