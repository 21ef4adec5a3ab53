"""Hypothesis generators for what real pipelines hand a store: ids, text, metadata, filters, queries.

Why these shapes: the faults of issue 23 came from inputs a hand-picked test never holds: file paths
as ids (``C:\\temp\\new_report.txt``, ``O'Brien report.pdf``), PDF text with lone UTF-16 surrogates,
pandas/numpy metadata (``np.int64``, ``np.float32``, ``np.bool_``, NaN), stopword-only text filters.
Each strategy mixes such values with plain ones, so a shrunk failing example is small and readable.

Metadata layout (the stores with a declared schema index these keys; see ``SCHEMA``):
    ``group`` (tag: one string or a list of strings), ``year`` (numeric: a Python or numpy number),
    ``title`` (text: words, stopwords included). Every other key is free-form (any JSON / pandas /
    numpy value, nested), returned as stored but never filtered on.

Public names: :data:`SCHEMA`, :func:`doc_ids`, :func:`texts`, :func:`metadata_values`,
:func:`metadatas`, :func:`documents`, :func:`corpora`, :func:`filters`, :func:`queries`,
:data:`STOPWORDS`, :data:`TAG_VALUES`, :data:`TITLE_WORDS`.
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
from hypothesis import strategies as st
from langchain_core.documents import Document

from langchain_embcompare.filters import Num, Tag, Text

__all__ = [
    "SCHEMA",
    "STOPWORDS",
    "TAG_VALUES",
    "TITLE_WORDS",
    "ID_POOL",
    "corpora",
    "doc_ids",
    "documents",
    "filters",
    "metadata_values",
    "metadatas",
    "queries",
    "texts",
]

SCHEMA = {"group": "tag", "year": "numeric", "title": "text"}
"""The filterable metadata keys and their kinds (the ``metadata_schema`` of Redis and Milvus)."""

# Characters real pipelines produce that a query language or an escaper may treat as syntax.
SPECIAL = "'\"\\%*{}[]()|@:;,.-_/?!#$&=<>~^` \t\n"
EMOJI = "\U0001f600\U0001f4c4\u2764\ufe0f\U0001f1eb\U0001f1f7"
RTL = "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627\u200f"  # Hebrew, Arabic, RLM
COMBINING = "e\u0301a\u0308\u0303n\u0327"  # e + acute, a + diaeresis + tilde, n + cedilla
SCRIPTS = "\u00c9\u00df\u0130\u0131\u03a3\u03c3\u03c2\u0416\u0436\u4e2d\u6587\u3042\u30a2\ud55c\u0928\u0e44\u10d0\u01c5"
SURROGATES = "\ud835\udc00\udfff\ud800"  # lone UTF-16 halves (PDF extractors emit them for math symbols)
ALPHABET = string.ascii_letters + string.digits + SPECIAL + EMOJI + RTL + COMBINING + SCRIPTS

STOPWORDS = ("a", "an", "the", "it", "to", "be", "of", "and", "is", "in", "on", "for")
"""Words a full-text engine may drop (Redis's default stopword list holds all of them)."""
TITLE_WORDS = ("graph", "neural", "protein", "search", "Paris", "caf\u00e9", "\u0416\u0443\u043a", "O'Brien", "data") + STOPWORDS
TAG_VALUES = ("pm", "PM", "City, Country", "a|b;c", "O'Brien", "C:\\temp", "50%", "x*", "{brace}", "with space",
              "caf\u00e9", "\u05e9\u05dc\u05d5\u05dd", "\U0001f600")
"""Tag values with separators, quotes, wildcards and non-ASCII (each one tag, matched case-insensitively)."""

PATH_IDS = ("C:\\temp\\new_report.txt", "O'Brien report.pdf", "/home/u/a b/c.md", "dir\\sub\\x.pdf",
            'say "hi".txt', "100% done", "*.log", "{id}", "a\tb", "line\nbreak")


def _plain_text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=ALPHABET, max_size=max_size)


