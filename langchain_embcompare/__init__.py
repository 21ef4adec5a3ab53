"""langchain-embcompare: choose, shrink, tune and prove your retrieval, on LangChain interfaces."""

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmbCompareError,
    EmptyInputError,
    AudioLoadError,
    ImageLoadError,
    InvalidParameterError,
    InvalidVectorError,
    MediaLoadError,
    ModalityMismatchError,
    MissingVectorError,
    SchemaMismatchError,
    StoreConnectionError,
    UnknownModelError,
    VectorSpaceMismatchError,
    VideoLoadError,
)
from langchain_embcompare.evaluation import BeirDataset, evaluate_run, load_beir, retrieve_run
from langchain_embcompare.filters import filter_tree
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, PCARotation, Quantizer, VectorSpace
from langchain_embcompare.models import load_embeddings, offline_models
from langchain_embcompare.rerank import OracleJudge, PairwiseLLMReranker, make_chat_model
from langchain_embcompare.retrievers import EmbRetriever
from langchain_embcompare.stores import FaissIndexSpec, FaissVectorStore

__version__ = "0.1.0"

# Heavier parts load on first use: `from langchain_embcompare import RedisVectorStore` still works.
_LAZY = {
    "RedisVectorStore": "langchain_embcompare.stores.redis",
    "RedisIndexSpec": "langchain_embcompare.stores.redis",
    "MilvusVectorStore": "langchain_embcompare.stores.milvus",
    "MilvusIndexSpec": "langchain_embcompare.stores.milvus",
    "ClusterPrefilterRetriever": "langchain_embcompare.retrievers.cluster",
    "MatryoshkaFunnelRetriever": "langchain_embcompare.retrievers.funnel",
    "cluster_map": "langchain_embcompare.retrievers.cluster_map",
    "save_cluster_map": "langchain_embcompare.retrievers.cluster_map",
    "compare": "langchain_embcompare.evaluation.compare",
    "RunSpec": "langchain_embcompare.evaluation.compare",
    "ComparisonResult": "langchain_embcompare.evaluation.compare",
    "EvalSettings": "langchain_embcompare.evaluation.pipeline",
    "advise": "langchain_embcompare.evaluation.advise",
    "AdviceResult": "langchain_embcompare.evaluation.advise",
    "drilldown": "langchain_embcompare.evaluation.drilldown",
    "run_eval": "langchain_embcompare.evaluation.pipeline",
    "ImageEmbeddings": "langchain_embcompare.media.images",
    "ClipEmbeddings": "langchain_embcompare.media.images",
    "AudioEmbeddings": "langchain_embcompare.media.audio",
    "VideoEmbeddings": "langchain_embcompare.media.video",
    "PrecomputedEmbeddings": "langchain_embcompare.precomputed",
    "VectorTable": "langchain_embcompare.precomputed",
    "load_vectors": "langchain_embcompare.precomputed",
    "load_dataset": "langchain_embcompare.evaluation.loaders",
    "load_qa_pairs": "langchain_embcompare.evaluation.loaders",
    "load_documents_folder": "langchain_embcompare.evaluation.loaders",
    "load_ir_dataset": "langchain_embcompare.evaluation.loaders",
    "load_corpus": "langchain_embcompare.evaluation.loaders",
    "cloze_dataset": "langchain_embcompare.evaluation.synthetic",
    "llm_dataset": "langchain_embcompare.evaluation.synthetic",
    "save_synthetic": "langchain_embcompare.evaluation.synthetic",
    "RelevanceJudge": "langchain_embcompare.evaluation.judge",
    "trust_summary": "langchain_embcompare.evaluation.trust",
    "measured_trust": "langchain_embcompare.evaluation.trust",
    "BM25Retriever": "langchain_embcompare.retrievers.lexical",
    "BM25Settings": "langchain_embcompare.retrievers.lexical",
    "StoreFullTextRetriever": "langchain_embcompare.retrievers.lexical",
    "HybridRetriever": "langchain_embcompare.retrievers.hybrid",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("Tag", "Num", "Text"):  # redisvl's filter builders, loaded on first use (redisvl documents them)
        from langchain_embcompare import filters

        return getattr(filters, name)
    raise AttributeError(f"module 'langchain_embcompare' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "MatryoshkaEmbeddings",
    "PCARotation",
    "Quantizer",
    "VectorSpace",
    "load_embeddings",
    "offline_models",
    "FaissIndexSpec",
    "FaissVectorStore",
    "EmbRetriever",
    "PairwiseLLMReranker",
    "OracleJudge",
    "make_chat_model",
    "filter_tree",
    "BeirDataset",
    "load_beir",
    "evaluate_run",
    "retrieve_run",
    "EmbCompareError",
    "UnknownModelError",
    "DimensionMismatchError",
    "VectorSpaceMismatchError",
    "EmptyInputError",
    "InvalidVectorError",
    "MissingVectorError",
    "InvalidParameterError",
    "StoreConnectionError",
    "SchemaMismatchError",
    "ModalityMismatchError",
    "ImageLoadError",
    "MediaLoadError",
    "AudioLoadError",
    "VideoLoadError",
]
