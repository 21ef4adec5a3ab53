"""One filter model for every store: a store-neutral tree, parsed from what users write.

Users write a LangChain-style dict, ``{"category": "pm", "years": {"$gte": 5}}``, or a redisvl filter
expression, ``(Tag("category") == "pm") & (Num("years") >= 5)`` (or the RediSearch query string such
an expression renders, ``"(@category:{pm} @years:[5 +inf])"``). Each is parsed ONCE by
:func:`filter_tree` into the internal form, a tree of :class:`Node` (``and`` / ``or``, the operators of
langchain-core's ``structured_query.Operation``) over :class:`Leaf` conditions (the comparators: exact
tag values, number ranges, text words or phrases, a missing field), and every store translates that
tree with one visitor (:class:`FilterVisitor`): FAISS and the tests' reference store evaluate it into
a row mask (:class:`RowMask`, :func:`evaluate_filter`), Redis renders a RediSearch query string
(:func:`~langchain_embcompare.stores.redis_schema.filter_query`), Milvus a boolean expression
(:func:`~langchain_embcompare.stores.milvus_schema.to_expression`). A new store writes one visitor.

redisvl is only an input format here: it is imported when a redisvl expression is passed (or when a
user asks for ``filters.Tag`` / ``Num`` / ``Text``), never for a FAISS user writing dicts, and the tree
is read from the expression's public rendering (``str(expr)``), never from its private attributes.
A redisvl expression is parsed as the string Redis would run, so a clause redisvl drops while
rendering (``Tag("f") == []`` is ``*``, and ``* | x`` renders ``x``) is dropped on every store alike.

Rules, the same on every store (the parity test in ``tests/test_filter_parity.py`` holds them):

* A TAG match is exact and case-insensitive. A document's string value is ONE tag, whatever it holds
  (``"City, Country"`` is one value; commas, pipes and semicolons are data); a list value holds
  several tags, and the document matches when any of them matches.
* ``{"f": {"$in": []}}`` matches no document (the tree :data:`NOTHING`); ``{"f": {"$nin": []}}``
  excludes none. A filter that can match nothing short-circuits to an empty result before any search.
* NUMERIC ranges compare numbers (a missing or non-numeric value never matches). TEXT (``$like``,
  ``Text % "..."``) matches whole words (:func:`words`: runs of letters, digits and ``_``,
  lower-cased; no stemming, no stopwords: ``"to be"`` matches exactly the values holding both words);
  several words must all be present, ``Text == "..."`` is a phrase (the words adjacent, in order);
  ``word*`` is a prefix. A text filter without any word (``"!!"``) is refused.
* An operator outside the model (a dict ``$regex``, a redisvl ``Geo`` or fuzzy ``%%w%%`` clause) is
  refused with an error naming it, never ignored.
"""

from __future__ import annotations

import abc
import importlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Union

import numpy as np

from langchain_embcompare.errors import InvalidParameterError

if TYPE_CHECKING:
    from redisvl.query.filter import FilterExpression

