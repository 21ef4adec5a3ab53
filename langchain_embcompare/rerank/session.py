"""One query's reranking session: the comparison plan, budget, cache look-ups, outcomes, bias checks."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from typing import Any, Protocol, runtime_checkable

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage

from langchain_embcompare.rerank import algorithms
from langchain_embcompare.rerank.llm import (
    UNJUDGED,
    JudgeCall,
    is_rate_limit,
    is_retryable,
    is_timeout,
    model_id_of,
    parse_output,
    reply_text,
    model_name_of,
)
from langchain_embcompare.rerank.prompt import PROMPT_VERSION, build_messages, prompt_text
from langchain_embcompare.rerank.report import PositionBiasWarning, QueryReport, RerankerCallError
from langchain_embcompare.rerank.tokens import count_tokens, encoding_name


logger = logging.getLogger("langchain_embcompare.rerank.pairwise")


@runtime_checkable
class SessionOwner(Protocol):
    """What a :class:`Session` reads from and reports back to its reranker (the public surface of
    :class:`~langchain_embcompare.rerank.pairwise.PairwiseLLMReranker` it uses)."""

    llm: Any
    method: str
    k: int | None
    top_n: int | None
    max_calls: int | None
    max_tokens: int | None
    max_retries: int
    cache: Any
    bias_min_comparisons: int
    bias_warning_threshold: float

    @property
    def structured_output_active(self) -> bool: ...

    def confirm_structured_output(self) -> None: ...

    def fall_back_to_text(self, exc: BaseException) -> bool: ...

    def price_of(self, model: str) -> tuple[float, float] | None: ...

    def record_report(self, report: QueryReport) -> None: ...

    def claim_bias_warning(self) -> bool: ...


class Session:
    """State of one query's reranking: budget, cache look-ups, counting, outcomes.

    Args:
        owner: the reranker (a :class:`~langchain_embcompare.rerank.pairwise.PairwiseLLMReranker`; what is
            used of it: :class:`SessionOwner`).
        documents: the documents to rerank, in the first stage's order.
        query: the user's question.
    """

    def __init__(self, owner: SessionOwner, documents: list[Document], query: str) -> None:
        self.owner = owner
        self.documents = documents
        self.texts = [d.page_content for d in documents]
        self.query = query
        self.model = model_name_of(owner.llm)
        self.model_id = model_id_of(owner.llm)
        n = len(documents)
        wanted = owner.k if owner.k is not None else owner.top_n
        self.k = n if wanted is None else min(wanted, n)
        self.report = QueryReport(
            query=query,
            method=owner.method,
            model=self.model,
            n_documents=n,
            top_n=owner.top_n,
            token_encoding=encoding_name(self.model),
            structured_output=owner.structured_output_active,
        )
        self.answers: list[list[str | None]] = []
        self.judged_per_doc = [0] * n
        self.reserved_calls = 0
        self.reserved_tokens = 0
        self.first_error: str | None = None
        self.bias_seen: set[tuple[int, int]] = set()
        self.started = time.perf_counter()

    def algorithm(self) -> algorithms.Round:
        n = len(self.documents)
        if self.owner.method == "allpairs":
            return algorithms.allpairs(n)
        if self.owner.method == "sliding":
            return algorithms.sliding(n, self.k)
        return algorithms.sorting(n, self.k)

    def _key(self, a: int, b: int) -> str:
        payload = json.dumps([self.model_id, PROMPT_VERSION, self.query, self.texts[a], self.texts[b]])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _exhaust(self, reason: str) -> None:
        if not self.report.budget_exhausted:
            logger.info("rerank budget exhausted (%s) for query %r", reason, self.query[:60])
        self.report.budget_exhausted = True
        self.report.budget_reason = self.report.budget_reason or reason

    def plan(self, pairs: list[algorithms.Pair]) -> list[JudgeCall]:
        """Answer what the cache knows; return the calls this round needs, within budget."""
        owner, cache = self.owner, self.owner.cache
        self.answers = [[None, None] for _ in pairs]
        needed: list[tuple[int, list[tuple[int, str, list[BaseMessage]]]]] = []
        for p, (i, j) in enumerate(pairs):
            self.report.comparisons += 1
            missing = []
            for order, (a, b) in enumerate(((i, j), (j, i))):
                key = self._key(a, b)
                hit = cache.get(key) if cache is not None else None
                if hit in ("A", "B"):
                    self.answers[p][order] = hit
                else:
                    missing.append((order, key, build_messages(self.query, self.texts[a], self.texts[b])))
            needed.append((p, missing))
        all_messages = [prompt_text(m) for _, missing in needed for _, _, m in missing]
        token_counts = iter(count_tokens(all_messages, self.model))
        calls: list[JudgeCall] = []
        for p, missing in needed:
            tokens = [next(token_counts) for _ in missing]
            if missing:
                over_calls = owner.max_calls is not None and self.reserved_calls + len(missing) > owner.max_calls
                over_tokens = owner.max_tokens is not None and self.reserved_tokens + sum(tokens) > owner.max_tokens
                if self.report.budget_exhausted or over_calls or over_tokens:
                    self._exhaust("max_calls" if over_calls else "max_tokens" if over_tokens else "earlier")
                    self.answers[p] = [UNJUDGED, UNJUDGED]
                    continue
                self.reserved_calls += len(missing)
                self.reserved_tokens += sum(tokens)
            self.report.cache_hits += 2 - len(missing)
            for (order, key, messages), count in zip(missing, tokens):
                calls.append(JudgeCall(slot=(p, order), key=key, messages=messages, prompt_tokens=count))
        return calls

    def absorb(self, calls: list[JudgeCall], todo: list[int], outs: list[Any], attempt: int) -> list[int]:
        """Store results of one batch; return the calls to retry after a backoff."""
        owner, report = self.owner, self.report
        sent_structured = owner.structured_output_active
        report.calls += len(todo)
        retry: list[int] = []
        for t, out in zip(todo, outs):
            call = calls[t]
            if not isinstance(out, BaseException):
                call.output, call.error = out, None
                if sent_structured:
                    owner.confirm_structured_output()
                continue
            call.error = out
            transient = is_timeout(out) or is_rate_limit(out)
            if sent_structured and not transient and owner.fall_back_to_text(out):
                retry.append(t)  # the server rejected structured output: ask again as text
                self.reserved_calls += 1
                continue
            if is_retryable(out):
                if attempt < owner.max_retries and (
                    owner.max_calls is None or self.reserved_calls < owner.max_calls
                ):
                    report.retries += 1
                    report.timeouts += is_timeout(out)
                    report.rate_limited += is_rate_limit(out)
                    self.reserved_calls += 1
                    retry.append(t)
                    continue
            self.first_error = self.first_error or f"{type(out).__name__}: {out}"
        report.structured_output = owner.structured_output_active
        return retry

    def outcomes(self, pairs: list[algorithms.Pair], calls: list[JudgeCall]) -> list[int]:
        """Turn both orders' answers into one outcome per pair; count tokens, bias, answers."""
        report, cache = self.report, self.owner.cache
        for call in calls:
            p, order = call.slot
            if call.error is not None:
                parsed_kind = "error"
            else:
                parsed_kind = parse_output(call.output).kind
                report.prompt_tokens += call.prompt_tokens
                answer_tokens = count_tokens([reply_text(call.output)], self.model)[0]
                report.completion_tokens += answer_tokens
                self.reserved_tokens += answer_tokens  # the token budget covers answers too
                if parsed_kind in ("A", "B") and cache is not None:
                    cache[call.key] = parsed_kind
            report.answers[parsed_kind] += 1
            self.answers[p][order] = parsed_kind
        results: list[int] = []
        for p, (i, j) in enumerate(pairs):
            first, second = self.answers[p]
            if first == UNJUDGED or second == UNJUDGED:
                report.unjudged_comparisons += 1
                results.append(0)
                continue
            report.judged_comparisons += 1
            self.judged_per_doc[i] += 1
            self.judged_per_doc[j] += 1
            if first in ("A", "B") and second in ("A", "B") and (i, j) not in self.bias_seen:
                # each pair counts once: sliding re-reads tied pairs from the cache pass after pass
                self.bias_seen.add((i, j))
                self.bias_seen.add((j, i))
                if first == second:
                    report.same_position_comparisons += 1
                else:
                    report.consistent_comparisons += 1
            if first == "A" and second == "B":
                results.append(1)
            elif first == "B" and second == "A":
                results.append(-1)
            else:
                results.append(0)
        return results

    def finish(self, order: list[int], scores: list[float] | None) -> list[Document]:
        """Check for total failure and position bias, price the query, build the documents."""
        owner, report = self.owner, self.report
        if report.answers["error"] and report.answers["error"] == sum(report.answers.values()):
            owner.record_report(self._close())
            raise RerankerCallError(
                f"every call to the judge failed ({self.first_error}) for query {self.query[:60]!r} "
                f"(model {self.model_id}): check the server URL, API key and model name."
            )
        self._check_bias()
        price = owner.price_of(self.model)
        report.cost_usd = (
            None
            if price is None
            else (report.prompt_tokens * price[0] + report.completion_tokens * price[1]) / 1e6
        )
        n = len(order)
        keep = order if owner.top_n is None else order[: owner.top_n]
        out = []
        for rank, idx in enumerate(keep, start=1):
            doc = self.documents[idx]
            by_rank = 1.0 - (rank - 1) / max(n, 1)  # strictly decreasing: ties cannot reorder
            metadata = {
                **doc.metadata,
                "score": by_rank,
                "relevance_score": float(scores[idx]) if scores is not None else by_rank,
                "rerank_rank": rank,
                "rerank_method": owner.method,
                "rerank_comparisons": self.judged_per_doc[idx],
                "rerank_budget_exhausted": report.budget_exhausted,
            }
            if "score" in doc.metadata:
                metadata["retriever_score"] = doc.metadata["score"]
            out.append(Document(page_content=doc.page_content, metadata=metadata, id=doc.id))
        owner.record_report(self._close())
        return out

    def _check_bias(self) -> None:
        owner, report = self.owner, self.report
        valid = report.consistent_comparisons + report.same_position_comparisons
        if not valid:
            return
        report.same_position_share = report.same_position_comparisons / valid
        if valid < owner.bias_min_comparisons or report.same_position_share <= owner.bias_warning_threshold:
            return
        report.bias_warning = True
        if not owner.claim_bias_warning():  # once per reranker: an eval over 300 queries must not spam
            return
        warnings.warn(
            f"the judge model {self.model!r} picked the same position in both orders for "
            f"{report.same_position_share:.0%} of {valid} passage pairs (threshold "
            f"{owner.bias_warning_threshold:.0%}; a coin-flipping judge scores 50%): its answers "
            "carry no ranking signal, and such pairs count as ties, so the retriever's order "
            "mostly stays. Use a stronger model.",
            PositionBiasWarning,
            stacklevel=4,
        )

    def _close(self) -> QueryReport:
        self.report.elapsed_s = time.perf_counter() - self.started
        return self.report
