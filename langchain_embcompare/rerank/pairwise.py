"""PairwiseLLMReranker: pairwise ranking prompting (PRP) as a LangChain document compressor.

Why pairwise: small and mid-size chat models rank far more reliably when asked "which of these two
passages is more relevant?" than when asked to order a whole list (Qin et al. 2023). Each comparison
is asked in both orders; answers that disagree count as a tie, which also cancels position bias and
prompt injection. Drop it into ``ContextualCompressionRetriever`` after any retriever::

    from langchain_classic.retrievers import ContextualCompressionRetriever
    reranker = PairwiseLLMReranker(llm=make_chat_model("openai:gpt-4o-mini"), method="sorting", top_n=5)
    retriever = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=base)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import ConfigDict, Field, PrivateAttr, SkipValidation

from langchain_embcompare.errors import EmbCompareError, EmptyInputError, InvalidParameterError
from langchain_embcompare.rerank import algorithms
from langchain_embcompare.rerank.prompt import (
    PROMPT_VERSION,
    PairChoice,
    ParsedAnswer,
    build_messages,
    parse_answer,
    prompt_text,
)
from langchain_embcompare.rerank.tokens import count_tokens, encoding_name

logger = logging.getLogger(__name__)

METHODS = ("allpairs", "sorting", "sliding")

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # USD per 1M tokens (input, output); longest matching prefix of the model name wins.
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "oracle": (0.0, 0.0),
}

_UNJUDGED = "unjudged"
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
_RETRYABLE_NAMES = {
    "RateLimitError",
    "APITimeoutError",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "Timeout",
    "TimeoutException",
    "ReadTimeout",
    "ConnectTimeout",
}


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


@dataclass
class _Call:
    """One ordered comparison that needs the model."""

    slot: tuple[int, int]  # (pair index in round, order 0|1)
    key: str
    messages: list[BaseMessage]
    prompt_tokens: int
    output: Any = None
    error: BaseException | None = None


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, FuturesTimeout)):
        return True
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in _RETRYABLE_STATUS:
        return True
    return type(exc).__name__ in _RETRYABLE_NAMES


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (TimeoutError, asyncio.TimeoutError, FuturesTimeout)) or "Timeout" in type(exc).__name__


def _is_rate_limit(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return status == 429 or type(exc).__name__ == "RateLimitError"


def _unwrap(llm: Any) -> Any:
    while hasattr(llm, "bound") and not isinstance(llm, BaseChatModel):
        llm = llm.bound
    return llm


def model_name_of(llm: Any) -> str:
    """The model's name as providers bill it ("gpt-4o-mini"), else its LangChain type."""
    inner = _unwrap(llm)
    for attr in ("model_name", "model", "model_id"):
        value = getattr(inner, attr, None)
        if isinstance(value, str) and value:
            return value
    return str(getattr(inner, "_llm_type", type(inner).__name__))


def _model_id(llm: Any) -> str:
    inner = _unwrap(llm)
    base = getattr(inner, "openai_api_base", None) or getattr(inner, "base_url", None)
    suffix = f"@{base}" if isinstance(base, str) and base else ""
    return f"{type(inner).__name__}:{model_name_of(llm)}{suffix}"


def _supports_structured(llm: Any) -> bool:
    """True when the chat model class implements tool calling / structured output itself."""
    if not isinstance(llm, BaseChatModel):
        return False
    cls = type(llm)
    return (
        cls.bind_tools is not BaseChatModel.bind_tools
        or cls.with_structured_output is not BaseChatModel.with_structured_output
    )


def _reply_text(output: Any) -> str:
    """The text the model produced (for completion-token counting)."""
    if isinstance(output, dict) and "raw" in output:
        output = output["raw"]
    if isinstance(output, BaseMessage):
        text = output.content if isinstance(output.content, str) else str(output.text)
        tool_calls = getattr(output, "tool_calls", None)
        if not text and tool_calls:
            text = json.dumps([call.get("args", {}) for call in tool_calls])
        return text
    return "" if output is None else str(output)


def _parse_output(output: Any) -> ParsedAnswer:
    if isinstance(output, dict) and "raw" in output:  # with_structured_output(include_raw=True)
        if output.get("parsed") is not None:
            return parse_answer(output["parsed"])
        return parse_answer(output["raw"])
    return parse_answer(output)


