"""langchain-embcompare: choose, shrink, tune and prove your retrieval, on LangChain interfaces."""

from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmbCompareError,
    EmptyInputError,
    InvalidParameterError,
    InvalidVectorError,
    SchemaMismatchError,
    StoreConnectionError,
    UnknownModelError,
    VectorSpaceMismatchError,
)
from langchain_embcompare.evaluation import BeirDataset, evaluate_run, load_beir, retrieve_run
from langchain_embcompare.filters import Num, Tag, Text, as_expression
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, PCARotation, Quantizer, VectorSpace
from langchain_embcompare.models import load_embeddings, offline_models
from langchain_embcompare.retrievers import EmbRetriever
from langchain_embcompare.stores import FaissIndexSpec, FaissVectorStore

__version__ = "0.1.0"

__all__ = [
    "MatryoshkaEmbeddings",
    "PCARotation",
    "Quantizer",
    "VectorSpace",
    "load_embeddings",
    "offline_models",
    "FaissIndexSpec",
    "FaissVectorStore",
    "EmbRetriever",
    "Tag",
    "Num",
    "Text",
    "as_expression",
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
    "InvalidParameterError",
    "StoreConnectionError",
    "SchemaMismatchError",
]
