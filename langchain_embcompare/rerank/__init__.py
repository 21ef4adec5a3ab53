"""Pairwise LLM reranking (PRP) as a LangChain document compressor."""

from langchain_embcompare.rerank.algorithms import expected_comparisons, sorting_bound
from langchain_embcompare.rerank.chat import make_chat_model
from langchain_embcompare.rerank.oracle import OracleJudge
from langchain_embcompare.rerank.pairwise import DEFAULT_PRICES, METHODS, PairwiseLLMReranker
from langchain_embcompare.rerank.prompt import PROMPT_VERSION, PairChoice, build_messages, parse_answer
from langchain_embcompare.rerank.report import PositionBiasWarning, QueryReport, RerankerCallError
from langchain_embcompare.rerank.retriever import RerankedRetriever, rerank_retriever

__all__ = [
    "PairwiseLLMReranker",
    "QueryReport",
    "PositionBiasWarning",
    "RerankerCallError",
    "OracleJudge",
    "make_chat_model",
    "RerankedRetriever",
    "rerank_retriever",
    "METHODS",
    "DEFAULT_PRICES",
    "PROMPT_VERSION",
    "PairChoice",
    "build_messages",
    "parse_answer",
    "expected_comparisons",
    "sorting_bound",
]
