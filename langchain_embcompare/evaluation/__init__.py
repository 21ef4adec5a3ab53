"""Evaluation: BEIR data sets, metrics, and (see compare.py) A/B comparison."""

from langchain_embcompare.evaluation.compare import ComparisonResult, RunSpec, compare, load_config
from langchain_embcompare.evaluation.datasets import BeirDataset, load_beir
from langchain_embcompare.evaluation.metrics import DEFAULT_METRICS, Run, evaluate_per_query, evaluate_run, retrieve_run

__all__ = ["compare", "ComparisonResult", "RunSpec", "load_config", "BeirDataset", "load_beir", "DEFAULT_METRICS", "Run", "evaluate_per_query", "evaluate_run", "retrieve_run"]
