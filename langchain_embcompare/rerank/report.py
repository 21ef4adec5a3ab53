"""What one reranked query reports (calls, tokens, cost, budget, bias) and the reranker's errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_embcompare.errors import EmbCompareError


class RerankerCallError(EmbCompareError):
    """Every call to the judge model for a query failed (server down, bad key, wrong model...)."""


class PositionBiasWarning(UserWarning):
    """The judge picked the same position in both orders too often: its answers carry no ranking signal."""


@dataclass
class QueryReport:
    """What reranking one query cost and how trustworthy the judge's answers were."""

    query: str
    method: str
    model: str
    n_documents: int
    top_n: int | None
    comparisons: int = 0
    judged_comparisons: int = 0
    unjudged_comparisons: int = 0
    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    rate_limited: int = 0
    timeouts: int = 0
    answers: dict[str, int] = field(
        default_factory=lambda: {"A": 0, "B": 0, "empty": 0, "garbage": 0, "refusal": 0, "error": 0}
    )
    prompt_tokens: int = 0
    completion_tokens: int = 0
    token_encoding: str = ""
    cost_usd: float | None = 0.0
    consistent_comparisons: int = 0
    """Distinct passage pairs whose two answers named the same passage (one A, one B)."""
    same_position_comparisons: int = 0
    """Distinct passage pairs answered with the same letter in both orders (position bias)."""
    same_position_share: float | None = None
    bias_warning: bool = False
    budget_exhausted: bool = False
    budget_reason: str | None = None
    structured_output: bool = False
    elapsed_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def invalid_answers(self) -> int:
        """Replies that were no answer (empty, garbage, refusal, error): each made a tie."""
        return sum(v for k, v in self.answers.items() if k not in ("A", "B"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_tokens"] = self.total_tokens
        data["invalid_answers"] = self.invalid_answers
        return data



__all__ = ["PositionBiasWarning", "QueryReport", "RerankerCallError"]
