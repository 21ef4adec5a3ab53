"""One filter language for every store: redisvl's filter expressions.

Users compose filters the redisvl way, ``(Tag("category") == "pm") & (Num("years") >= 5)``, or pass a
LangChain-style dict, ``{"category": "pm", "years": {"$gte": 5}}``. Redis runs the expression as a
hybrid prefilter; the FAISS store evaluates the same expression in-process into a boolean mask over
its documents (then searches only those rows with a faiss ``IDSelector``), so one filter gives the
same documents on both stores.

redisvl keeps each leaf as the query string it renders (``@category:{pm}``), and that string is the
one place the query is built; :func:`evaluate_filter` reads the small grammar redisvl emits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from redisvl.query.filter import FilterExpression, FilterOperator, Num, Tag, Text

from langchain_embcompare.errors import InvalidParameterError

Filter = FilterExpression | Mapping[str, Any] | None

_OPS = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$like"}


def _leaf(field: str, op: str, value: Any) -> FilterExpression:
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
    """
    if filter is None or isinstance(filter, FilterExpression):
        return filter
    if not isinstance(filter, Mapping):
        raise InvalidParameterError(
            f"A filter must be a redisvl FilterExpression (Tag/Num/Text composed with & and |) or a dict, got {type(filter).__name__}."
        )
    parts: list[FilterExpression] = []
    for field, cond in filter.items():
        if field in ("$and", "$or"):
            subs = [as_expression(c) for c in cond]
            expr = subs[0]
            for s in subs[1:]:
                expr = (expr & s) if field == "$and" else (expr | s)
            parts.append(expr)
        elif isinstance(cond, Mapping):
            for op, value in cond.items():
                parts.append(_leaf(field, op, value))
        else:
            parts.append(_leaf(field, "$in" if isinstance(cond, (list, tuple, set)) else "$eq", cond))
    if not parts:
        return None
    expr = parts[0]
    for p in parts[1:]:
        expr = expr & p
    return expr


# --------------------------------------------------------------------------- in-process evaluation

_TAG = re.compile(r"^@(?P<f>[\w.$-]+):\{(?P<v>.*)\}$", re.S)
_NUM = re.compile(r"^@(?P<f>[\w.$-]+):\[(?P<lo>\(?[^ \]]+) (?P<hi>\(?[^ \]]+)\]$")
_TEXT_PHRASE = re.compile(r'^@(?P<f>[\w.$-]+):\(?"(?P<v>.*)"\)?$', re.S)
_TEXT_TERMS = re.compile(r"^@(?P<f>[\w.$-]+):\((?P<v>.*)\)$", re.S)
_MISSING = re.compile(r"^ismissing\(@(?P<f>[\w.$-]+)\)$")
_WORD = re.compile(r"\w+")


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _split_tags(v: str) -> list[str]:
    return [_unescape(p).strip().lower() for p in re.split(r"(?<!\\)\|", v)]


def _tag_values(value: Any) -> set[str]:
    if value is None:
        return set()
    items = value if isinstance(value, (list, tuple, set)) else str(value).split(",")
    return {str(i).strip().lower() for i in items}


def _number(bound: str) -> tuple[float, bool]:
    exclusive = bound.startswith("(")
    return float(bound.lstrip("(").replace("inf", "inf")), exclusive


def _term_match(term: str, words: set[str]) -> bool:
    term = term.strip("%").lower()
    if term.endswith("*"):
        return any(w.startswith(term[:-1]) for w in words)
    return term in words


def _leaf_mask(query: str, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    q = query.strip()
    negate = False
    if q.startswith("(-") and q.endswith(")"):
        negate, q = True, q[2:-1].strip()
    if q == "*":
        mask = np.ones(len(metadatas), dtype=bool)
    elif m := _MISSING.match(q):
        f = m["f"]
        mask = np.fromiter((md.get(f) is None for md in metadatas), bool, len(metadatas))
    elif m := _TAG.match(q):
        f, wanted = m["f"], set(_split_tags(m["v"]))
        mask = np.fromiter((bool(_tag_values(md.get(f)) & wanted) for md in metadatas), bool, len(metadatas))
    elif m := _NUM.match(q):
        f = m["f"]
        lo, lo_ex = _number(m["lo"])
        hi, hi_ex = _number(m["hi"])
        vals = np.asarray([_as_float(md.get(f)) for md in metadatas], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            mask = (vals > lo if lo_ex else vals >= lo) & (vals < hi if hi_ex else vals <= hi)
        mask &= ~np.isnan(vals)
    elif m := _TEXT_PHRASE.match(q):
        f, phrase = m["f"], " ".join(_WORD.findall(m["v"].lower()))
        mask = np.fromiter(
            (phrase in " ".join(_WORD.findall(str(md.get(f, "")).lower())) for md in metadatas), bool, len(metadatas)
        )
    elif m := _TEXT_TERMS.match(q):
        f = m["f"]
        alternatives = [a.split() for a in m["v"].split("|")]
        word_sets = [set(_WORD.findall(str(md.get(f, "")).lower())) for md in metadatas]
        mask = np.fromiter(
            (any(all(_term_match(t, ws) for t in alt) for alt in alternatives) for ws in word_sets), bool, len(metadatas)
        )
    else:
        raise InvalidParameterError(
            f"The FAISS store cannot evaluate the filter {query!r} in-process; use Tag, Num or Text "
            "filters (==, !=, <, >, between, %) combined with & and |."
        )
    return ~mask if negate else mask


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def evaluate_filter(filter: Filter, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Boolean mask of the documents (by their metadata) that ``filter`` keeps."""
    expr = as_expression(filter)
    if expr is None:
        return np.ones(len(metadatas), dtype=bool)
    if expr._operator in (FilterOperator.AND, FilterOperator.OR):
        left = evaluate_filter(expr._left, metadatas)
        right = evaluate_filter(expr._right, metadatas)
        return left & right if expr._operator == FilterOperator.AND else left | right
    return _leaf_mask(str(expr), metadatas)


__all__ = ["Filter", "FilterExpression", "Tag", "Num", "Text", "as_expression", "evaluate_filter"]
