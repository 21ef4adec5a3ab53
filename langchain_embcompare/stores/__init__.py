"""Vector stores behind one contract (:class:`EmbStore`): FAISS (embedded default) here; Redis, Milvus and
Qdrant in their own modules, imported on use (``stores.registry.build_store`` picks one by name)."""

from langchain_embcompare.stores.base import EmbStore
from langchain_embcompare.stores.faiss import FaissIndexSpec, FaissVectorStore

__all__ = ["EmbStore", "FaissIndexSpec", "FaissVectorStore"]
