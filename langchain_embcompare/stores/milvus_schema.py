"""The Milvus store's settings, collection schema and filter translation (used by :mod:`.milvus`).

Collection layout (one entity per document):

============  ===========================  ==================================================================
field         Milvus type                  holds
============  ===========================  ==================================================================
``id``        VARCHAR, primary key         the document id (``Document.id``)
``row``       INT64 (INVERTED index)       the protocol's row handle: a 63-bit hash of the id (stable)
``text``      VARCHAR                      ``page_content``
``metadata``  JSON                         the metadata, as given (returned with the document)
``_tags``     JSON                         every non-None metadata value as lower-cased tag strings
                                           (``filters.tag_values``): exact, case-insensitive TAG filters
                                           on any key
``_nums``     JSON                         every metadata value that reads as a number, as a float
                                           (numeric range filters on any key)
``cluster``   INT64                        the cluster label (``-1``: none), for the cluster prefilter
schema keys   ARRAY<VARCHAR> / DOUBLE /    ``metadata_schema`` fields typed as in the Redis schema:
              VARCHAR (nullable)           ``tag`` -> ARRAY of lower-cased values (a string is ONE tag; a
                                           list several; a plain VARCHAR cannot hold a list), ``numeric``
                                           -> DOUBLE, ``text`` -> VARCHAR; filters on them use these
                                           columns (scalar-indexable on a server)
``vector``    FLOAT_VECTOR(dim)            the document vector (unit length for ``cosine``)
extras        FLOAT_VECTOR(d)              ``extra_vector_fields`` (the funnel's shortlist prefixes)
============  ===========================  ==================================================================

The collection's properties hold ``embcompare.space`` (the :class:`VectorSpace`) and
``embcompare.spec`` (this spec) as JSON; opening checks both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import FilterVisitor, Leaf, Node, as_number
from langchain_embcompare.stores.ops import check_field_schema, check_positive_ints

ID_FIELD = "id"
ROW_FIELD = "row"
TEXT_FIELD = "text"
METADATA_FIELD = "metadata"
TAGS_FIELD = "_tags"
NUMS_FIELD = "_nums"
CLUSTER_FIELD = "cluster"
VECTOR_FIELD = "vector"
SPARSE_FIELD = "text_bm25"  # full text: the BM25 function's sparse output (Milvus >= 2.5, Lite)
RESERVED_FIELDS = frozenset({ID_FIELD, ROW_FIELD, TEXT_FIELD, METADATA_FIELD, TAGS_FIELD, NUMS_FIELD, CLUSTER_FIELD, VECTOR_FIELD,
                             SPARSE_FIELD})
# Full text (Milvus's BM25 function on ``text``): bm25s' published k1 / b, and an English analyzer. Milvus
# scores idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl)), idf = ln(1 + (N - df + 0.5) / (df + 0.5))
# (Milvus docs, "Full Text Search"): bm25s' Lucene variant times the constant (k1 + 1), the same ranking.
BM25_K1, BM25_B = 1.5, 0.75
BM25_ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"},
                                                      {"type": "stop", "stop_words": ["_english_"]}]}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

INDEX_TYPES = {"flat": "FLAT", "ivf": "IVF_FLAT", "hnsw": "HNSW"}
METRIC_TYPES = {"cosine": "COSINE", "ip": "IP", "l2": "L2"}
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
MAX_TOPK = 16384  # Milvus's limit on k (and on one query's result count)


@dataclass(frozen=True)
class MilvusIndexSpec:
    """Everything that defines a Milvus collection of this package, validated up front.

    >>> MilvusIndexSpec("scifact", kind="hnsw", metric="cosine", metadata_schema={"year": "numeric"})

    Args:
        collection_name: letters, digits and ``_``, not starting with a digit.
        kind: ``"flat"`` (Milvus FLAT, exact), ``"ivf"`` (IVF_FLAT: ``nlist`` lists, ``nprobe`` searched)
            or ``"hnsw"`` (HNSW: ``m``, ``ef_construction``; ``ef_search`` at query time, raised to ``k``
            when smaller, as Milvus requires ``ef >= k``).
        metric: ``cosine`` / ``ip`` / ``l2`` (Milvus COSINE / IP / L2).
        m: HNSW links per node.
        ef_construction: HNSW candidates kept while building.
        ef_search: HNSW candidates kept while searching (default for every search).
        nlist: IVF lists.
        nprobe: IVF lists searched (default for every search).
        metadata_schema: ``{key: "tag" | "numeric" | "text"}``, typed columns for those keys (any key
            can be filtered on; these are also scalar-indexable on a server).
        extra_vector_fields: ``{name: dim}`` more vector fields (the funnel's shortlist), filled at
            ingest with the re-normalised Matryoshka prefix of the main vector unless given.
        consistency_level: Milvus's (``"Strong"``: a search sees every write before it; ``"Bounded"``
            is faster on a cluster).
        max_text_bytes: VARCHAR limit of the text (UTF-8 bytes, at most 65535).
        max_id_bytes: VARCHAR limit of the id (UTF-8 bytes, at most 65535).
        max_tags: most tags per value of a ``tag`` column.
        batch_size: entities per insert call.
        full_text: index ``text`` for Milvus's BM25 full-text search (capability ``"full_text"``,
            :data:`BM25_ANALYZER`, k1 = 1.5, b = 0.75): ``None`` (default) where the server has it
            (Milvus >= 2.5, Lite), ``True`` required (refused on older servers, naming the version),
            ``False`` off.

    Raises:
        InvalidParameterError: naming the bad setting.
    """

    collection_name: str = "embcompare"
    kind: Literal["flat", "ivf", "hnsw"] = "flat"
    metric: Literal["cosine", "ip", "l2"] = "cosine"
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 128
    nprobe: int = 16
    metadata_schema: Mapping[str, str] = field(default_factory=dict)
    extra_vector_fields: Mapping[str, int] = field(default_factory=dict)
    consistency_level: str = "Strong"
    max_text_bytes: int = 65535
    max_id_bytes: int = 1024
    max_tags: int = 256
    batch_size: int = 1000
    full_text: bool | None = None

    def __post_init__(self) -> None:
        def bad(msg: str) -> InvalidParameterError:
            return InvalidParameterError(f"MilvusIndexSpec: {msg}")

        object.__setattr__(self, "kind", str(self.kind).lower())
        object.__setattr__(self, "metric", str(self.metric).lower())
        if not _NAME_RE.match(self.collection_name or ""):
            raise bad(f"collection_name {self.collection_name!r} must be letters, digits and _ (not starting with a digit)")
        if self.kind not in INDEX_TYPES:
            raise bad(f"kind {self.kind!r} is not one of {sorted(INDEX_TYPES)}")
        if self.metric not in METRIC_TYPES:
            raise bad(f"metric {self.metric!r} is not one of {sorted(METRIC_TYPES)}")
        levels = {c.lower(): c for c in CONSISTENCY_LEVELS}
        if str(self.consistency_level).lower() not in levels:
            raise bad(f"consistency_level {self.consistency_level!r} is not one of {list(CONSISTENCY_LEVELS)}")
        object.__setattr__(self, "consistency_level", levels[str(self.consistency_level).lower()])
        check_positive_ints(self, ("m", "ef_construction", "ef_search", "nlist", "nprobe", "max_tags", "batch_size"), "MilvusIndexSpec")
        for name in ("max_text_bytes", "max_id_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 65535:
                raise bad(f"{name}={value!r} must be an integer in [1, 65535] (Milvus's VARCHAR limit)")
        schema, extra = check_field_schema(
            self.metadata_schema, self.extra_vector_fields, RESERVED_FIELDS, "MilvusIndexSpec", private_prefix="_"
        )
        object.__setattr__(self, "metadata_schema", schema)
        object.__setattr__(self, "extra_vector_fields", extra)
        if self.full_text not in (None, True, False):
            raise bad(f"full_text={self.full_text!r} must be None (where the server has it), True or False")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the collection's ``embcompare.spec`` property).

        Returns:
            ``{field: value}`` for every field.
        """
        return {**asdict(self), "metadata_schema": dict(self.metadata_schema), "extra_vector_fields": dict(self.extra_vector_fields)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MilvusIndexSpec:
        """Rebuild a spec from ``to_dict()``'s output (as recorded with a collection).

        Args:
            data: ``{field: value}``; keys that are not fields are ignored.

        Returns:
            The :class:`MilvusIndexSpec` (validated as the constructor validates).
        """
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    # what decides the stored layout (a difference here is a SchemaMismatchError); query-time knobs
    # (ef_search, nprobe, consistency_level, batch_size) may differ between openers.
    STRUCTURAL = ("kind", "metric", "m", "ef_construction", "nlist", "metadata_schema", "extra_vector_fields",
                  "max_text_bytes", "max_id_bytes", "max_tags")

    def structural(self) -> dict[str, Any]:
        """The settings that decide the stored layout (a difference on reopening is a ``SchemaMismatchError``):
        kind, metric, metadata schema, extra vector fields, size limits, and the index kind's build
        parameters; query-time knobs are left out.

        Returns:
            ``{setting: value}`` of the structural settings.
        """
        d = self.to_dict()
        keys = ["kind", "metric", "metadata_schema", "extra_vector_fields", "max_text_bytes", "max_id_bytes", "max_tags"]
        keys += {"hnsw": ["m", "ef_construction"], "ivf": ["nlist"], "flat": []}[self.kind]
        return {k: d[k] for k in keys}

    def index_params(self) -> dict[str, Any]:
        """Milvus build params of the vector index.

        Returns:
            ``{"M", "efConstruction"}`` for HNSW, ``{"nlist"}`` for IVF, ``{}`` for flat.
        """
        if self.kind == "hnsw":
            return {"M": self.m, "efConstruction": self.ef_construction}
        if self.kind == "ivf":
            return {"nlist": self.nlist}
        return {}

    def search_params(self, k: int, ef_search: int | None = None, nprobe: int | None = None) -> dict[str, Any]:
        """Milvus search params for top ``k`` (HNSW's ``ef`` is at least ``k``); ``ef_search`` /
        ``nprobe`` override the spec's for one call (ignored by the kinds that do not take them).

        Args:
            k: results per query.
            ef_search: HNSW candidates kept while searching (``None``: the spec's).
            nprobe: IVF lists searched (``None``: the spec's; at most ``nlist``).

        Returns:
            ``{"metric_type": ..., "params": {...}}`` as ``MilvusClient.search`` takes it.
        """
        params: dict[str, Any] = {}
        if self.kind == "hnsw":
            params["ef"] = max(ef_search or self.ef_search, k)
        elif self.kind == "ivf":
            params["nprobe"] = min(nprobe or self.nprobe, self.nlist)
        return {"metric_type": METRIC_TYPES[self.metric], "params": params}


# --------------------------------------------------------------------------- filter translation


_LITERAL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def literal(value: str) -> str:
    """A Milvus expression string literal: double-quoted, ``"`` and ``\\`` backslash-escaped, newline,
    carriage return and tab written ``\\n`` / ``\\r`` / ``\\t``. Milvus's parser knows no other escape
    (``\\u0000``, ``\\x00`` are parse errors), so every other character, control characters
    included, is written as itself, which its parser reads back exactly (tests/test_input_rules.py).

    Args:
        value: the string.

    Returns:
        The quoted literal.
    """
    return '"' + "".join(_LITERAL_ESCAPES.get(ch, ch) for ch in value) + '"'


def number(value: float) -> str:
    """A finite float as a Milvus numeric literal (``repr``: round-trips exactly).

    Args:
        value: a finite number.

    Returns:
        The literal.

    Raises:
        InvalidParameterError: ``value`` is NaN or infinite.
    """
    if not math.isfinite(value):
        raise InvalidParameterError(f"A filter bound must be finite here, got {value!r}.")
    return repr(float(value))


def int_list(values: Any) -> str:
    """``[1, 2, 3]`` from an int64 array or sequence (for ``row in [...]`` / ``cluster in [...]``).

    Args:
        values: integers (an int64 array or a sequence).

    Returns:
        The Milvus list literal.
    """
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def has_text_leaf(node: Node | Leaf | None) -> bool:
    """True when the tree holds a phrase / terms (full-text) leaf: those are evaluated in-process.

    Args:
        node: a filter tree (:func:`filters.filter_tree`), or ``None``.

    Returns:
        Whether any leaf is a text leaf.
    """
    if node is None:
        return False
    if isinstance(node, Leaf):
        return node.kind in ("phrase", "terms")
    return has_text_leaf(node.left) or has_text_leaf(node.right)


def to_expression(node: Node | Leaf, metadata_schema: Mapping[str, str]) -> str:
    """A Milvus boolean expression equivalent to a filter tree (:func:`filters.filter_tree`).

    Each leaf is two-valued (Milvus compares NULL / absent values as unknown, and ``not unknown`` is
    still unknown, so every condition says what happens when the value is missing): a positive leaf
    is ``present and condition``, a negated one ``not present or not condition``, as
    ``filters.evaluate_filter`` (FAISS) treats them.

    * ``tag``: ``ARRAY_CONTAINS_ANY(col, [...])`` on a ``tag`` column, else
      ``JSON_CONTAINS_ANY(_tags["key"], [...])``; values are lower-cased on both sides.
    * ``num``: ``col >= lo and col < hi`` (inclusive/exclusive bounds, infinite bounds dropped) on a
      ``numeric`` column, else on ``_nums["key"]``.
    * ``missing``: the key's value is ``None``/absent (``not exists _tags["key"]``).
    * ``all``: every document. Text leaves (``phrase``/``terms``) raise: the store evaluates them in-process.

    Args:
        node: a filter tree (:func:`filters.filter_tree`).
        metadata_schema: the collection's typed metadata columns ``{key: "tag" | "numeric" | "text"}``.

    Returns:
        The Milvus boolean expression.

    Raises:
        InvalidParameterError: a text leaf (``phrase``/``terms``), or a non-finite numeric bound.
    """
    return MilvusExpression(metadata_schema).visit(node)


class MilvusExpression(FilterVisitor[str]):
    """The Milvus visitor of a filter tree (rules: :func:`to_expression`).

    Args:
        metadata_schema: the collection's typed metadata columns ``{key: "tag" | "numeric" | "text"}``.
    """

    def __init__(self, metadata_schema: Mapping[str, str]) -> None:
        self.metadata_schema = metadata_schema

    def combine(self, op: str, left: str, right: str) -> str:
        """``(left and right)`` or ``(left or right)``.

        Args:
            op: ``"and"`` or ``"or"``.
            left: the left expression.
            right: the right expression.

        Returns:
            The combined expression.
        """
        return "(" + left + (" and " if op == "and" else " or ") + right + ")"

    def leaf(self, leaf: Leaf) -> str:
        """One condition as a two-valued Milvus expression (rules: :func:`to_expression`).

        Args:
            leaf: the condition.

        Returns:
            The expression.

        Raises:
            InvalidParameterError: a text leaf (``phrase``/``terms``), or a non-finite numeric bound.
        """
        return _leaf_expression(leaf, self.metadata_schema)


def _leaf_expression(leaf: Leaf, metadata_schema: Mapping[str, str]) -> str:
    kind = metadata_schema.get(leaf.field)
    if leaf.kind == "all":
        return f"({ROW_FIELD} < 0)" if leaf.negate else f"({ROW_FIELD} >= 0)"
    if leaf.kind == "missing":
        present = f"exists {TAGS_FIELD}[{literal(leaf.field)}]"
        return f"({present})" if leaf.negate else f"(not {present})"
    if leaf.kind == "tag":
        values = "[" + ",".join(literal(v) for v in leaf.values) + "]"
        if kind == "tag":
            present, cond = f"{leaf.field} is not null", f"ARRAY_CONTAINS_ANY({leaf.field}, {values})"
        else:
            ref = f"{TAGS_FIELD}[{literal(leaf.field)}]"
            present, cond = f"exists {ref}", f"JSON_CONTAINS_ANY({ref}, {values})"
    elif leaf.kind == "num":
        ref = leaf.field if kind == "numeric" else f"{NUMS_FIELD}[{literal(leaf.field)}]"
        present = f"{ref} is not null" if kind == "numeric" else f"exists {ref}"
        parts = []
        if leaf.lo > -math.inf:
            parts.append(f"{ref} {'>' if leaf.lo_exclusive else '>='} {number(leaf.lo)}")
        if leaf.hi < math.inf:
            parts.append(f"{ref} {'<' if leaf.hi_exclusive else '<='} {number(leaf.hi)}")
        if leaf.lo == math.inf or leaf.hi == -math.inf:
            parts = [f"{ROW_FIELD} < 0"]  # an empty range
        cond = " and ".join(parts) if parts else f"{ROW_FIELD} >= 0"
    else:
        raise InvalidParameterError(
            f"The {leaf.kind!r} filter on {leaf.field!r} has no exact Milvus expression (Milvus matches text with "
            "LIKE / TEXT_MATCH, not whole words); the Milvus store evaluates it in-process."
        )
    if leaf.negate:
        return f"(not ({present}) or not ({cond}))"
    return f"(({present}) and ({cond}))"


def tag_json(metadata: Mapping[str, Any]) -> dict[str, list[str]]:
    """``_tags``: each non-None metadata value as its lower-cased tag strings (``filters.tag_values``).

    Args:
        metadata: a document's metadata.

    Returns:
        ``{key: sorted lower-cased tag strings}``.
    """
    out: dict[str, list[str]] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        items = value if isinstance(value, (list, tuple, set)) else [value]
        out[key] = sorted({str(i).strip().lower() for i in items})
    return out


def num_json(metadata: Mapping[str, Any]) -> dict[str, float]:
    """``_nums``: every metadata value that reads as a finite number.

    Args:
        metadata: a document's metadata.

    Returns:
        ``{key: float}`` of the numeric values.
    """
    out: dict[str, float] = {}
    for key, value in metadata.items():
        f = as_number(value)
        if f is not None:
            out[key] = f
    return out


__all__ = [
    "BM25_ANALYZER",
    "BM25_B",
    "BM25_K1",
    "CONSISTENCY_LEVELS",
    "INDEX_TYPES",
    "METRIC_TYPES",
    "MilvusExpression",
    "MilvusIndexSpec",
    "SPARSE_FIELD",
    "as_number",
    "has_text_leaf",
    "int_list",
    "literal",
    "to_expression",
]