def texts(max_size: int = 40, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Document text: plain words, special characters, every script, empty, whitespace-only,
    stopword-only, very long (a few thousand characters), and (``surrogates``) lone surrogates."""
    words = st.lists(st.sampled_from(TITLE_WORDS), min_size=1, max_size=6).map(" ".join)
    options = [
        words,
        _plain_text(max_size),
        st.sampled_from(["", " ", "\t\n  ", "\u3000", "\u200b"]),
        st.lists(st.sampled_from(STOPWORDS), min_size=1, max_size=4).map(" ".join),
        st.tuples(words, st.integers(100, 400)).map(lambda t: (t[0] + " ") * t[1]),
    ]
    if surrogates:
        options.append(st.tuples(words, st.sampled_from(SURROGATES)).map(lambda t: t[0] + " " + t[1]))
    return st.one_of(*options)


def doc_ids(surrogates: bool = True) -> st.SearchStrategy[str]:
    """Document ids: file paths, quotes, backslashes, escapes, spaces, emoji, scripts, letter case.
    Non-empty (an empty id means "no id" in LangChain) and at most 120 characters."""
    options = [
        st.sampled_from(PATH_IDS),
        _plain_text(30).filter(lambda s: s.strip() != ""),
        st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
    ]
    if surrogates:
        options.append(st.sampled_from(SURROGATES).map(lambda s: "id" + s))
    return st.one_of(*options)


def _json_scalars(holdable: bool) -> st.SearchStrategy[Any]:
    big = [2**53 + 1, -(2**53) - 1, 2**63 - 1] + ([] if holdable else [2**64, 10**30])
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from(big),
        st.floats(allow_nan=not holdable, allow_infinity=not holdable),
        texts(20, surrogates=not holdable),
    )


def _numpy_scalars(holdable: bool) -> st.SearchStrategy[Any]:
    """What a pandas / numpy loader leaves in a record: numpy ints, floats and bools (and their NaN)."""
    special = not holdable
    options = [
        st.integers(-(2**31), 2**31 - 1).map(np.int64),
        st.integers(-(2**15), 2**15 - 1).map(np.int32),
        st.integers(0, 255).map(np.uint8),
        st.floats(width=32, allow_nan=special, allow_infinity=special).map(np.float32),
        st.floats(allow_nan=special, allow_infinity=special).map(np.float64),
        st.booleans().map(np.bool_),
    ]
    if special:
        options.append(st.just(np.float64("nan")))
    return st.one_of(*options)


def metadata_values(holdable_only: bool = False) -> st.SearchStrategy[Any]:
    """Any value a JSON, pandas or numpy loader produces, nested in lists and dicts (non-ASCII keys).
    ``holdable_only``: only values every store can hold exactly (no NaN / +-inf, no integer outside
    int64, no lone surrogate): the input rule of ``stores/ops.py`` accepts all of them."""
    leaves = st.one_of(_json_scalars(holdable_only), _numpy_scalars(holdable_only))
    keys = st.one_of(st.sampled_from(["k", "Key", "schl\u00fcssel", "\u952e", "with space", "a.b", "$x"]), _plain_text(8))
    return st.recursive(
        leaves, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=6
    )


def _year() -> st.SearchStrategy[Any]:
    """A numeric field's value as loaders leave it: Python / numpy numbers, and now and then a number
    written as a string (CSV), a bool or None."""
    return st.one_of(
        st.integers(1990, 2030),
        st.integers(1990, 2030).map(np.int64),
        st.floats(1990, 2030, allow_nan=False).map(lambda x: round(x, 2)),
        st.floats(1990, 2030, allow_nan=False, width=32).map(np.float32),
        st.sampled_from(["2001", " 2005 ", "2010.5", "n/a", True, None]),
    )


def metadatas(holdable_only: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """One document's metadata: the filterable keys (each may be absent) plus free-form keys
    (``holdable_only``: see :func:`metadata_values`)."""
    group = st.one_of(
        st.sampled_from(TAG_VALUES),
        st.lists(st.sampled_from(TAG_VALUES), min_size=1, max_size=3),
        st.sampled_from([5, True, None, ""]),  # a tag column holding a number, a bool, a null, an empty string
    )
    title = st.lists(st.sampled_from(TITLE_WORDS), min_size=1, max_size=5).map(" ".join)
    free_keys = st.sampled_from(["source", "page", "score_raw", "nested", "\u00e9t\u00e9", "\u540d\u524d", "Mixed Case"])
    return st.fixed_dictionaries(
        {},
        optional={"group": group, "year": _year(), "title": title},
    ).flatmap(lambda base: st.dictionaries(free_keys, metadata_values(holdable_only), max_size=2).map(lambda extra: {**extra, **base}))


def documents(holdable_only: bool = False, ids: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Document]:
    """One Document with an explicit id (from ``ids``, default :func:`doc_ids`), generated text and
    metadata (``holdable_only``: nothing the input rule refuses: no lone surrogate, NaN, +-inf or
    integer outside int64)."""
    return st.builds(
        lambda i, t, m: Document(id=i, page_content=t, metadata=m),
        ids if ids is not None else doc_ids(not holdable_only), texts(surrogates=not holdable_only), metadatas(holdable_only),
    )


def corpora(
    min_size: int = 1, max_size: int = 12, holdable_only: bool = False, ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[list[Document]]:
    """A batch of documents with distinct ids (``holdable_only``, ``ids``: see :func:`documents`)."""
    return st.lists(documents(holdable_only, ids), min_size=min_size, max_size=max_size, unique_by=lambda d: d.id)


ID_POOL = PATH_IDS + ("d1", "D1", "d1 ", "\\", "'", "%", "*", "caf\u00e9", "cafe\u0301", "\U0001f600")
"""A small set of ids for operation sequences (so upserts and deletes hit stored documents); holds
ids that differ only by case, trailing space or Unicode normalisation."""


# --------------------------------------------------------------------------- filters


def _tag_leaf() -> st.SearchStrategy[Any]:
    value = st.sampled_from(TAG_VALUES)
    values = st.lists(value, max_size=3)
    return st.one_of(
        value.map(lambda v: {"group": v}),
        value.map(lambda v: {"group": {"$eq": v}}),
        value.map(lambda v: {"group": {"$ne": v}}),
        values.map(lambda v: {"group": {"$in": v}}),
        values.map(lambda v: {"group": {"$nin": v}}),
        value.map(lambda v: Tag("group") == v),
        value.map(lambda v: Tag("group") != v),
        st.lists(value, min_size=1, max_size=3).map(lambda v: Tag("group") == v),
    )


def _num_leaf() -> st.SearchStrategy[Any]:
    bound = st.one_of(st.integers(1985, 2035), st.floats(1985, 2035, allow_nan=False).map(lambda x: round(x, 1)))
    op = st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"])
    return st.one_of(
        st.tuples(op, bound).map(lambda t: {"year": {t[0]: t[1]}}),
        st.tuples(bound, bound).map(lambda t: {"year": {"$gte": min(t), "$lte": max(t)}}),
        st.tuples(bound, bound).map(lambda t: Num("year").between(min(t), max(t))),
        bound.map(lambda b: Num("year") > b),
        bound.map(lambda b: Num("year") <= b),
    )


def _text_leaf() -> st.SearchStrategy[Any]:
    word = st.sampled_from([w for w in TITLE_WORDS if "'" not in w])
    phrase = st.lists(word, min_size=1, max_size=3).map(" ".join)
    return st.one_of(
        phrase.map(lambda p: {"title": {"$like": p}}),
        word.map(lambda w: Text("title") % w),
        word.filter(lambda w: len(w) >= 3).map(lambda w: Text("title") % (w[:3] + "*")),
    )


def _as_expr(f: Any) -> Any:
    """One dict leaf of the strategies above written as the redisvl expression a user would write
    (``None`` for ``$nin: []``, which constrains nothing, and for ``$in: []``, which has no redisvl form)."""
    if not isinstance(f, dict):
        return f
    ((field, cond),) = f.items()
    if isinstance(cond, dict) and len(cond) > 1:  # {"$gte": a, "$lte": b}: the AND of its conditions
        parts = [_as_expr({field: {op: value}}) for op, value in cond.items()]
        out = parts[0]
        for p in parts[1:]:
            out = out & p
        return out
    ((op, value),) = cond.items() if isinstance(cond, dict) else (("$eq", cond),)
    if op in ("$in", "$nin") and not value:
        return None
    if field == "year":
        n = Num(field)
        return {"$gt": n > value, "$gte": n >= value, "$lt": n < value, "$lte": n <= value,
                "$eq": n == value, "$ne": n != value}[op]
    if op == "$like":
        return Text(field) % value
    return Tag(field) == value if op in ("$eq", "$in") else Tag(field) != value


def _combine(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    pair = st.lists(children, min_size=2, max_size=3)
    return st.one_of(
        pair.map(lambda fs: {"$and": [f for f in fs]}),
        pair.map(lambda fs: {"$or": [f for f in fs]}),
    )


def filters() -> st.SearchStrategy[Any]:
    """A random tree of tag / numeric / text leaves joined by ``&`` / ``|``: LangChain dicts
    (``$and``/``$or`` of dicts) or redisvl FilterExpressions (``&``/``|`` of expressions)."""
    leaf = st.one_of(_tag_leaf(), _num_leaf(), _text_leaf())
    dict_leaf = leaf.map(lambda f: f if isinstance(f, dict) else None).filter(lambda f: f is not None)
    dict_tree = st.recursive(dict_leaf, _combine, max_leaves=4)
    expr_leaf = leaf.map(lambda f: _as_expr(f)).filter(lambda e: e is not None)
    expr_tree = st.recursive(
        expr_leaf,
        lambda inner: st.tuples(inner, inner, st.booleans()).map(lambda t: (t[0] & t[1]) if t[2] else (t[0] | t[1])),
        max_leaves=4,
    )
    return st.one_of(st.none(), dict_tree, expr_tree)


def queries() -> st.SearchStrategy[str]:
    """Query text: words of the corpus, special characters, scripts (no surrogates: a query is typed)."""
    return st.one_of(st.lists(st.sampled_from(TITLE_WORDS), min_size=1, max_size=4).map(" ".join), _plain_text(20))


def is_nan(x: Any) -> bool:
    """True for a float / numpy floating NaN (NaN != NaN, so comparisons need this)."""
    return isinstance(x, (float, np.floating)) and math.isnan(float(x))
