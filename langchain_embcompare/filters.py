"""One filter language for every store: redisvl's filter expressions.

Users compose filters the redisvl way, ``(Tag("category") == "pm") & (Num("years") >= 5)``, or pass a
LangChain-style dict, ``{"category": "pm", "years": {"$gte": 5}}``. Redis runs the expression as a
hybrid prefilter; the FAISS store evaluates the same expression in-process into a boolean mask over
its documents (then searches only those rows with a faiss ``IDSelector``), so one filter gives the
same documents on both stores.

redisvl keeps each leaf as the query string it renders (``@category:{pm}``), and that string is the
one place the query is built. :func:`filter_tree` reads the small grammar redisvl emits into one tree
of :class:`Leaf` nodes, which each store translates: Redis runs the string itself, FAISS evaluates the
tree into a row mask (:func:`evaluate_filter`), Milvus renders it as a boolean expression.

Rules, the same on every store (the parity test in ``tests/test_filter_parity.py`` holds them):

* A TAG match is exact and case-insensitive. A document's string value is ONE tag, whatever it holds
  (``"City, Country"`` is one value; commas, pipes and semicolons are data); a list value holds
  several tags, and the document matches when any of them matches.
* ``{"f": {"$in": []}}`` matches no document; ``{"f": {"$nin": []}}`` excludes none. A filter that
  can match nothing short-circuits to an empty result before any search.
* NUMERIC ranges compare numbers (a missing or non-numeric value never matches). TEXT (``$like``,
  ``Text % "..."``) matches whole words (:func:`words`: runs of letters, digits and ``_``,
  lower-cased; no stemming, no stopwords: ``"to be"`` matches exactly the values holding both words);
  several words must all be present, ``Text == "..."`` is a phrase (the words adjacent, in order);
  ``word*`` is a prefix. A text filter without any word (``"!!"``) is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from redisvl.query.filter import FilterExpression, FilterOperator, Num, Tag, Text

from langchain_embcompare.errors import InvalidParameterError

Filter = FilterExpression | Mapping[str, Any] | None

_OPS = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$like"}


NOTHING_QUERY = "__embcompare_matches_nothing__"
NOTHING = FilterExpression(NOTHING_QUERY)
"""The expression that matches no document (what ``$in: []`` becomes)."""


def matches_nothing(expr: FilterExpression | None) -> bool:
    """True when ``expr`` is the match-nothing expression (dict filters simplify to it at the root)."""
    return expr is not None and str(expr) == NOTHING_QUERY


def _and(a: FilterExpression, b: FilterExpression) -> FilterExpression:
    return NOTHING if matches_nothing(a) or matches_nothing(b) else a & b


def _or(a: FilterExpression, b: FilterExpression) -> FilterExpression:
    if matches_nothing(a):
        return b
    if matches_nothing(b):
        return a
    return a | b


def _plain(field: str, value: Any) -> Any:
    """A filter value as the Python value documents are stored with (numpy scalars and arrays ->
    int / float / bool / lists, as :func:`~langchain_embcompare.stores.ops.clean_metadata` stores
    them), so ``np.int64(2020)`` compares as the number 2020 on every store. NaN and an empty tag
    value are refused: neither can match anything the same way everywhere (redisvl renders an empty
    tag as ``*``, every document)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, set)):
        return [_plain(field, v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and math.isnan(value):
        raise InvalidParameterError(f"Filter {field!r}: NaN matches no number; use a number, or $in: [] for nothing.")
    if isinstance(value, str) and "\x00" in value:
        raise InvalidParameterError(f"Filter {field!r}: the value {value!r} holds NUL ('\\x00'), which no query language can carry.")
    if isinstance(value, str) and not value.strip():
        raise InvalidParameterError(
            f"Filter {field!r}: the empty tag value {value!r} (tags are compared stripped) would match every "
            "document on some engines; filter on a real value."
        )
    return value


def _leaf(field: str, op: str, value: Any) -> FilterExpression | None:
    value = _plain(field, value)
    if op in ("$in", "$nin") and isinstance(value, (list, tuple, set)) and len(value) == 0:
        return NOTHING if op == "$in" else None  # $in [] keeps nothing; $nin [] excludes nothing
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if op in ("$eq", "$ne") and numeric:
        return Num(field) == value if op == "$eq" else Num(field) != value
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not numeric:
            raise InvalidParameterError(f"Filter {field!r}: {op} needs a number, got {value!r}.")
        n = Num(field)
        return {"$gt": n > value, "$gte": n >= value, "$lt": n < value, "$lte": n <= value}[op]
    if op == "$like":
        return Text(field) % str(value)
    values = [str(v) for v in value] if isinstance(value, (list, tuple, set)) else str(value)
    if isinstance(value, bool):
        values = str(value).lower()
    if op in ("$eq", "$in"):
        return Tag(field) == values
    if op in ("$ne", "$nin"):
        return Tag(field) != values
    raise InvalidParameterError(f"Unknown filter operator {op!r} on {field!r}; use one of {sorted(_OPS)}.")


def as_expression(filter: Filter) -> FilterExpression | None:
    """A redisvl ``FilterExpression`` from an expression, a LangChain-style dict, or ``None``.

    Dict rules: a string or list value is a TAG match, a number a NUMERIC match; operators ``$eq``,
    ``$ne``, ``$in``, ``$nin``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$like`` (full text); ``$and`` /
    ``$or`` take lists of dicts. Several keys are ANDed.

    Args:
        filter: a redisvl ``FilterExpression`` (``Tag``, ``Num``, ``Text`` composed with ``&`` / ``|``), a
            LangChain-style dict, or None.

    Returns:
        The expression (None for no filter); a dict that can match nothing (``$in: []``) becomes the
            match-nothing expression (see :func:`matches_nothing`).

    Raises:
        InvalidParameterError: an unknown operator, a value of the wrong kind for its operator (a
            non-number for ``$gt``), NaN, a value holding NUL, an empty ``$and`` / ``$or`` list.
    """
    if filter is None or isinstance(filter, FilterExpression):
        return filter
    if not isinstance(filter, Mapping):
        raise InvalidParameterError(
            f"A filter must be a redisvl FilterExpression (Tag/Num/Text composed with & and |) or a dict, got {type(filter).__name__}."
        )
    parts: list[FilterExpression | None] = []
    for field, cond in filter.items():
        if field in ("$and", "$or"):
            if not isinstance(cond, (list, tuple)) or not cond:
                raise InvalidParameterError(f"{field} takes a non-empty list of filter dicts, got {cond!r}.")
            subs = [as_expression(c) for c in cond]
            if field == "$and":
                subs = [x for x in subs if x is not None]  # an empty condition constrains nothing
                expr = subs[0] if subs else None
                for x in subs[1:]:
                    expr = _and(expr, x)
            else:
                if any(x is None for x in subs):  # one unconstrained alternative keeps everything
                    expr = None
                else:
                    expr = subs[0]
                    for x in subs[1:]:
                        expr = _or(expr, x)
            parts.append(expr)
        elif isinstance(cond, Mapping):
            for op, value in cond.items():
                parts.append(_leaf(field, op, value))
        else:
            parts.append(_leaf(field, "$in" if isinstance(cond, (list, tuple, set)) else "$eq", cond))
    kept = [p for p in parts if p is not None]
    if not kept:
        return None
    expr = kept[0]
    for p in kept[1:]:
        expr = _and(expr, p)
    return expr


# --------------------------------------------------------------------------- one parsed tree


@dataclass(frozen=True)
class Leaf:
    """One condition of a filter, as every store's translator sees it.

    ``kind``: ``"tag"`` (``values``: lower-cased exact values, any matches), ``"num"`` (``lo``/``hi``
    bounds, ``*_exclusive`` flags; infinities allowed), ``"phrase"`` (``values``: the phrase's words),
    ``"terms"`` (``alternatives``: OR of AND-ed words; a word ending in ``*`` is a prefix),
    ``"missing"`` (the field is absent) or ``"all"`` (``*``). ``negate``: the condition is inverted.
    """

    kind: str
    field: str = ""
    values: tuple[str, ...] = ()
    lo: float = -math.inf
    hi: float = math.inf
    lo_exclusive: bool = False
    hi_exclusive: bool = False
    alternatives: tuple[tuple[str, ...], ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class Node:
    """``op`` (``"and"`` / ``"or"``) of two sub-trees."""

    op: str
    left: Node | Leaf
    right: Node | Leaf


_TAG = re.compile(r"^@(?P<f>[\w.$-]+):\{(?P<v>.*)\}$", re.S)
_NUM = re.compile(r"^@(?P<f>[\w.$-]+):\[(?P<lo>\(?[^ \]]+) (?P<hi>\(?[^ \]]+)\]$")
_TEXT_PHRASE = re.compile(r'^@(?P<f>[\w.$-]+):\(?"(?P<v>.*)"\)?$', re.S)
_TEXT_TERMS = re.compile(r"^@(?P<f>[\w.$-]+):\((?P<v>.*)\)$", re.S)
_MISSING = re.compile(r"^ismissing\(@(?P<f>[\w.$-]+)\)$")
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words a TEXT filter matches: maximal runs of Unicode word characters (letters, digits,
    ``_``; Python's ``\\w``) of ``text.lower()``, in order. Everything else separates words
    (punctuation, spaces, newlines, emoji, combining marks). No stemming and no stopwords: ``"to be"``
    is two words. Every store matches these words exactly (Redis indexes its text fields as these
    words, space-joined: :func:`~langchain_embcompare.stores.redis_schema.field_value`).

    Args:
        text: any string.

    Returns:
        The lower-cased words, in order (``[]`` when ``text`` has none).
    """
    return _WORD.findall(text.lower())


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _split_tags(v: str) -> tuple[str, ...]:
    return tuple(_unescape(p).strip().lower() for p in re.split(r"(?<!\\)\|", v))


def _number(bound: str) -> tuple[float, bool]:
    exclusive = bound.startswith("(")
    return float(bound.lstrip("(")), exclusive


def parse_leaf(query: str) -> Leaf:
    """One redisvl leaf query string -> :class:`Leaf`. Raises ``InvalidParameterError`` for syntax
    outside the grammar redisvl's Tag / Num / Text emit."""
    q = query.strip()
    negate = False
    if q.startswith("(-") and q.endswith(")"):
        negate, q = True, q[2:-1].strip()
    if q == "*":
        return Leaf("all", negate=negate)
    if m := _MISSING.match(q):
        return Leaf("missing", m["f"], negate=negate)
    if m := _TAG.match(q):
        return Leaf("tag", m["f"], values=_split_tags(m["v"]), negate=negate)
    if m := _NUM.match(q):
        lo, lo_ex = _number(m["lo"])
        hi, hi_ex = _number(m["hi"])
        return Leaf("num", m["f"], lo=lo, hi=hi, lo_exclusive=lo_ex, hi_exclusive=hi_ex, negate=negate)
    if m := _TEXT_PHRASE.match(q):
        return Leaf("phrase", m["f"], values=_text_words(m["v"], query), negate=negate)
    if m := _TEXT_TERMS.match(q):
        alts = tuple(
            tuple(w for t in a.split() for w in _term_words(t.strip("%"), query)) for a in m["v"].split("|")
        )
        if any(not a for a in alts):
            _text_words("", query)  # raises: an alternative without a word
        return Leaf("terms", m["f"], alternatives=alts, negate=negate)
    raise InvalidParameterError(
        f"The filter {query!r} is outside what every store can run; use Tag, Num or Text filters "
        "(==, !=, <, >, between, %) combined with & and |."
    )


def _text_words(text: str, query: str) -> tuple[str, ...]:
    found = tuple(words(_unescape(text)))
    if not found:
        raise InvalidParameterError(
            f"The text filter {query!r} holds no word (letters or digits) to match; a text filter matches "
            "whole words (filters.words), so give it at least one."
        )
    return found


def _term_words(term: str, query: str) -> list[str]:
    """A query term's words; a trailing ``*`` (prefix) stays on its last word."""
    prefix = term.endswith("*")
    found = list(_text_words(term[:-1] if prefix else term, query)) if term.rstrip("*") else []
    if prefix and found:
        found[-1] += "*"
    return found


def filter_tree(filter: Filter) -> Node | Leaf | None:
    """The parsed tree of a filter (``None`` = no filter). Raises for ``NOTHING`` inside a tree
    (dict filters only ever put it at the root; check :func:`matches_nothing` first)."""
    expr = as_expression(filter)
    if expr is None:
        return None
    if expr._operator in (FilterOperator.AND, FilterOperator.OR):
        op = "and" if expr._operator == FilterOperator.AND else "or"
        return Node(op, filter_tree(expr._left), filter_tree(expr._right))  # type: ignore[arg-type]
    if matches_nothing(expr):
        raise InvalidParameterError("A match-nothing filter cannot be translated; short-circuit it (matches_nothing).")
    return parse_leaf(str(expr))


# --------------------------------------------------------------------------- in-process evaluation


def tag_values(value: Any) -> set[str]:
    """A document's TAG values: a string is ONE value (separators inside it are data), a list holds
    several; compared lower-cased and stripped."""
    if value is None:
        return set()
    items = value if isinstance(value, (list, tuple, set)) else [value]
    return {str(i).strip().lower() for i in items}


def _term_match(term: str, found: set[str]) -> bool:
    if term.endswith("*"):
        return any(w.startswith(term[:-1]) for w in found)
    return term in found


def _text(value: Any) -> str:
    """A metadata value as the text a TEXT filter reads (``None`` / absent: no text)."""
    return "" if value is None else str(value)


def as_number(value: Any) -> float | None:
    """A metadata value as a NUMERIC filter reads it, the same on every store: a finite float
    (Python / numpy numbers, and strings that parse as one: ``"2001"``, ``" 2005 "``), or ``None``
    (missing, bools, other strings, NaN, +-inf): a value that never matches a numeric range."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _leaf_mask(leaf: Leaf, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    n = len(metadatas)
    f = leaf.field
    if leaf.kind == "all":
        mask = np.ones(n, dtype=bool)
    elif leaf.kind == "missing":
        mask = np.fromiter((md.get(f) is None for md in metadatas), bool, n)
    elif leaf.kind == "tag":
        wanted = set(leaf.values)
        mask = np.fromiter((bool(tag_values(md.get(f)) & wanted) for md in metadatas), bool, n)
    elif leaf.kind == "num":
        vals = np.asarray([as_number(md.get(f)) for md in metadatas], dtype=np.float64)  # None -> nan
        with np.errstate(invalid="ignore"):
            lo_ok = vals > leaf.lo if leaf.lo_exclusive else vals >= leaf.lo
            hi_ok = vals < leaf.hi if leaf.hi_exclusive else vals <= leaf.hi
        mask = lo_ok & hi_ok & ~np.isnan(vals)
    elif leaf.kind == "phrase":
        phrase = " " + " ".join(leaf.values) + " "  # whole words: "neural net" is not in "neural networks"
        mask = np.fromiter((phrase in " " + " ".join(words(_text(md.get(f)))) + " " for md in metadatas), bool, n)
    else:  # terms
        word_sets = [set(words(_text(md.get(f)))) for md in metadatas]
        mask = np.fromiter(
            (any(all(_term_match(t, ws) for t in alt) for alt in leaf.alternatives) for ws in word_sets), bool, n
        )
    return ~mask if leaf.negate else mask


def _tree_mask(node: Node | Leaf, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    if isinstance(node, Leaf):
        return _leaf_mask(node, metadatas)
    left, right = _tree_mask(node.left, metadatas), _tree_mask(node.right, metadatas)
    return left & right if node.op == "and" else left | right


def evaluate_filter(filter: Filter, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Boolean mask (n,) of the documents (by their metadata) that ``filter`` keeps: the in-process
    translation used by the FAISS store and the tests' fake store."""
    expr = as_expression(filter)
    if expr is None:
        return np.ones(len(metadatas), dtype=bool)
    if matches_nothing(expr):
        return np.zeros(len(metadatas), dtype=bool)
    return _tree_mask(filter_tree(expr), metadatas)  # type: ignore[arg-type]


__all__ = [
    "Filter",
    "FilterExpression",
    "Leaf",
    "NOTHING",
    "Node",
    "Num",
    "Tag",
    "Text",
    "as_expression",
    "as_number",
    "evaluate_filter",
    "filter_tree",
    "matches_nothing",
    "parse_leaf",
    "tag_values",
    "words",
]
