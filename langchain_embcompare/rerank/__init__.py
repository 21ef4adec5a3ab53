"""Pairwise LLM reranking (PRP) as a LangChain document compressor."""

from langchain_embcompare.rerank.algorithms import expected_comparisons, sorting_bound
from langchain_embcompare.rerank.chat import make_chat_model
from langchain_embcompare.rerank.oracle import OracleJudge
from langchain_embcompare.rerank.pairwise import (
    DEFAULT_PRICES,
    METHODS,
    PairwiseLLMReranker,
    PositionBiasWarning,
    QueryReport,
    RerankerCallError,
)
from langchain_embcompare.rerank.prompt import PROMPT_VERSION, PairChoice, build_messages, parse_answer

__all__ = [
    "PairwiseLLMReranker",
    "QueryReport",
    "PositionBiasWarning",
    "RerankerCallError",
    "OracleJudge",
    "make_chat_model",
    "METHODS",
    "DEFAULT_PRICES",
    "PROMPT_VERSION",
    "PairChoice",
    "build_messages",
    "parse_answer",
    "expected_comparisons",
    "sorting_bound",
]
