"""OracleJudge: a chat model that answers pairwise prompts from relevance judgements (qrels).

Why: reranking quality can only be measured offline against a judge whose quality is known. The
oracle answers every prompt built by :mod:`.prompt` with the passage that has the higher qrels grade,
optionally with noise (a flipped answer with probability ``noise``) and position bias (answer a
fixed letter with probability ``bias_rate``). It is an ordinary LangChain ``BaseChatModel``, so the
reranker drives it exactly like ChatOpenAI. For tests and benchmarks; it never sees the CLI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.rerank.prompt import extract_fields


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from strings: same prompt, same draw, any thread order."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class OracleJudge(BaseChatModel):
    """Answers "A" or "B" for the passage with the higher qrels grade.

    Build it with :meth:`from_qrels`. Equal grades are broken by a hash of the two passages that
    does not depend on their order, so the oracle itself has no position bias unless asked to.

    Args:
        relevance: query text -> passage text -> grade (missing = 0).
        noise: probability in [0, 1] that an answer is flipped.
        position_bias: ``"A"`` or ``"B"``, a letter answered regardless of content, or None.
        bias_rate: probability in [0, 1] that the ``position_bias`` letter is answered.
        seed: seed of the noise and bias draws (hash-based, so reproducible per prompt).
        model_name: overwritten with a name encoding the settings (it feeds the reranker's cache key).

    Raises:
        InvalidParameterError: ``noise`` or ``bias_rate`` outside [0, 1].
    """

    relevance: dict[str, dict[str, int]] = Field(default_factory=dict)
    """query text -> passage text -> grade (missing = 0)."""
    noise: float = 0.0
    """Probability that an answer is flipped (independently per prompt)."""
    position_bias: Literal["A", "B"] | None = None
    """A letter the judge answers regardless of content (with probability ``bias_rate``)."""
    bias_rate: float = 1.0
    seed: int = 0
    model_name: str = "oracle"

    _calls: int = PrivateAttr(default=0)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if not 0.0 <= self.noise <= 1.0 or not 0.0 <= self.bias_rate <= 1.0:
            raise InvalidParameterError(
                f"OracleJudge noise={self.noise} and bias_rate={self.bias_rate} must lie in [0, 1]."
            )
        bias = f",bias={self.position_bias}@{self.bias_rate}" if self.position_bias else ""
        # The name feeds the reranker's cache key: judges with other settings must not share it.
        self.model_name = f"oracle(noise={self.noise}{bias},seed={self.seed})"

    @classmethod
    def from_qrels(
        cls,
        qrels: Mapping[str, Mapping[str, int]],
        queries: Mapping[str, str],
        corpus: Mapping[str, str] | Iterable[Document],
        **kwargs: Any,
    ) -> OracleJudge:
        """Build from BEIR-style qrels, ``{query id: text}`` and ``{doc id: text}`` (or Documents
        whose ``id`` is the doc id). Passages are matched by their exact text, as the reranker
        sends ``page_content``.

        Args:
            qrels: BEIR-style ``{query id: {doc id: grade}}``.
            queries: ``{query id: query text}``.
            corpus: ``{doc id: passage text}``, or Documents whose ``id`` (or ``metadata["doc_id"]``) is the doc id.
            **kwargs: other :class:`OracleJudge` fields (``noise``, ``position_bias``, ``seed``, ...).

        Returns:
            The judge.

        Raises:
            InvalidParameterError: a Document without an id, or a bad field value.
        """
        if isinstance(corpus, Mapping):
            texts = dict(corpus)
        else:
            texts = {}
            for doc in corpus:
                doc_id = doc.id or doc.metadata.get("doc_id")
                if doc_id is None:
                    raise InvalidParameterError(
                        "OracleJudge.from_qrels needs Document.id (or metadata['doc_id']) to match "
                        "documents to qrels; set it when loading the corpus."
                    )
                texts[str(doc_id)] = doc.page_content
        relevance: dict[str, dict[str, int]] = {}
        for qid, judged in qrels.items():
            if qid not in queries:
                continue
            graded = relevance.setdefault(queries[qid], {})
            for doc_id, grade in judged.items():
                if doc_id in texts:
                    graded[texts[doc_id]] = int(grade)
        return cls(relevance=relevance, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "oracle-judge"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @property
    def calls(self) -> int:
        """How many prompts this judge has answered (for tests of call counting)."""
        return self._calls

    def judge(self, messages: list[BaseMessage]) -> str:
        """The letter this oracle answers for one prompt ("" for a prompt it cannot read).

        Args:
            messages: the reranker's prompt messages for one comparison.

        Returns:
            ``"A"``, ``"B"``, or ``""`` for a prompt it cannot read.
        """
        self._calls += 1
        fields = extract_fields(messages)
        if fields is None:
            return ""
        query, a, b = fields
        if self.position_bias is not None and _unit(str(self.seed), "bias", query, a, b) < self.bias_rate:
            return self.position_bias
        grades = self.relevance.get(query, {})
        ga, gb = grades.get(a, 0), grades.get(b, 0)
        if ga != gb:
            letter = "A" if ga > gb else "B"
        else:  # order-free tie break: the same passage wins in both orders
            letter = "A" if _unit("tie", a) >= _unit("tie", b) else "B"
        if self.noise and _unit(str(self.seed), "noise", query, a, b) < self.noise:
            letter = "B" if letter == "A" else "A"
        return letter

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.judge(messages)))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # CPU-only and instant: no thread hop needed.
        return self._generate(messages, stop=stop, **kwargs)
