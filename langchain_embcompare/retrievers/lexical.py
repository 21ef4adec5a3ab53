"""Lexical (keyword) retrieval as a first-class A/B arm: BM25 in-process with ``bm25s``, or the
store's own full-text engine (the store contract's capability ``"full_text"``).

Why: the first question about an embedding model is whether it beats keyword search at all. On
SciFact it often does not (BM25 nDCG@10 0.665 in the BEIR paper, 0.687 for bm25s' own configuration,
against 0.645 for all-MiniLM-L6-v2), so every comparison needs a lexical arm beside the dense ones.

* :class:`BM25Retriever`: ``bm25s`` (eager sparse-matrix BM25, Lu 2024, arXiv:2407.03618) over a
  list of Documents, with PyStemmer stemming and stopword removal. The default configuration is the
  one bm25s publishes its BEIR numbers for: Lucene's BM25 variant, ``k1=1.5``, ``b=0.75``, English
  Snowball stemmer, bm25s' English (NLTK) stopword list, lower-casing, tokens ``(?u)\\b\\w\\w+\\b``
  (scikit-learn's pattern: words of two or more characters). Every setting is a parameter and is
  recorded by :meth:`BM25Retriever.settings_dict`.

  bm25s' ``lucene`` variant (Kamphuis et al. 2020, "Which BM25 do you mean?"), for a query ``q`` and
  document ``d`` of ``|d|`` tokens in a corpus of ``N`` documents with mean length ``avgdl``::

      score(q, d) = sum over query tokens t (repeats counted) of
                    idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
      idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

  (no ``(k1 + 1)`` factor: it scales every score alike and Lucene >= 8 drops it.)

* :class:`StoreFullTextRetriever`: BM25 computed by a store's own full-text engine through the store
  contract (capability ``"full_text"``, ``store.full_text_search(queries, k)``): no second copy of
  the corpus. Each store documents its engine's formula and how it differs from bm25s.

* :func:`lexical_retriever_for` picks the store's own engine where it declares one and an in-process
  bm25s index over the store's documents (``store.iter_documents()``) otherwise, on any store.

Behaviour at the edges (one each, tested): an empty query, a stopword-only query, or a query none of
whose terms occur in the corpus returns ``[]`` (no document shares a term, so none has a BM25 score
above 0); documents with score 0 are never returned, so a query can get fewer than ``k`` documents.
Non-ASCII text is tokenised by Unicode word characters (``\\w``), lower-cased by ``str.lower``.
Documents follow the stores' input rules (:func:`~langchain_embcompare.stores.ops.prepare_documents`:
the id rule, and a lone UTF-16 surrogate in ``page_content``, the id or a metadata string refuses the
whole batch with an ``InvalidDocumentError`` naming each document and field, before anything is
indexed); a query holding a lone surrogate is refused with an ``InvalidParameterError`` naming it
(``queries[i]``, :func:`~langchain_embcompare.stores.ops.check_query`), on both engines.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.stores.base import BatchRetriever, EmbStore

__all__ = [
    "BM25Settings",
    "BM25Retriever",
    "StoreFullTextRetriever",
    "lexical_retriever_for",
]

logger = logging.getLogger(__name__)

BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
_SETTINGS_FILE = "embcompare_bm25.json"
_DOCS_FILE = "documents.jsonl"


@dataclass(frozen=True)
class BM25Settings:
    """BM25 and tokenisation settings (recorded in every run's JSON).

    ``k1`` (term-frequency saturation, > 0) and ``b`` (length normalisation, in [0, 1]) and ``method``
    (bm25s' variant: lucene | robertson | atire | bm25l | bm25+) are bm25s' defaults. ``stemmer`` is a
    PyStemmer (Snowball) language name such as ``"english"``, or None for no stemming. ``stopwords`` is
    a bm25s list name (``"en"``, ``"de"``, ...), an explicit list of words, or None. ``token_pattern``
    is the regex whose matches are the tokens (after lower-casing when ``lower``).

    Args:
        k1: term-frequency saturation, > 0 (bm25s default 1.5).
        b: length normalisation, in [0, 1] (bm25s default 0.75).
        method: bm25s' variant: lucene | robertson | atire | bm25l | bm25+.
        delta: the bm25l / bm25+ offset (ignored by the other variants).
        stemmer: a PyStemmer (Snowball) language name, or None for no stemming.
        stopwords: a bm25s list name (``"en"``, ...), an explicit list/tuple of words, or None.
        lower: lower-case texts and queries before tokenising.
        token_pattern: the regex whose matches are the tokens.

    Raises:
        InvalidParameterError: a setting out of range, an unknown method, stemmer or stopword list, or a
            token pattern that is not a valid regex.
    """

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    delta: float = 0.5  # bm25l / bm25+ only
    stemmer: str | None = "english"
    stopwords: str | tuple[str, ...] | None = "en"
    lower: bool = True
    token_pattern: str = r"(?u)\b\w\w+\b"

    def __post_init__(self) -> None:
        if not (isinstance(self.k1, (int, float)) and self.k1 > 0):
            raise InvalidParameterError(f"BM25 k1={self.k1!r} must be a positive number (bm25s default 1.5).")
        if not (isinstance(self.b, (int, float)) and 0 <= self.b <= 1):
            raise InvalidParameterError(f"BM25 b={self.b!r} must lie in [0, 1] (bm25s default 0.75).")
        if self.method not in BM25_METHODS:
            raise InvalidParameterError(f"BM25 method={self.method!r}: use one of {BM25_METHODS}.")
        if isinstance(self.stopwords, list):
            object.__setattr__(self, "stopwords", tuple(self.stopwords))
        if self.stemmer is not None:
            import Stemmer

            if self.stemmer not in Stemmer.algorithms():
                raise InvalidParameterError(
                    f"stemmer={self.stemmer!r} is not a PyStemmer language; use one of {sorted(Stemmer.algorithms())} or None."
                )
        if isinstance(self.stopwords, str):
            from bm25s.tokenization import _infer_stopwords

            try:
                _infer_stopwords(self.stopwords)
            except ValueError as exc:
                raise InvalidParameterError(f"stopwords={self.stopwords!r}: {exc}") from exc
        try:
            re.compile(self.token_pattern)
        except re.error as exc:
            raise InvalidParameterError(f"token_pattern={self.token_pattern!r} is not a valid regex: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (a stopword tuple becomes a list).

        Returns:
            The eight settings by field name (JSON types only).
        """
        d = asdict(self)
        if isinstance(d["stopwords"], tuple):
            d["stopwords"] = list(d["stopwords"])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BM25Settings:
        """Rebuild settings from :meth:`to_dict`'s output; unknown keys are ignored.

        Args:
            data: ``{field: value}``.

        Returns:
            The :class:`BM25Settings`.
        """
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def check_queries(queries: Sequence[Any]) -> None:
    """Every query a ``str`` UTF-8 can encode, or :class:`InvalidParameterError` naming ``queries[i]``
    (the lone-surrogate rule: :func:`~langchain_embcompare.stores.ops.check_query`)."""
    from langchain_embcompare.stores.ops import check_query

    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise InvalidParameterError(f"queries[{i}] is a {type(q).__name__}, not a str.")
        check_query(q, f"queries[{i}]")


class _Tokenizer:
    """bm25s.tokenize with the settings' stemmer and stopwords, stemmer built once."""

    def __init__(self, settings: BM25Settings) -> None:
        self.settings = settings
        self.stemmer = None
        if settings.stemmer is not None:
            import Stemmer

            self.stemmer = Stemmer.Stemmer(settings.stemmer)
        sw = settings.stopwords
        self.stopwords: Any = list(sw) if isinstance(sw, tuple) else sw

    def __call__(self, texts: list[str], ids: bool):
        import bm25s

        return bm25s.tokenize(
            texts,
            lower=self.settings.lower,
            token_pattern=self.settings.token_pattern,
            stopwords=self.stopwords,
            stemmer=self.stemmer,
            return_ids=ids,
            show_progress=False,
        )


class BM25Retriever(BatchRetriever):
    """BM25 over a fixed list of Documents, in process, with ``bm25s`` (a LangChain ``BaseRetriever``).

    >>> r = BM25Retriever.from_documents(docs, k=10)           # bm25s' published configuration
    >>> r.invoke("does vitamin D prevent fractures?")           # Documents, metadata["score"] = BM25
    >>> r.search_batch(queries, k=100)                          # the evaluation path: all queries at once

    Scores are BM25 scores (unbounded, >= 0, higher = more relevant); only documents sharing at least
    one term with the query are returned. ``filter`` (redisvl expression or LangChain-style dict, the
    same grammar as the stores) restricts the documents before ranking. Saved with :meth:`save` as
    bm25s' ``.npy`` arrays (written with ``allow_pickle=False``) + JSON: no pickle anywhere.

    Args:
        documents: the Documents to index (build with :meth:`from_documents`, which also builds the index).
        k: documents returned per query, > 0.
        filter: a default filter (redisvl expression or LangChain-style dict) applied to every search.
        settings: the BM25 and tokenisation settings.
        index_seconds: wall-clock seconds the index took to build (set by :meth:`from_documents`).

    Raises:
        InvalidParameterError: ``k`` is not positive.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = 4
    filter: Any = None
    settings: BM25Settings = Field(default_factory=BM25Settings)
    documents: list[Document]

    _bm25: Any = PrivateAttr(default=None)
    _tok: Any = PrivateAttr(default=None)
    _vocab: dict[str, int] = PrivateAttr(default_factory=dict)
    _mask_cache: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)
    index_seconds: float = 0.0

    def __init__(self, **kwargs: Any) -> None:
        # checked before pydantic, so the error keeps its class (pydantic wraps ValueErrors)
        if kwargs.get("k", 4) <= 0:
            raise InvalidParameterError(f"k must be positive, got {kwargs['k']}.")
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[Document],
        *,
        k: int = 4,
        settings: BM25Settings | None = None,
        **setting_kwargs: Any,
    ) -> BM25Retriever:
        """Index ``documents`` (their ``page_content``). ``setting_kwargs`` are :class:`BM25Settings`
        fields (``k1``, ``b``, ``method``, ``stemmer``, ``stopwords``, ...).

        Documents pass the stores' gate (:func:`~langchain_embcompare.stores.ops.prepare_documents`:
        the id rule and the input rules), so what is indexed is what a store would hold.

        Raises :class:`EmptyInputError` for an empty corpus, :class:`InvalidParameterError` for a bad
        setting, :class:`~langchain_embcompare.errors.InvalidDocumentError` (naming each document and
        field) for a document breaking an input rule, e.g. a lone UTF-16 surrogate in its text.

        Args:
            documents: the corpus; each Document's ``page_content`` is indexed, its ``id`` and ``metadata`` kept.
            k: documents returned per query, > 0.
            settings: the BM25 settings (exclusive with ``setting_kwargs``); default ``BM25Settings()``.
            **setting_kwargs: :class:`BM25Settings` fields, instead of ``settings``.

        Returns:
            The retriever with its index built.

        Raises:
            EmptyInputError: ``documents`` is empty.
            InvalidParameterError: both ``settings`` and ``setting_kwargs``, an unknown setting, or a bad value.
            InvalidDocumentError: a document breaks an input rule (the error names the document and field).
        """
        from langchain_embcompare.stores.ops import prepare_documents

        docs = list(documents)
        if not docs:
            raise EmptyInputError("BM25Retriever: no documents to index. Pass at least one Document.")
        docs = prepare_documents(docs)
        if settings is not None and setting_kwargs:
            raise InvalidParameterError(f"Pass settings= or BM25 keyword settings {sorted(setting_kwargs)}, not both.")
        bad = sorted(set(setting_kwargs) - set(BM25Settings.__dataclass_fields__))
        if bad:
            raise InvalidParameterError(f"Unknown BM25 setting(s) {bad}; allowed: {sorted(BM25Settings.__dataclass_fields__)}.")
        settings = settings or BM25Settings(**setting_kwargs)
        self = cls(documents=docs, k=k, settings=settings)
        self._build()
        return self

    @classmethod
    def from_texts(
        cls, texts: Sequence[str], metadatas: Sequence[dict] | None = None, ids: Sequence[str] | None = None, **kwargs: Any
    ) -> BM25Retriever:
        """Like :meth:`from_documents`, from strings (ids default to ``doc0``, ``doc1``, ...).

        Args:
            texts: the document texts.
            metadatas: one metadata dict per text (default: empty dicts).
            ids: one id per text (default: ``doc0``, ``doc1``, ...).
            **kwargs: passed to :meth:`from_documents` (``k``, ``settings`` or BM25 settings).

        Returns:
            The retriever with its index built.

        Raises:
            InvalidParameterError: ``texts``, ``metadatas`` and ``ids`` differ in length, or a bad setting.
            EmptyInputError: ``texts`` is empty.
        """
        texts = list(texts)
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        ids = list(ids) if ids is not None else [f"doc{i}" for i in range(len(texts))]
        if not (len(texts) == len(metadatas) == len(ids)):
            raise InvalidParameterError(f"Got {len(texts)} texts, {len(metadatas)} metadatas and {len(ids)} ids: pass one each.")
        docs = [Document(page_content=t, metadata=dict(m), id=str(i)) for t, m, i in zip(texts, metadatas, ids)]
        return cls.from_documents(docs, **kwargs)

    def _build(self) -> None:
        import bm25s

        t0 = time.perf_counter()
        s = self.settings
        self._tok = _Tokenizer(s)
        tokens = self._tok([d.page_content for d in self.documents], ids=True)
        # backend numpy: no numba JIT warm-up on the first query (single queries stay fast)
        self._bm25 = bm25s.BM25(k1=s.k1, b=s.b, delta=s.delta, method=s.method, backend="numpy")
        self._bm25.index(tokens, show_progress=False)
        self._vocab = dict(self._bm25.vocab_dict)
        self.index_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ searching

    def tokenize_queries(self, queries: list[str]) -> list[list[str]]:
        """Each query's tokens as the index sees them (lower-cased, stopwords out, stemmed), unknown
        terms dropped: ``[]`` means the query cannot match any document.

        Args:
            queries: the query texts.

        Returns:
            One token list per query, in query order.
        """
        if not queries:
            return []
        toks = self._tok(list(queries), ids=False)
        return [[t for t in q if t in self._vocab] for q in toks]

    def _weight_mask(self, filter: Any) -> np.ndarray | None:
        if filter is None:
            return None
        from langchain_embcompare.filters import evaluate_filter, filter_tree

        tree = filter_tree(filter)
        if tree is None:
            return None
        key = tree
        if key not in self._mask_cache:
            mask = evaluate_filter(tree, [d.metadata for d in self.documents])
            self._mask_cache[key] = np.asarray(mask, dtype=np.float32)
        return self._mask_cache[key]

    def search_with_scores(
        self, queries: list[str], k: int | None = None, filter: Any = None
    ) -> list[list[tuple[Document, float]]]:
        """Top-``k`` (Document, BM25 score) pairs per query, best first; documents with score 0 left out.

        Args:
            queries: the query texts (each a ``str``).
            k: documents per query, > 0 (default: the retriever's ``k``).
            filter: restricts the documents before ranking (default: the retriever's ``filter``).

        Returns:
            One list per query of up to ``k`` (Document, BM25 score as float) pairs, best first; ``[]`` for a
                query sharing no term with the corpus.

        Raises:
            InvalidParameterError: ``k`` is not positive or a query is not a ``str``.
        """
        k = k or self.k
        if k <= 0:
            raise InvalidParameterError(f"k must be positive, got {k}.")
        check_queries(queries)
        toks = self.tokenize_queries(list(queries))
        out: list[list[tuple[Document, float]]] = [[] for _ in queries]
        todo = [i for i, t in enumerate(toks) if t]
        if not todo:
            return out
        n = len(self.documents)
        kk = min(k, n)
        mask = self._weight_mask(filter if filter is not None else self.filter)
        res = self._bm25.retrieve(
            [toks[i] for i in todo], k=kk, show_progress=False, n_threads=0, weight_mask=mask, sorted=True
        )
        rows, scores = np.asarray(res.documents), np.asarray(res.scores)
        docs = self.documents
        for j, i in enumerate(todo):
            keep = scores[j] > 0
            out[i] = [(docs[int(r)], float(s)) for r, s in zip(rows[j][keep], scores[j][keep])]
        return out

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once (one bm25s call); each Document carries ``metadata["score"]`` (BM25).

        Args:
            queries: the query texts.
            k: documents per query, > 0 (default: the retriever's ``k``).
            filter: restricts the documents before ranking (default: the retriever's ``filter``).

        Returns:
            One list of Documents per query, best first (copies carrying ``metadata["score"]``).

        Raises:
            InvalidParameterError: as :meth:`search_with_scores`.
        """
        from langchain_embcompare.stores.base import with_scores

        return [with_scores(h) for h in self.search_with_scores(queries, k, filter)]

    # ------------------------------------------------------------------ size, settings, persistence

    def index_bytes(self) -> int:
        """Bytes of the lexical index in memory: the sparse score matrix (data + indices + indptr,
        as bm25s keeps them) plus the vocabulary's UTF-8 term bytes and 4-byte ids (documents excluded).

        Returns:
            The index size in bytes.
        """
        sc = self._bm25.scores
        arrays = sum(int(np.asarray(sc[key]).nbytes) for key in ("data", "indices", "indptr"))
        vocab = sum(len(t.encode("utf-8")) + 4 for t in self._vocab)
        return arrays + vocab

    def settings_dict(self) -> dict[str, Any]:
        """The run settings: BM25 + tokenisation parameters, library versions, corpus statistics.

        Returns:
            A JSON-ready dict: ``engine``, ``bm25s_version``, the :class:`BM25Settings` fields, ``n_docs``,
                ``vocabulary`` (terms), ``index_bytes`` and ``index_seconds``.
        """
        import bm25s

        return {
            "engine": "bm25s",
            "bm25s_version": bm25s.__version__,
            **self.settings.to_dict(),
            "n_docs": len(self.documents),
            "vocabulary": len(self._vocab),
            "index_bytes": self.index_bytes(),
            "index_seconds": self.index_seconds,
        }

    def stats_summary(self) -> dict[str, Any]:
        """Merged into ``run_eval``'s result (``lexical`` key).

        Returns:
            ``{"lexical": settings_dict()}``.
        """
        return {"lexical": self.settings_dict()}

    def save(self, folder: str | Path) -> Path:
        """Write bm25s' arrays (``.npy``, ``allow_pickle=False``) and vocabulary/params (JSON), plus
        ``documents.jsonl`` and ``embcompare_bm25.json`` (settings). Nothing is pickled.

        Args:
            folder: the folder to write (created if missing; files in it are overwritten).

        Returns:
            ``folder`` as a Path.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder), corpus=None, allow_pickle=False, show_progress=False)
        with (folder / _DOCS_FILE).open("w", encoding="utf-8") as f:
            for d in self.documents:
                f.write(json.dumps({"id": d.id, "page_content": d.page_content, "metadata": d.metadata}, ensure_ascii=False, default=str) + "\n")
        meta = {"format": 1, "k": self.k, "settings": self.settings.to_dict(), "n_docs": len(self.documents)}
        (folder / _SETTINGS_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = False) -> BM25Retriever:
        """Read a folder written by :meth:`save` (``mmap=True`` memory-maps the score arrays).

        Raises :class:`InvalidParameterError` naming the file when one is missing or malformed.

        Args:
            folder: a folder written by :meth:`save`.
            mmap: memory-map the score arrays instead of reading them into memory.

        Returns:
            The retriever, ready to search.

        Raises:
            InvalidParameterError: the settings file is missing or malformed, a documents line is not a
                document record, or the index and the documents disagree on the corpus size.
        """
        import bm25s

        folder = Path(folder)
        meta_path = folder / _SETTINGS_FILE
        if not meta_path.is_file():
            raise InvalidParameterError(f"{meta_path} is missing: {folder} is not a BM25Retriever.save() folder.")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            settings = BM25Settings.from_dict(meta["settings"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidParameterError(f"{meta_path}: malformed BM25 settings ({exc}).") from exc
        docs = []
        with (folder / _DOCS_FILE).open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    docs.append(Document(page_content=row["page_content"], metadata=row.get("metadata") or {}, id=row.get("id")))
                except (json.JSONDecodeError, KeyError) as exc:
                    raise InvalidParameterError(f"{folder / _DOCS_FILE}, line {lineno}: not a document record ({exc}).") from exc
        bm = bm25s.BM25.load(str(folder), load_corpus=False, mmap=mmap, allow_pickle=False)
        if bm.scores["num_docs"] != len(docs):
            raise InvalidParameterError(
                f"{folder}: the index holds {bm.scores['num_docs']} documents but {_DOCS_FILE} has {len(docs)}; re-save it."
            )
        bm.backend = "numpy"
        self = cls(documents=docs, k=int(meta.get("k", 4)), settings=settings)
        self._tok = _Tokenizer(settings)
        self._bm25 = bm
        self._vocab = dict(bm.vocab_dict)
        return self


# --------------------------------------------------------------------------- a store's own engine


class StoreFullTextRetriever(BatchRetriever):
    """BM25 computed by a store's own full-text engine through the store contract (capability
    ``"full_text"``: ``store.full_text_search(queries, k)``), as a LangChain ``BaseRetriever``.
    ``metadata["score"]`` is the engine's BM25 score. Build it with :meth:`from_store`; no second copy
    of the corpus is made.

    Args:
        store: a store declaring ``"full_text"``.
        k: documents returned per query, > 0.

    Raises:
        InvalidParameterError: ``k`` is not positive.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    k: int = 4

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("k", 4) <= 0:
            raise InvalidParameterError(f"k must be positive, got {kwargs['k']}.")
        super().__init__(**kwargs)

    @classmethod
    def from_store(cls, store: EmbStore, **kwargs: Any) -> StoreFullTextRetriever:
        """The retriever over ``store``'s own full-text engine.

        Args:
            store: a store declaring the ``"full_text"`` capability.
            **kwargs: other fields (``k``).

        Returns:
            The retriever.

        Raises:
            MissingCapabilityError: the store has no full-text engine (the store names why).
            InvalidParameterError: a bad ``k``.
        """
        if "full_text" not in store.capabilities:
            raise store.missing("full_text", "full-text search (use BM25Retriever.from_documents: bm25s, in process)")
        return cls(store=store, **kwargs)

    def search_with_scores(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[tuple[Document, float]]]:
        """Top-``k`` (Document, BM25 score) per query, by the store's engine.

        Args:
            queries: the query texts.
            k: documents per query (default: the retriever's ``k``).
            filter: must be None (filter the dense arm, or use :class:`BM25Retriever`).

        Returns:
            One list per query, best first (scores > 0).

        Raises:
            InvalidParameterError: a ``filter`` was given, a bad ``k`` or query (the store's checks).
        """
        if filter is not None:
            raise InvalidParameterError(
                "StoreFullTextRetriever does not take filter=; filter the dense arm, or use BM25Retriever (filter= supported)."
            )
        return self.store.full_text_search(list(queries), k or self.k)

    def search_batch(self, queries: list[str], k: int | None = None, filter: Any = None) -> list[list[Document]]:
        """Many queries at once; each Document carries ``metadata["score"]`` (the engine's BM25 score).

        Args:
            queries: the query texts.
            k: documents per query (default: the retriever's ``k``).
            filter: must be None.

        Returns:
            One list of Documents per query, best first (carrying ``metadata["score"]``).

        Raises:
            InvalidParameterError: as :meth:`search_with_scores`.
        """
        from langchain_embcompare.stores.base import with_scores

        return [with_scores(h) for h in self.search_with_scores(queries, k, filter)]

    def settings_dict(self) -> dict[str, Any]:
        """The engine's settings, as the store reports them (``store.full_text_settings()``).

        Returns:
            A JSON-ready dict (``engine``, its BM25 parameters, analyzer, ...).
        """
        return dict(self.store.full_text_settings())

    def stats_summary(self) -> dict[str, Any]:
        """Merged into ``run_eval``'s result (``lexical`` key).

        Returns:
            ``{"lexical": settings_dict()}``.
        """
        return {"lexical": self.settings_dict()}


LEXICAL_ENGINES = ("auto", "bm25s", "store")


def lexical_retriever_for(store: EmbStore, engine: str = "auto", **kwargs: Any) -> BatchRetriever:
    """The lexical arm for ``store``, on any store: its own full-text engine where it declares one
    (capability ``"full_text"``), else an in-process bm25s index over every stored document
    (``store.iter_documents()``, in row order).

    Args:
        store: any store of the package's protocol.
        engine: ``"auto"`` (the store's engine where it has one, else bm25s), ``"bm25s"`` or ``"store"``.
        **kwargs: ``k``; for bm25s also ``settings`` or :class:`BM25Settings` fields. The store's engine
            has its own parameters, so BM25 settings other than the defaults are refused with it.

    Returns:
        A :class:`StoreFullTextRetriever` or a :class:`BM25Retriever`.

    Raises:
        InvalidParameterError: an unknown ``engine``, a store that is not an ``EmbStore``, or BM25
            settings given for the store's own engine.
        MissingCapabilityError: ``engine="store"`` on a store without a full-text engine.
        EmptyInputError: bm25s over an empty store.
    """
    if engine not in LEXICAL_ENGINES:
        raise InvalidParameterError(f"engine={engine!r}: use one of {LEXICAL_ENGINES}.")
    if not isinstance(store, EmbStore):
        raise InvalidParameterError(
            f"{type(store).__name__} is not a store of this package: build BM25Retriever.from_documents(your_documents)."
        )
    if engine == "store" or (engine == "auto" and "full_text" in store.capabilities):
        bm25 = {key: v for key, v in kwargs.items() if key != "k"}
        given = bm25.pop("settings", None)
        if bm25 or (given is not None and given != BM25Settings()):
            raise InvalidParameterError(
                f"BM25 settings {sorted(bm25) or given} given, but the lexical arm is the store's own full-text engine, "
                "whose parameters are its own: pass engine='bm25s' to use them."
            )
        return StoreFullTextRetriever.from_store(store, **{key: v for key, v in kwargs.items() if key == "k"})
    docs = [d for batch in store.iter_documents() for d in batch]
    return BM25Retriever.from_documents(docs, **kwargs)