DICT_OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$like")
"""The comparison operators of a LangChain-style dict filter (plus ``$and`` / ``$or`` over lists)."""


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Leaf:
    """One condition of a filter (a comparator), as every store's visitor sees it. Hashable, so a
    store may cache what a tree selects.

    Args:
        kind: ``"tag"`` (``values``: lower-cased, stripped exact values; any matches), ``"num"``
            (``lo`` / ``hi`` bounds, ``*_exclusive`` flags; infinities allowed), ``"phrase"``
            (``values``: the phrase's words, adjacent and in order), ``"terms"`` (``alternatives``: an
            OR of AND-ed words; a word ending in ``*`` is a prefix), ``"missing"`` (the field is
            absent or ``None``), ``"all"`` (every document) or ``"none"`` (no document: only ever the
            whole tree, :data:`NOTHING`).
        field: the metadata key.
        values: see ``kind``.
        lo: lower bound of a ``"num"`` leaf.
        hi: upper bound of a ``"num"`` leaf.
        lo_exclusive: ``lo`` itself is excluded.
        hi_exclusive: ``hi`` itself is excluded.
        alternatives: see ``kind``.
        negate: the condition is inverted (a document without the field then matches).
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
    """An operator over two sub-trees.

    Args:
        op: ``"and"`` or ``"or"``.
        left: a sub-tree.
        right: a sub-tree.
    """

    op: str
    left: Node | Leaf
    right: Node | Leaf


FilterTree = Union[Node, Leaf]
"""A parsed filter: a :class:`Node` or a :class:`Leaf`."""

NOTHING = Leaf("none")
"""The tree that matches no document (what ``$in: []`` makes of a filter)."""

Filter = Union["FilterExpression", Mapping[str, Any], str, Node, Leaf, None]
"""What a search's ``filter=`` accepts: a LangChain-style dict, a redisvl ``FilterExpression``, the
RediSearch query string such an expression renders, an already parsed tree, or ``None``."""


# --------------------------------------------------------------------------- dict input


def _plain(field: str, value: Any) -> Any:
    """A filter value as the Python value documents are stored with (numpy scalars and arrays ->
    int / float / bool / lists, as :func:`~langchain_embcompare.stores.ops.clean_metadata` stores
    them), so ``np.int64(2020)`` compares as the number 2020 on every store. NaN and an empty tag
    value are refused: neither can match anything the same way everywhere."""
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


def _and(a: FilterTree, b: FilterTree) -> FilterTree:
    return NOTHING if a == NOTHING or b == NOTHING else Node("and", a, b)


def _or(a: FilterTree, b: FilterTree) -> FilterTree:
    if a == NOTHING:
        return b
    if b == NOTHING:
        return a
    return Node("or", a, b)


def _dict_leaf(field: str, op: str, value: Any) -> FilterTree | None:
    """One dict condition -> a leaf (``None``: constrains nothing, ``$nin: []``)."""
    value = _plain(field, value)
    if op in ("$in", "$nin") and isinstance(value, (list, tuple, set)) and len(value) == 0:
        return NOTHING if op == "$in" else None  # $in [] keeps nothing; $nin [] excludes nothing
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if op in ("$eq", "$ne") and numeric:
        return Leaf("num", field, lo=float(value), hi=float(value), negate=op == "$ne")
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not numeric:
            raise InvalidParameterError(f"Filter {field!r}: {op} needs a number, got {value!r}.")
        x = float(value)
        if op in ("$gt", "$gte"):
            return Leaf("num", field, lo=x, lo_exclusive=op == "$gt")
        return Leaf("num", field, hi=x, hi_exclusive=op == "$lt")
    if op == "$like":
        return parse_leaf(f"@{field}:({value})")
    if op not in ("$eq", "$in", "$ne", "$nin"):
        raise InvalidParameterError(f"Unknown filter operator {op!r} on {field!r}; use one of {sorted(DICT_OPERATORS)}.")
    if isinstance(value, bool):
        values: list[str] = [str(value).lower()]
    elif isinstance(value, (list, tuple, set)):
        values = [str(v) for v in value]
    else:
        values = [str(value)]
    return Leaf("tag", field, values=tuple(v.strip().lower() for v in values), negate=op in ("$ne", "$nin"))


def _dict_tree(filter: Mapping[str, Any]) -> FilterTree | None:
    """A LangChain-style dict -> tree (``None``: constrains nothing)."""
    parts: list[FilterTree | None] = []
    for field, cond in filter.items():
        if field in ("$and", "$or"):
            if not isinstance(cond, (list, tuple)) or not cond:
                raise InvalidParameterError(f"{field} takes a non-empty list of filter dicts, got {cond!r}.")
            subs = [filter_tree(c) for c in cond]
            tree: FilterTree | None
            if field == "$and":
                kept = [x for x in subs if x is not None]  # an empty condition constrains nothing
                tree = kept[0] if kept else None
                for x in kept[1:]:
                    tree = _and(tree, x)  # type: ignore[arg-type]
            elif any(x is None for x in subs):  # one unconstrained alternative keeps everything
                tree = None
            else:
                tree = subs[0]
                for x in subs[1:]:
                    tree = _or(tree, x)  # type: ignore[arg-type]
            parts.append(tree)
        elif isinstance(field, str) and field.startswith("$"):
            raise InvalidParameterError(f"Unknown filter operator {field!r} at the top of a filter; use $and or $or.")
        elif isinstance(cond, Mapping):
            for op, value in cond.items():
                parts.append(_dict_leaf(field, op, value))
        else:
            parts.append(_dict_leaf(field, "$in" if isinstance(cond, (list, tuple, set)) else "$eq", cond))
    kept_parts = [p for p in parts if p is not None]
    if not kept_parts:
        return None
    out = kept_parts[0]
    for p in kept_parts[1:]:
        out = _and(out, p)
    return out


# --------------------------------------------------------------------------- query-string input (redisvl)

_TAG = re.compile(r"^@(?P<f>[\w.$-]+):\{(?P<v>.*)\}$", re.S)
_NUM = re.compile(r"^@(?P<f>[\w.$-]+):\[(?P<lo>\(?[^ \]]+) (?P<hi>\(?[^ \]]+)\]$")
_GEO = re.compile(r"^@[\w.$-]+:\[\S+ \S+ \S+ \S+\]$")
_TEXT_PHRASE = re.compile(r'^@(?P<f>[\w.$-]+):\(?"(?P<v>.*)"\)?$', re.S)
_TEXT_TERMS = re.compile(r"^@(?P<f>[\w.$-]+):\((?P<v>.*)\)$", re.S)
_MISSING = re.compile(r"^ismissing\(@(?P<f>[\w.$-]+)\)$")
_FIELD = re.compile(r"@[\w.$-]+:")
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


def _outside(query: str, what: str = "") -> InvalidParameterError:
    return InvalidParameterError(
        f"The filter {query!r}{what} is outside what every store can run; use Tag, Num or Text filters "
        "(==, !=, <, >, between, %) combined with & and |, or a dict with "
        f"{list(DICT_OPERATORS)}, $and, $or."
    )


def parse_leaf(query: str) -> Leaf:
    """One leaf of a RediSearch query string, as redisvl's ``Tag`` / ``Num`` / ``Text`` render them
    (``@f:{a|b}``, ``@f:[lo hi]``, ``@f:("phrase")``, ``@f:(w1 w2*|w3)``, ``ismissing(@f)``, ``*``,
    each possibly negated as ``(-...)``) -> :class:`Leaf`.

    Args:
        query: the leaf's query string.

    Returns:
        The leaf.

    Raises:
        InvalidParameterError: syntax outside that grammar (a Geo clause, a fuzzy ``%w%`` term, a
            tag wildcard pattern), or a text clause without any word.
    """
    q = query.strip()
    negate = False
    if q.startswith("(-") and q.endswith(")"):
        negate, q = True, q[2:-1].strip()
    if q == "*":
        return Leaf("all", negate=negate)
    if m := _MISSING.match(q):
        return Leaf("missing", m["f"], negate=negate)
    if m := _TAG.match(q):
        if re.search(r"(?<!\\)\*", m["v"]):
            raise _outside(query, " (a tag wildcard pattern)")
        return Leaf("tag", m["f"], values=_split_tags(m["v"]), negate=negate)
    if _GEO.match(q):
        raise _outside(query, " (a Geo clause)")
    if m := _NUM.match(q):
        try:
            lo, lo_ex = _number(m["lo"])
            hi, hi_ex = _number(m["hi"])
        except ValueError:
            raise _outside(query, " (a malformed range)") from None
        return Leaf("num", m["f"], lo=lo, hi=hi, lo_exclusive=lo_ex, hi_exclusive=hi_ex, negate=negate)
    if m := _TEXT_PHRASE.match(q):
        return Leaf("phrase", m["f"], values=_text_words(m["v"], query), negate=negate)
    if m := _TEXT_TERMS.match(q):
        if "%" in m["v"] and re.search(r"%\S", m["v"]):
            raise _outside(query, " (a fuzzy %term% match)")
        alts = tuple(
            tuple(w for t in a.split() for w in _term_words(t.strip("%"), query)) for a in m["v"].split("|")
        )
        if any(not a for a in alts):
            _text_words("", query)  # raises: an alternative without a word
        return Leaf("terms", m["f"], alternatives=alts, negate=negate)
    raise _outside(query)


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


class _QueryParser:
    """Recursive descent over the query strings redisvl renders: a leaf, or ``(A B)`` (and) /
    ``(A | B)`` (or) groups of them."""

    def __init__(self, query: str) -> None:
        self.s, self.i = query, 0

    def parse(self) -> FilterTree:
        self.skip()
        tree = self.expr()
        self.skip()
        if self.i != len(self.s):
            raise _outside(self.s)
        return tree

    def skip(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def expr(self) -> FilterTree:
        s, i = self.s, self.i
        if s.startswith("(-", i):
            end = self.leaf_end(i + 2)
            if not s.startswith(")", end):
                raise _outside(s)
            self.i = end + 1
            return parse_leaf(s[i : end + 1])
        if s.startswith("(", i):
            self.i += 1
            self.skip()
            items, ops = [self.expr()], set()
            while True:
                if self.i >= len(s):
                    raise _outside(s, " (unbalanced parentheses)")
                if s[self.i] == ")":
                    self.i += 1
                    break
                if s.startswith(" | ", self.i):
                    ops.add("or")
                    self.i += 3
                elif s[self.i] == " ":
                    self.skip()
                    if s.startswith("| ", self.i):
                        ops.add("or")
                        self.i += 2
                    elif s.startswith(")", self.i):
                        continue
                    else:
                        ops.add("and")
                else:
                    raise _outside(s)
                self.skip()
                items.append(self.expr())
            if len(ops) > 1:
                raise _outside(s, " (mixes AND and OR in one group; parenthesize each)")
            op = ops.pop() if ops else "and"
            tree = items[0]
            for x in items[1:]:
                tree = Node(op, tree, x)
            return tree
        end = self.leaf_end(i)
        self.i = end
        return parse_leaf(s[i:end])

    def leaf_end(self, i: int) -> int:
        """The end (exclusive) of the leaf starting at ``i``."""
        s = self.s
        if s.startswith("*", i):
            return i + 1
        if s.startswith("ismissing(", i):
            end = s.find(")", i)
            if end < 0:
                raise _outside(s)
            return end + 1
        m = _FIELD.match(s, i)
        if m is None:
            raise _outside(s)
        j = m.end()
        closer = {"{": "}", "[": "]"}.get(s[j : j + 1])
        if closer is not None:
            k = j + 1
            while k < len(s) and s[k] != closer:
                k += 2 if s[k] == "\\" else 1
            if k >= len(s):
                raise _outside(s, " (unbalanced brackets)")
            return k + 1
        if s.startswith('("', j):
            end = s.find('")', j + 2)
            if end < 0:
                raise _outside(s)
            return end + 2
        if s.startswith('"', j):
            end = s.find('"', j + 1)
            if end < 0:
                raise _outside(s)
            return end + 1
        if s.startswith("(", j):
            depth, k = 0, j
            while k < len(s):
                if s[k] == "\\":
                    k += 2
                    continue
                depth += {"(": 1, ")": -1}.get(s[k], 0)
                if depth == 0:
                    return k + 1
                k += 1
            raise _outside(s, " (unbalanced parentheses)")
        raise _outside(s)


def parse_query(query: str) -> FilterTree:
    """A RediSearch query string in the grammar redisvl's filter expressions render -> tree.

    Args:
        query: e.g. ``"(@category:{pm} @years:[5 +inf])"`` (``str(Tag("category") == "pm" & ...)``).

    Returns:
        The tree.

    Raises:
        InvalidParameterError: syntax outside that grammar, named with the query.
    """
    return _QueryParser(query).parse()


def _is_redisvl_expression(filter: Any) -> bool:
    """Whether ``filter`` is a redisvl ``FilterExpression``, checked without importing redisvl (a user
    who never passed one never loads it)."""
    if not type(filter).__module__.startswith("redisvl."):
        return False
    from redisvl.query.filter import FilterExpression

    return isinstance(filter, FilterExpression)


def filter_tree(filter: Filter) -> FilterTree | None:
    """Parse any accepted filter input into the store-neutral tree, once.

    Dict rules: a string or list value is a TAG match, a number a NUMERIC match; operators ``$eq``,
    ``$ne``, ``$in``, ``$nin``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$like`` (full text); ``$and`` /
    ``$or`` take lists of dicts. Several keys are ANDed. A redisvl expression (or its query string) is
    parsed from its rendering: what Redis would run.

    Args:
        filter: a LangChain-style dict, a redisvl ``FilterExpression``, a RediSearch query string in
            redisvl's grammar, a tree (returned as is), or ``None``.

    Returns:
        The tree; ``None`` for no filter (or one that constrains nothing, ``{"f": {"$nin": []}}``);
            :data:`NOTHING` for a filter that can match no document (``$in: []``).

    Raises:
        InvalidParameterError: an unknown operator (named), a value of the wrong kind for its operator
            (a non-number for ``$gt``), NaN, a value holding NUL, an empty tag value, an empty ``$and`` /
            ``$or`` list, syntax outside redisvl's Tag / Num / Text grammar, or another input type.
    """
    if filter is None or isinstance(filter, (Node, Leaf)):
        return filter
    if isinstance(filter, Mapping):
        return _dict_tree(filter)
    if isinstance(filter, str):
        return parse_query(filter)
    if _is_redisvl_expression(filter):
        try:
            query = str(filter)
        except (ValueError, TypeError) as exc:
            raise InvalidParameterError(f"The redisvl filter expression cannot be rendered: {exc}") from exc
        return parse_query(query)
    raise InvalidParameterError(
        "A filter must be a dict (LangChain style), a redisvl FilterExpression (Tag/Num/Text composed with & "
        f"and |) or its query string, got {type(filter).__name__}."
    )


def matches_nothing(filter: Filter) -> bool:
    """Whether a filter provably matches no document (``$in: []`` and what it implies), so a search
    can short-circuit to an empty result.

    Args:
        filter: any input :func:`filter_tree` accepts.

    Returns:
        ``True`` when its tree is :data:`NOTHING`.

    Raises:
        InvalidParameterError: as :func:`filter_tree`.
    """
    return filter_tree(filter) == NOTHING


# --------------------------------------------------------------------------- visitors

T = TypeVar("T")


class FilterVisitor(abc.ABC, Generic[T]):
    """Translate a filter tree for one engine: implement :meth:`leaf` (one condition) and
    :meth:`combine` (``and`` / ``or`` of two translated sub-trees); :meth:`visit` walks the tree.
    What a new store writes to support filters (the stores' own: :class:`RowMask` for in-process
    stores, ``redis_schema.RedisQuery``, ``milvus_schema.MilvusExpression``).

    A store checks :data:`NOTHING` before visiting (a search short-circuits it), so ``leaf`` never
    sees a ``"none"`` leaf from a search.
    """

    def visit(self, tree: FilterTree) -> T:
        """Translate a whole tree.

        Args:
            tree: a parsed filter (:func:`filter_tree`), not ``None``.

        Returns:
            The engine's form of the filter.

        Raises:
            InvalidParameterError: a condition the engine cannot run (raised by :meth:`leaf`).
        """
        if isinstance(tree, Node):
            return self.combine(tree.op, self.visit(tree.left), self.visit(tree.right))
        return self.leaf(tree)

    @abc.abstractmethod
    def leaf(self, leaf: Leaf) -> T:
        """Translate one condition.

        Args:
            leaf: the condition (its ``negate`` flag included).

        Returns:
            The engine's form of the condition.

        Raises:
            InvalidParameterError: a condition the engine cannot run, naming it and the fix.
        """

    @abc.abstractmethod
    def combine(self, op: str, left: T, right: T) -> T:
        """Combine two translated sub-trees.

        Args:
            op: ``"and"`` or ``"or"``.
            left: the translated left sub-tree.
            right: the translated right sub-tree.

        Returns:
            The engine's form of ``left op right``.
        """


def tag_values(value: Any) -> set[str]:
    """A document's TAG values: a string is ONE value (separators inside it are data), a list holds
    several; compared lower-cased and stripped.

    Args:
        value: a metadata value (``None``: no values).

    Returns:
        The set of lower-cased, stripped values.
    """
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
    """A metadata value as a NUMERIC filter reads it, the same on every store.

    Args:
        value: a metadata value.

    Returns:
        A finite float (Python / numpy numbers, and strings that parse as one: ``"2001"``,
            ``" 2005 "``), or ``None`` (missing, bools, other strings, NaN, +-inf): a value that never
            matches a numeric range.
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class RowMask(FilterVisitor[np.ndarray]):
    """The in-process translation (FAISS, the tests' reference store, bm25s): a boolean mask over
    documents, from their metadata.

    Args:
        metadatas: one metadata mapping per document.
    """

    def __init__(self, metadatas: Sequence[Mapping[str, Any]]) -> None:
        self.metadatas = metadatas

    def leaf(self, leaf: Leaf) -> np.ndarray:
        """The documents one condition keeps.

        Args:
            leaf: the condition.

        Returns:
            (n,) bool mask over the documents.
        """
        metadatas, n, f = self.metadatas, len(self.metadatas), leaf.field
        if leaf.kind == "all":
            mask = np.ones(n, dtype=bool)
        elif leaf.kind == "none":
            mask = np.zeros(n, dtype=bool)
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

    def combine(self, op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """``left & right`` or ``left | right``.

        Args:
            op: ``"and"`` or ``"or"``.
            left: (n,) bool mask.
            right: (n,) bool mask.

        Returns:
            (n,) bool mask.
        """
        return left & right if op == "and" else left | right


def evaluate_filter(filter: Filter, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The documents (by their metadata) that ``filter`` keeps: :class:`RowMask` over its tree.

    Args:
        filter: any input :func:`filter_tree` accepts (a tree included).
        metadatas: one metadata mapping per document.

    Returns:
        (n,) bool mask (all ``True`` for no filter, all ``False`` for :data:`NOTHING`).

    Raises:
        InvalidParameterError: as :func:`filter_tree`.
    """
    tree = filter_tree(filter)
    if tree is None:
        return np.ones(len(metadatas), dtype=bool)
    return RowMask(metadatas).visit(tree)


_REDISVL_NAMES = ("FilterExpression", "Num", "Tag", "Text")


def __getattr__(name: str) -> Any:
    """redisvl's filter builders (``Tag``, ``Num``, ``Text``, ``FilterExpression``), imported on first
    use so that a user who never asks for them never imports redisvl."""
    if name in _REDISVL_NAMES:
        return getattr(importlib.import_module("redisvl.query.filter"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DICT_OPERATORS",
    "Filter",
    "FilterExpression",
    "FilterTree",
    "FilterVisitor",
    "Leaf",
    "NOTHING",
    "Node",
    "Num",
    "RowMask",
    "Tag",
    "Text",
    "as_number",
    "evaluate_filter",
    "filter_tree",
    "matches_nothing",
    "parse_leaf",
    "parse_query",
    "tag_values",
    "words",
]
