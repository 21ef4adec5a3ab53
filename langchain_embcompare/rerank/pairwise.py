"""PairwiseLLMReranker: pairwise ranking prompting (PRP) as a LangChain document compressor.

Why pairwise: small and mid-size chat models rank far more reliably when asked "which of these two
passages is more relevant?" than when asked to order a whole list (Qin et al. 2023). Each comparison
is asked in both orders; answers that disagree count as a tie, which also cancels position bias and
prompt injection. Drop it into ``ContextualCompressionRetriever`` after any retriever::

    from langchain_classic.retrievers import ContextualCompressionRetriever
    reranker = PairwiseLLMReranker(llm=make_chat_model("openai:gpt-4o-mini"), method="sorting", top_n=5)
    retriever = ContextualCompressionRetriever(base_compressor=reranker, base_retriever=base)

The module holds the compressor; one query's session is in ``session.py``, the judge-model helpers in
``llm.py`` and the per-query report in ``report.py``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from pydantic import ConfigDict, Field, PrivateAttr, SkipValidation

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.rerank.prompt import (
    PairChoice,
)

from langchain_embcompare.rerank.llm import model_name_of, supports_structured
from langchain_embcompare.rerank.report import QueryReport
from langchain_embcompare.rerank.session import Session

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

def price_per_million_tokens(
    model: str, price_table: dict[str, tuple[float, float]] | None = None
) -> tuple[float, float] | None:
    """USD per 1M (input, output) tokens of ``model``: the longest name in ``price_table`` merged over
    :data:`DEFAULT_PRICES` that prefixes ``model``; None when no name matches (cost then unknown, not 0).
    Shared by the reranker, the relevance judge and the question generator."""
    table = {**DEFAULT_PRICES, **(price_table or {})}
    best = max((name for name in table if model.startswith(name)), key=len, default=None)
    return table[best] if best is not None else None


class PairwiseLLMReranker(BaseDocumentCompressor):
    """Rerank documents by asking a chat model which of two passages better answers the query.

    ``method``: "allpairs" (every pair, score = wins; n(n-1) calls), "sorting" (heap sort stopped
    once the top k are known; at most 2·(2(n-1) + 2(k-1)·floor(log2 n)) calls) or "sliding"
    (k bubble passes from the bottom up; 2(n-1) calls per pass); k defaults to ``top_n``. Every comparison is asked in
    both orders; disagreeing answers are a tie. Budgets (``max_calls``, ``max_tokens``) apply per
    query: once spent, the remaining comparisons fall back to the retriever's order, and every
    returned document says so in ``metadata["rerank_budget_exhausted"]``. One
    :class:`QueryReport` per query lands in :attr:`reports`.

    Args:
        llm: any LangChain chat model.
        method: ``"allpairs"``, ``"sorting"`` or ``"sliding"``.
        top_n: documents returned, >= 1, or None for all.
        k: top positions to fix, >= 1 (default ``top_n``).
        max_calls: per-query budget of model calls, >= 0 (None: no budget).
        max_tokens: per-query budget of tokens, >= 0 (None: no budget).
        max_concurrency: calls of one round in flight at once, >= 1.
        price_table: USD per 1M (input, output) tokens by model name, merged over the defaults.
        cache: a mutable mapping of judgements, or None for no cache.
        bias_warning_threshold: share in [0, 1] of same-position answers above which a warning fires.
        bias_min_comparisons: comparisons needed before the bias warning may fire.
        structured_output: ask for a JSON letter (None: when the model class supports it).
        timeout: seconds one call may take before it is retried (> 0, or None).
        max_retries: retries of a call that hit a rate limit, timeout or 5xx, >= 0.
        retry_base_delay: first retry delay in seconds (doubled per retry, with jitter).
        retry_max_delay: cap on one retry delay in seconds.

    Raises:
        InvalidParameterError: an unknown ``method`` or a setting out of range.
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
            self._structured_state = "on" if supports_structured(self.llm) else "off"
        else:
            self._structured_state = "on" if self.structured_output else "off"

    # ------------------------------------------------------------------ reports
    @property
    def reports(self) -> list[QueryReport]:
        """One report per reranked query, oldest first."""
        return list(self._reports)

    @property
    def last_report(self) -> QueryReport | None:
        """The report of the most recent query reranked (calls, tokens, cost, bias check), or None."""
        return self._reports[-1] if self._reports else None

    def reset_reports(self) -> None:
        """Forget the per-query reports gathered so far (thread-safe)."""
        with self._lock:
            self._reports.clear()

    def summary(self) -> dict[str, Any]:
        """Totals and per-query means over :attr:`reports` (calls, tokens, cost, bias).

        Returns:
            A JSON-ready dict: ``queries``, ``method``, ``model``, ``calls``, ``calls_per_query``,
                ``cache_hits``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd`` (None when a price is
                unknown), ``invalid_answers``, ``same_position_share``, ``bias_warnings``, ``budget_exhausted``.
        """
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
        """Rerank ``documents`` for ``query`` and return the best ``top_n`` (sync).

        Args:
            documents: the candidates, in the retriever's order.
            query: the user's question.
            callbacks: LangChain callbacks passed to the chat model calls.

        Returns:
            The top ``top_n`` Documents (all of them when ``top_n`` is None), best first, copies with the
                rerank metadata (``score``, ``relevance_score``, ``rerank_rank``, ``rerank_budget_exhausted``, ...);
                ``[]`` for no documents.

        Raises:
            EmptyInputError: an empty query.
            RerankerCallError: every call to the judge failed for this query.
        """
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
        """Rerank ``documents`` for ``query`` and return the best ``top_n`` (async, ``abatch``).

        Args:
            documents: as :meth:`compress_documents`.
            query: as :meth:`compress_documents`.
            callbacks: as :meth:`compress_documents`.

        Returns:
            What :meth:`compress_documents` returns.

        Raises:
            EmptyInputError: as :meth:`compress_documents`.
            RerankerCallError: as :meth:`compress_documents`.
        """
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
    def _session(self, documents: Sequence[Document], query: str) -> Session | None:
        if not isinstance(query, str) or not query.strip():
            raise EmptyInputError("PairwiseLLMReranker got an empty query: pass the user's question.")
        if not documents:
            return None
        return Session(self, list(documents), query)

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

    # ------------------------------------------------------------------ what a query's Session reports back
    @property
    def structured_output_active(self) -> bool:
        """Whether judge calls ask for a structured (JSON) answer now (False after a fall-back to text)."""
        return self._structured_state == "on"

    def confirm_structured_output(self) -> None:
        """Record that a structured call succeeded: later failures no longer switch to text answers."""
        self._structured_confirmed = True

    def price_of(self, model: str) -> tuple[float, float] | None:
        """USD per 1M tokens ``(input, output)`` of ``model`` (:func:`price_per_million_tokens` over ``price_table``).

        Args:
            model: the judge model's billing name.

        Returns:
            ``(input, output)`` USD per 1M tokens, or None when the model has no known price.
        """
        return price_per_million_tokens(model, self.price_table)

    def fall_back_to_text(self, exc: BaseException) -> bool:
        """A structured call failed before any succeeded (servers such as llama.cpp reject
        ``response_format=json_schema`` with a 400 or 500): switch to text answers for good.
        Not when the user forced ``structured_output=True``.

        Args:
            exc: the exception of the failed structured call.

        Returns:
            True when the reranker switched (or had switched) to text answers, so the call is retried as text.
        """
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

    def record_report(self, report: QueryReport) -> None:
        """Append one query's report to :attr:`reports` (thread-safe).

        Args:
            report: the finished query's report.
        """
        with self._lock:
            self._reports.append(report)

    def claim_bias_warning(self) -> bool:
        """Whether the position-bias warning may be issued now: True once per reranker (thread-safe),
        so an evaluation over hundreds of queries warns once.

        Returns:
            True the first time it is called, False after.
        """
        with self._lock:
            if self._bias_warned:
                return False
            self._bias_warned = True
            return True
