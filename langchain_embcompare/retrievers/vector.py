"""The plain retriever over any store of this package (kept at this path for compatibility).

:class:`EmbRetriever` and :class:`BatchRetriever` live with the store protocol they use, in
:mod:`langchain_embcompare.stores.base` (one module, no import cycle); this module re-exports them.
"""

from langchain_embcompare.stores.base import BatchRetriever, EmbRetriever, with_scores

__all__ = ["BatchRetriever", "EmbRetriever", "with_scores"]