class PairwiseLLMReranker(BaseDocumentCompressor):
    """Rerank documents by asking a chat model which of two passages better answers the query.

    ``method``: "allpairs" (every pair, score = wins; n(n-1) calls), "sorting" (heap sort stopped
    once the top k are known; at most 2·(2(n-1) + 2(k-1)·floor(log2 n)) calls) or "sliding"
    (k bubble passes from the bottom up; 2(n-1) calls per pass); k defaults to ``top_n``. Every comparison is asked in
    both orders; disagreeing answers are a tie. Budgets (``max_calls``, ``max_tokens``) apply per
    query: once spent, the remaining comparisons fall back to the retriever's order, and every
    returned document says so in ``metadata["rerank_budget_exhausted"]``. One
    :class:`QueryReport` per query lands in :attr:`reports`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: SkipValidation[Runnable]
    """Any LangChain chat model (ChatOpenAI, ChatOllama, an OpenAI-compatible local server, fakes)."""
    method: str = "sorting"
    top_n: int | None = 3
    """Documents returned (LangChain's naming); None returns all of them."""
    k: int | None = None
    """Top positions "sorting" (heap pops) and "sliding" (passes) must fix; default ``top_n``
    (every position when that is None). Documents below k keep the order the method left them in."""
    max_calls: int | None = None
    """Per-query budget of model calls (retries included)."""
    max_tokens: int | None = None
    """Per-query budget of tokens (prompt + answer, counted with tiktoken)."""
    max_concurrency: int = 8
    """Calls of one round in flight at once (``batch``/``abatch`` max_concurrency)."""
    price_table: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """USD per 1M (input, output) tokens by model name (prefix match); merged over DEFAULT_PRICES."""
    cache: SkipValidation[Any] = Field(default_factory=dict)
    """Mapping for judgements keyed by (model, prompt version, query, ordered passage pair);
    any ``MutableMapping[str, str]`` (a dict, a shelve, a disk cache); None disables caching."""
    bias_warning_threshold: float = 0.5
    """Warn (a :class:`PositionBiasWarning`, once per reranker; every query's report carries
    ``bias_warning``) when more than this share of passage pairs got the same position in both
    orders (0.5 = a coin-flipping judge, 1.0 = a judge that always says "A")."""
    bias_min_comparisons: int = 3
    """Comparisons with two valid answers needed before the bias warning may fire."""
    structured_output: bool | None = None
    """Ask for a JSON letter via ``with_structured_output``; None = when the model class supports
    it, falling back to text if the server rejects it."""
    timeout: float | None = 60.0
    """Seconds one call may take before it is retried."""
    max_retries: int = 3
    """Retries of a call that hit a rate limit (429), a timeout or a 5xx."""
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0

    _reports: list[QueryReport] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _structured_state: str = PrivateAttr(default="untested")  # untested | on | off
    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _structured_confirmed: bool = PrivateAttr(default=False)
    _bias_warned: bool = PrivateAttr(default=False)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._validate()

    def _validate(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameterError(
                f"method={self.method!r} is not a PRP variant; use one of {', '.join(METHODS)}."
            )
        checks: list[tuple[str, Any, Callable[[Any], bool], str]] = [
            ("top_n", self.top_n, lambda v: v is None or v >= 1, "an int >= 1 or None"),
            ("k", self.k, lambda v: v is None or v >= 1, "an int >= 1 or None"),
            ("max_calls", self.max_calls, lambda v: v is None or v >= 0, "an int >= 0 or None"),
            ("max_tokens", self.max_tokens, lambda v: v is None or v >= 0, "an int >= 0 or None"),
            ("max_concurrency", self.max_concurrency, lambda v: v >= 1, "an int >= 1"),
            ("max_retries", self.max_retries, lambda v: v >= 0, "an int >= 0"),
            ("timeout", self.timeout, lambda v: v is None or v > 0, "seconds > 0 or None"),
            ("bias_warning_threshold", self.bias_warning_threshold, lambda v: 0 <= v <= 1, "in [0, 1]"),
        ]
        for name, value, ok, want in checks:
            if not ok(value):
                raise InvalidParameterError(f"{name}={value!r} is invalid: pass {want}.")
        if self.structured_output is None:
            self._structured_state = "on" if _supports_structured(self.llm) else "off"
        else:
            self._structured_state = "on" if self.structured_output else "off"

    # ------------------------------------------------------------------ reports
    @property
    def reports(self) -> list[QueryReport]:
        """One report per reranked query, oldest first."""
        return list(self._reports)

    @property
    def last_report(self) -> QueryReport | None:
        return self._reports[-1] if self._reports else None

    def reset_reports(self) -> None:
        with self._lock:
            self._reports.clear()

    def summary(self) -> dict[str, Any]:
        """Totals and per-query means over :attr:`reports` (calls, tokens, cost, bias)."""
        reps = self.reports
        n = len(reps)
        valid = sum(r.consistent_comparisons + r.same_position_comparisons for r in reps)
        same = sum(r.same_position_comparisons for r in reps)
        costs = [r.cost_usd for r in reps]
        return {
            "queries": n,
            "method": self.method,
            "model": model_name_of(self.llm),
            "calls": sum(r.calls for r in reps),
            "calls_per_query": sum(r.calls for r in reps) / n if n else 0.0,
            "cache_hits": sum(r.cache_hits for r in reps),
            "prompt_tokens": sum(r.prompt_tokens for r in reps),
            "completion_tokens": sum(r.completion_tokens for r in reps),
            "cost_usd": None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
            "invalid_answers": sum(r.invalid_answers for r in reps),
            "same_position_share": same / valid if valid else None,
            "bias_warnings": sum(r.bias_warning for r in reps),
            "budget_exhausted": sum(r.budget_exhausted for r in reps),
        }

    # ------------------------------------------------------------------ LangChain API
    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Rerank ``documents`` for ``query`` and return the best ``top_n`` (sync)."""
        session = self._session(documents, query)
        if session is None:
            return []
        gen = session.algorithm()
        try:
            pairs = next(gen)
            while True:
                calls = session.plan(pairs)
                todo = list(range(len(calls)))
                attempt = 0
                while todo:
                    outs = self._runnable(sync=True).batch(
                        [calls[t].messages for t in todo],
                        config=self._config(callbacks),
                        return_exceptions=True,
                    )
                    todo = session.absorb(calls, todo, outs, attempt)
                    if todo:
                        time.sleep(self._backoff(attempt))
                        attempt += 1
                pairs = gen.send(session.outcomes(pairs, calls))
        except StopIteration as stop:
            order, scores = stop.value
        return session.finish(order, scores)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Rerank ``documents`` for ``query`` and return the best ``top_n`` (async, ``abatch``)."""
        session = self._session(documents, query)
        if session is None:
            return []
        gen = session.algorithm()
        try:
            pairs = next(gen)
            while True:
                calls = session.plan(pairs)
                todo = list(range(len(calls)))
                attempt = 0
                while todo:
                    outs = await self._runnable(sync=False).abatch(
                        [calls[t].messages for t in todo],
                        config=self._config(callbacks),
                        return_exceptions=True,
                    )
                    todo = session.absorb(calls, todo, outs, attempt)
                    if todo:
                        await asyncio.sleep(self._backoff(attempt))
                        attempt += 1
                pairs = gen.send(session.outcomes(pairs, calls))
        except StopIteration as stop:
            order, scores = stop.value
        return session.finish(order, scores)

    # ------------------------------------------------------------------ internals
    def _session(self, documents: Sequence[Document], query: str) -> _Session | None:
        if not isinstance(query, str) or not query.strip():
            raise EmptyInputError("PairwiseLLMReranker got an empty query: pass the user's question.")
        if not documents:
            return None
        return _Session(self, list(documents), query)

    def _config(self, callbacks: Callbacks | None) -> RunnableConfig:
        config: RunnableConfig = {"max_concurrency": self.max_concurrency}
        if callbacks is not None:
            config["callbacks"] = callbacks
        return config

    def _backoff(self, attempt: int) -> float:
        delay = min(self.retry_base_delay * 2**attempt, self.retry_max_delay)
        return delay * (0.5 + random.random() / 2)  # jitter so parallel retries spread out

    def _runnable(self, sync: bool) -> Runnable:
        """The model (structured or plain) wrapped with a per-call timeout."""
        target: Runnable = self.llm
        if self._structured_state == "on":
            target = self.llm.with_structured_output(PairChoice, include_raw=True)  # type: ignore[attr-defined]
        timeout = self.timeout

        pool = self._timeout_pool() if sync and timeout is not None else None

        def call(messages: list[BaseMessage], config: RunnableConfig) -> Any:
            if pool is None:
                return target.invoke(messages, config)
            try:
                return pool.submit(target.invoke, messages, config).result(timeout)
            except FuturesTimeout as exc:
                raise TimeoutError(f"the judge model did not answer within {timeout} s") from exc

        async def acall(messages: list[BaseMessage], config: RunnableConfig) -> Any:
            if timeout is None:
                return await target.ainvoke(messages, config)
            try:
                return await asyncio.wait_for(target.ainvoke(messages, config), timeout)
            except asyncio.TimeoutError as exc:
                raise TimeoutError(f"the judge model did not answer within {timeout} s") from exc

        return RunnableLambda(call, afunc=acall, name="prp_judge")

    def _timeout_pool(self) -> ThreadPoolExecutor:
        """Workers that run sync calls so a hung call can be abandoned after ``timeout``.
        Twice ``max_concurrency``: abandoned calls keep a worker until their client gives up."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=2 * self.max_concurrency, thread_name_prefix="prp-judge"
                )
            return self._pool

    def _price(self, model: str) -> tuple[float, float] | None:
        table = {**DEFAULT_PRICES, **self.price_table}
        best = max((name for name in table if model.startswith(name)), key=len, default=None)
        return table[best] if best is not None else None

    def _structured_unconfirmed_failure(self, exc: BaseException) -> bool:
        """A structured call failed before any succeeded (servers such as llama.cpp reject
        ``response_format=json_schema`` with a 400 or 500): switch to text answers for good.
        Not when the user forced ``structured_output=True``."""
        if self.structured_output is True or self._structured_confirmed:
            return False
        with self._lock:
            if self._structured_state == "on":
                logger.warning(
                    "structured output failed (%s: %s); falling back to text answers",
                    type(exc).__name__,
                    str(exc)[:200],
                )
            self._structured_state = "off"
        return True

    def _record(self, report: QueryReport) -> None:
        with self._lock:
            self._reports.append(report)


class _Session:
    """State of one query's reranking: budget, cache look-ups, counting, outcomes."""

    def __init__(self, owner: PairwiseLLMReranker, documents: list[Document], query: str) -> None:
        self.owner = owner
        self.documents = documents
        self.texts = [d.page_content for d in documents]
        self.query = query
        self.model = model_name_of(owner.llm)
        self.model_id = _model_id(owner.llm)
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
            structured_output=owner._structured_state == "on",
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

    def plan(self, pairs: list[algorithms.Pair]) -> list[_Call]:
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
        calls: list[_Call] = []
        for p, missing in needed:
            tokens = [next(token_counts) for _ in missing]
            if missing:
                over_calls = owner.max_calls is not None and self.reserved_calls + len(missing) > owner.max_calls
                over_tokens = owner.max_tokens is not None and self.reserved_tokens + sum(tokens) > owner.max_tokens
                if self.report.budget_exhausted or over_calls or over_tokens:
                    self._exhaust("max_calls" if over_calls else "max_tokens" if over_tokens else "earlier")
                    self.answers[p] = [_UNJUDGED, _UNJUDGED]
                    continue
                self.reserved_calls += len(missing)
                self.reserved_tokens += sum(tokens)
            self.report.cache_hits += 2 - len(missing)
            for (order, key, messages), count in zip(missing, tokens):
                calls.append(_Call(slot=(p, order), key=key, messages=messages, prompt_tokens=count))
        return calls

    def absorb(self, calls: list[_Call], todo: list[int], outs: list[Any], attempt: int) -> list[int]:
        """Store results of one batch; return the calls to retry after a backoff."""
        owner, report = self.owner, self.report
        sent_structured = owner._structured_state == "on"
        report.calls += len(todo)
        retry: list[int] = []
        for t, out in zip(todo, outs):
            call = calls[t]
            if not isinstance(out, BaseException):
                call.output, call.error = out, None
                if sent_structured:
                    owner._structured_confirmed = True
                continue
            call.error = out
            transient = _is_timeout(out) or _is_rate_limit(out)
            if sent_structured and not transient and owner._structured_unconfirmed_failure(out):
                retry.append(t)  # the server rejected structured output: ask again as text
                self.reserved_calls += 1
                continue
            if _is_retryable(out):
                if attempt < owner.max_retries and (
                    owner.max_calls is None or self.reserved_calls < owner.max_calls
                ):
                    report.retries += 1
                    report.timeouts += _is_timeout(out)
                    report.rate_limited += _is_rate_limit(out)
                    self.reserved_calls += 1
                    retry.append(t)
                    continue
            self.first_error = self.first_error or f"{type(out).__name__}: {out}"
        report.structured_output = owner._structured_state == "on"
        return retry

    def outcomes(self, pairs: list[algorithms.Pair], calls: list[_Call]) -> list[int]:
        """Turn both orders' answers into one outcome per pair; count tokens, bias, answers."""
        report, cache = self.report, self.owner.cache
        for call in calls:
            p, order = call.slot
            if call.error is not None:
                parsed_kind = "error"
            else:
                parsed_kind = _parse_output(call.output).kind
                report.prompt_tokens += call.prompt_tokens
                answer_tokens = count_tokens([_reply_text(call.output)], self.model)[0]
                report.completion_tokens += answer_tokens
                self.reserved_tokens += answer_tokens  # the token budget covers answers too
                if parsed_kind in ("A", "B") and cache is not None:
                    cache[call.key] = parsed_kind
            report.answers[parsed_kind] += 1
            self.answers[p][order] = parsed_kind
        results: list[int] = []
        for p, (i, j) in enumerate(pairs):
            first, second = self.answers[p]
            if first == _UNJUDGED or second == _UNJUDGED:
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
            owner._record(self._close())
            raise RerankerCallError(
                f"every call to the judge failed ({self.first_error}) for query {self.query[:60]!r} "
                f"(model {self.model_id}): check the server URL, API key and model name."
            )
        self._check_bias()
        price = owner._price(self.model)
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
        owner._record(self._close())
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
        with owner._lock:
            if owner._bias_warned:  # once per reranker: an eval over 300 queries must not spam
                return
            owner._bias_warned = True
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
