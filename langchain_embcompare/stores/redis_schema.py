"""What a Redis vector index looks like: its spec, its redisvl schema, field values and filter queries.

One job: turn the package's words (an index spec, a document's metadata, a filter) into what RediSearch
reads (a schema, HASH field values, a query string). No connection lives here; the store
(:mod:`langchain_embcompare.stores.redis`) sends what this module builds.

Field layout of one document (a Redis HASH at ``<prefix>:<document id>``)
    ``_id`` (the id), ``content`` (the text; TEXT-indexed unless ``index_content=False``), ``_metadata``
    (the metadata as JSON, returned as is), ``_row`` (NUMERIC: the store's int64 row handle),
    ``cluster`` (TAG: the cluster label), ``vector`` (main vector) and the spec's extra vector fields,
    and one field per ``metadata_schema`` key.

TEXT fields
    Declared ``NOSTEM`` in an index created with ``STOPWORDS 0``: a text filter matches whole words,
    exactly as :mod:`langchain_embcompare.filters` evaluates it in-process on the other stores (no
    stemming, stopwords are words like any other).

TAG values
    Every TAG field is declared with the separator ``"\\x1f"`` (ASCII unit separator), which RediSearch
    accepts and which no text data holds: a string value is ONE tag whatever it contains (``"City,
    Country"`` matches only itself; commas, pipes and semicolons are data), a list value is written as
    its items joined with the separator. A value that holds ``"\\x1f"`` itself is refused. Tags are
    case-insensitive (the RediSearch default; ``filters.tag_values`` lower-cases the same way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from redisvl.schema import IndexSchema

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import NOTHING, Filter, FilterVisitor, Leaf, as_number, filter_tree, words
from langchain_embcompare.stores.ops import check_field_schema, check_positive_ints

__all__ = [
    "CLUSTER_FIELD",
    "CONTENT_FIELD",
    "ID_FIELD",
    "METADATA_FIELD",
    "RESERVED_FIELDS",
    "ROW_FIELD",
    "TAG_SEPARATOR",
    "VECTOR_FIELD",
    "RedisIndexSpec",
    "escape_tag",
    "overlapping_indexes",
    "field_value",
    "RedisQuery",
    "filter_query",
    "schema_differences",
]

VECTOR_FIELD = "vector"
CLUSTER_FIELD = "cluster"
CONTENT_FIELD = "content"
ID_FIELD = "_id"
METADATA_FIELD = "_metadata"
ROW_FIELD = "_row"
RESERVED_FIELDS = frozenset({VECTOR_FIELD, CLUSTER_FIELD, CONTENT_FIELD, ID_FIELD, METADATA_FIELD, ROW_FIELD})
TAG_SEPARATOR = "\x1f"
TEXT_ATTRS = {"no_stem": True}
"""TEXT fields match whole words exactly, as on every store (``filters``): no stemming (``NOSTEM``);
the index has no stopwords (``STOPWORDS 0``), so a filter made of stopwords matches what holds them."""
FieldType = Literal["tag", "numeric", "text"]


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True, init=False)
class RedisIndexSpec:
    """Everything that defines a Redis vector index, validated up front.

    >>> RedisIndexSpec("scifact", kind="hnsw", metric="cosine", metadata_schema={"title": "text"})

    Args:
        index_name: a non-empty name without spaces.
        prefix: the documents' key prefix (default ``<index_name>:doc``).
        kind: ``"flat"`` (exact) or ``"hnsw"`` (graph), the name every spec of the package uses
            (``FaissIndexSpec.kind``).
        metric: ``"cosine"`` | ``"ip"`` | ``"l2"``.
        dtype: stored vector type, ``"float32"`` | ``"float16"``.
        m: HNSW links per node.
        ef_construction: HNSW candidates kept while building.
        ef_search: HNSW candidates per query.
        metadata_schema: maps metadata keys to ``"tag"`` (exact, case-insensitive, lists allowed),
            ``"numeric"`` (ranges) or ``"text"`` (full text); only these keys can be filtered on.
        extra_vector_fields: adds vector fields (name -> dim), e.g. ``{"vector_64": 64}`` for the
            funnel's shortlist.
        index_content: TEXT-index the document text (``content``).
        batch_size: documents per pipelined write.

    Raises:
        InvalidParameterError: naming the bad value.
    """

    index_name: str = "embcompare"
    prefix: str | None = None
    kind: Literal["flat", "hnsw"] = "flat"
    metric: Literal["cosine", "ip", "l2"] = "cosine"
    dtype: Literal["float32", "float16"] = "float32"
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 100
    metadata_schema: Mapping[str, FieldType] = field(default_factory=dict)
    extra_vector_fields: Mapping[str, int] = field(default_factory=dict)
    index_content: bool = True
    batch_size: int = 500

    def __init__(
        self,
        index_name: str = "embcompare",
        prefix: str | None = None,
        kind: str = "flat",
        metric: str = "cosine",
        dtype: str = "float32",
        m: int = 16,
        ef_construction: int = 200,
        ef_search: int = 100,
        metadata_schema: Mapping[str, str] | None = None,
        extra_vector_fields: Mapping[str, int] | None = None,
        index_content: bool = True,
        batch_size: int = 500,
    ) -> None:
        values = dict(locals())
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, values[name])
        object.__setattr__(self, "metadata_schema", dict(metadata_schema or {}))
        object.__setattr__(self, "extra_vector_fields", dict(extra_vector_fields or {}))
        self._validate()

    def _validate(self) -> None:  # noqa: C901 - one check per field
        def bad(msg: str) -> InvalidParameterError:
            return InvalidParameterError(f"RedisIndexSpec: {msg}")

        object.__setattr__(self, "kind", str(self.kind).lower())
        object.__setattr__(self, "metric", str(self.metric).lower())
        object.__setattr__(self, "dtype", str(self.dtype).lower())
        if not self.index_name or any(c.isspace() for c in self.index_name):
            raise bad(f"index_name {self.index_name!r} must be a non-empty string without spaces")
        if self.prefix is None:
            object.__setattr__(self, "prefix", f"{self.index_name}:doc")
        if self.bookkeeping_prefix.startswith(str(self.prefix)):
            raise bad(
                f"prefix {self.prefix!r} would also index the store's own keys ({self.bookkeeping_prefix}*); "
                f"use a longer prefix such as {self.index_name + ':doc'!r}"
            )
        if self.kind not in ("flat", "hnsw"):
            raise bad(f"kind {self.kind!r} is not one of 'flat', 'hnsw' (Redis has no IVF; use the FAISS store for it)")
        if self.metric not in ("cosine", "ip", "l2"):
            raise bad(f"metric {self.metric!r} is not one of 'cosine', 'ip', 'l2'")
        if self.dtype not in ("float32", "float16"):
            raise bad(f"dtype {self.dtype!r} is not one of 'float32', 'float16'")
        check_positive_ints(self, ("m", "ef_construction", "ef_search", "batch_size"), "RedisIndexSpec")
        schema, extra = check_field_schema(self.metadata_schema, self.extra_vector_fields, RESERVED_FIELDS, "RedisIndexSpec")
        object.__setattr__(self, "metadata_schema", schema)
        object.__setattr__(self, "extra_vector_fields", extra)

    @property
    def bookkeeping_prefix(self) -> str:
        """Prefix of the store's own keys (row counter, row -> id map, stored space)."""
        return f"{self.index_name}:meta:"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored beside the index; :meth:`from_dict` reads it back).

        Returns:
            ``{field: value}`` for every field.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RedisIndexSpec:
        """Inverse of :meth:`to_dict`. Unknown keys are ignored.

        Args:
            data: a dict written by :meth:`to_dict`.

        Returns:
            The spec (validated as the constructor validates).

        Raises:
            InvalidParameterError: a stored value that does not validate.
        """
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def np_dtype(self) -> np.dtype:
        """The numpy dtype vectors are stored as."""
        return np.dtype(self.dtype)

    def field_types(self) -> dict[str, str]:
        """The filterable fields (``cluster`` and ``content`` included).

        Returns:
            ``{field: "tag" | "numeric" | "text"}``.
        """
        types: dict[str, str] = {CLUSTER_FIELD: "tag", **self.metadata_schema}
        if self.index_content:
            types[CONTENT_FIELD] = "text"
        return types

    def vector_attrs(self, dim: int) -> dict[str, Any]:
        """redisvl attributes of one vector field of ``dim`` dimensions.

        Args:
            dim: the field's width.

        Returns:
            ``{"dims", "algorithm", "distance_metric", "datatype"}`` (+ HNSW's ``m``,
                ``ef_construction``, ``ef_runtime``).
        """
        attrs: dict[str, Any] = {"dims": dim, "algorithm": self.kind, "distance_metric": self.metric, "datatype": self.dtype}
        if self.kind == "hnsw":
            attrs.update(m=self.m, ef_construction=self.ef_construction, ef_runtime=self.ef_search)
        return attrs

    def index_schema(self, dim: int) -> IndexSchema:
        """The redisvl schema of this spec for ``dim``-d main vectors.

        Args:
            dim: the main vector field's width.

        Returns:
            The redisvl ``IndexSchema``.
        """
        tag = {"separator": TAG_SEPARATOR}
        fields: list[dict[str, Any]] = [
            {"name": ROW_FIELD, "type": "numeric"},
            {"name": CLUSTER_FIELD, "type": "tag", "attrs": tag},
        ]
        if self.index_content:
            fields.append({"name": CONTENT_FIELD, "type": "text"})
        for name, kind in self.metadata_schema.items():
            attrs = tag if kind == "tag" else TEXT_ATTRS if kind == "text" else None
            fields.append({"name": name, "type": kind, **({"attrs": attrs} if attrs else {})})
        for name, d in {VECTOR_FIELD: dim, **self.extra_vector_fields}.items():
            fields.append({"name": name, "type": "vector", "attrs": self.vector_attrs(d)})
        return IndexSchema.from_dict(
            {
                "index": {
                    "name": self.index_name, "prefix": self.prefix, "key_separator": ":", "storage_type": "hash",
                    "stopwords": [],  # STOPWORDS 0: every word is indexed, as every store matches words
                },
                "fields": fields,
            }
        )


def overlapping_indexes(prefix: str, others: Mapping[str, Sequence[str]]) -> list[str]:
    """The indexes among ``others`` (``{index name: its key prefixes}``) whose keys overlap ``prefix``.

    RediSearch indexes every HASH whose key STARTS WITH one of an index's prefixes (no separator is
    implied), so when one prefix starts with another the shorter index also holds the other's
    documents: its searches and counts include them and dropping or clearing it deletes them (store
    ``t``, prefix ``t:doc``, and store ``t:docs``, keys ``t:docs:doc:<id>``).

    Args:
        prefix: the key prefix of the index about to be created.
        others: ``{index name: its key prefixes}`` of the server's indexes.

    Returns:
        The sorted names of the overlapping indexes.
    """
    return sorted({name for name, prefixes in others.items() for p in prefixes if p.startswith(prefix) or prefix.startswith(p)})


def schema_differences(existing: IndexSchema, wanted: IndexSchema) -> list[str]:
    """Human-readable differences between two redisvl schemas (query-time knobs such as ef_search ignored).

    Args:
        existing: the schema of the index on the server.
        wanted: the schema asked for.

    Returns:
        One line per difference (prefix, fields, types, attributes); empty when they agree.
    """
    diffs: list[str] = []
    prefixes = existing.index.prefix if isinstance(existing.index.prefix, list) else [existing.index.prefix]
    if list(prefixes) != [wanted.index.prefix]:
        diffs.append(f"prefix: index has {existing.index.prefix!r}, asked for {wanted.index.prefix!r}")
    have = {f.name: f for f in existing.fields.values()}
    want = {f.name: f for f in wanted.fields.values()}
    for name in sorted(set(have) | set(want)):
        a, b = have.get(name), want.get(name)
        if a is None:
            diffs.append(f"field {name!r} ({_norm(b.type)}) is missing from the index")
            continue
        if b is None:
            diffs.append(f"index has field {name!r} ({_norm(a.type)}) not in the spec")
            continue
        if _norm(a.type) != _norm(b.type):
            diffs.append(f"field {name!r}: index has type {_norm(a.type)}, asked for {_norm(b.type)}")
            continue
        keys: list[str] = []
        if _norm(a.type) == "tag":
            keys = ["separator"]
        elif _norm(a.type) == "text":
            keys = ["no_stem"]
        elif _norm(a.type) == "vector":
            keys = ["dims", "algorithm", "distance_metric", "datatype"]
            if str(getattr(b.attrs, "algorithm", "")).lower().endswith("hnsw"):
                keys += ["m", "ef_construction"]
        for key in keys:
            va, vb = _norm(getattr(a.attrs, key, None)), _norm(getattr(b.attrs, key, None))
            if va != vb:
                va, vb = (repr(va), repr(vb)) if key == "separator" else (va, vb)
                diffs.append(f"{_norm(a.type)} field {name!r} {key}: index has {va}, asked for {vb}")
    return diffs


def _norm(value: Any) -> Any:
    value = getattr(value, "value", value)
    return str(value).lower() if isinstance(value, str) else value


# --------------------------------------------------------------------------- field values


def field_value(value: Any, kind: str, name: str) -> str | float | None:
    """A metadata value as the HASH field of its ``kind``: a TAG string (list items joined with
    :data:`TAG_SEPARATOR`), a number, or text; ``None``: leave the field out of the index. A numeric
    field holds :func:`~langchain_embcompare.filters.as_number` of the value, as every store's filters
    read it (``"2001"`` -> 2001.0; ``"n/a"``, a bool: not indexed, never matching a range; the
    metadata itself is kept as given).

    Args:
        value: the metadata value (a list for several tags).
        kind: ``"tag"``, ``"numeric"`` or ``"text"``.
        name: the metadata key, named in the error.

    Returns:
        The TAG string, the number (float), the normalised text, or ``None``.

    Raises:
        InvalidParameterError: a tag holding the separator character.
    """
    if kind == "tag":
        vals = [str(v).lower() if isinstance(v, bool) else str(v) for v in (value if isinstance(value, (list, tuple, set)) else [value])]
        if any(TAG_SEPARATOR in v for v in vals):
            raise InvalidParameterError(
                f"metadata {name!r}={value!r} holds the control character \\x1f, the TAG separator of this store; remove it"
            )
        return TAG_SEPARATOR.join(vals)
    if kind == "numeric":
        return as_number(value)
    # text: the words every store matches (filters.words), lower-cased, one space apart, so Redis's
    # tokenizer and case folding meet exactly the words the in-process evaluation sees
    return " ".join(words(str(value)))


# --------------------------------------------------------------------------- filters -> query string


def escape_tag(value: str) -> str:
    """A TAG value escaped for a RediSearch query: every ASCII character but letters, digits and ``_``
    gets a backslash. Non-ASCII characters are written as they are: RediSearch escapes one byte, so a
    backslash before a multi-byte character (an emoji) breaks the value (tests/test_input_rules.py).

    Args:
        value: the tag value.

    Returns:
        The escaped value.
    """
    return re.sub(r"([\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f])", r"\\\1", value)


def _num(x: float, exclusive: bool) -> str:
    text = "-inf" if x == -math.inf else "+inf" if x == math.inf else repr(float(x))
    return f"({text}" if exclusive and math.isfinite(x) else text


def _unindexed(name: str, types: Mapping[str, str]) -> InvalidParameterError:
    return InvalidParameterError(
        f"Filter on {name!r}, which is not an indexed field (indexed: {sorted(types)}). "
        f"Add it to RedisIndexSpec(metadata_schema={{{name!r}: 'tag'|'numeric'|'text'}}) and re-index."
    )


def _leaf_query(leaf: Leaf, types: Mapping[str, str]) -> str:
    if leaf.kind == "all":
        q = "*"
    elif leaf.kind == "missing":
        raise InvalidParameterError(
            f"Filter 'field {leaf.field!r} is missing' is not supported on Redis (the index does not record "
            "absent fields); store an explicit value such as 'none' and filter on it."
        )
    else:
        kind = types.get(leaf.field)
        if kind is None:
            raise _unindexed(leaf.field, types)
        f = leaf.field
        if leaf.kind == "tag" and kind == "tag":
            q = "@%s:{%s}" % (f, "|".join(escape_tag(v) for v in leaf.values))
        elif leaf.kind == "tag" and kind == "numeric":
            try:
                nums = [float(v) for v in leaf.values]
            except ValueError:
                raise InvalidParameterError(
                    f"Filter on numeric field {f!r} needs numbers, got {list(leaf.values)!r}"
                ) from None
            q = "(" + " | ".join(f"@{f}:[{_num(x, False)} {_num(x, False)}]" for x in nums) + ")"
        elif leaf.kind == "num" and kind == "numeric":
            q = f"@{f}:[{_num(leaf.lo, leaf.lo_exclusive)} {_num(leaf.hi, leaf.hi_exclusive)}]"
        elif leaf.kind == "phrase" and kind == "text":
            q = '@%s:"%s"' % (f, " ".join(leaf.values))
        elif leaf.kind == "terms" and kind == "text":
            alts = [" ".join(escape_tag(t[:-1]) + "*" if t.endswith("*") else escape_tag(t) for t in a) for a in leaf.alternatives]
            q = f"@{f}:(" + " | ".join(alts) + ")"
        else:
            what = {"tag": "an exact value", "num": "a number range", "phrase": "a phrase", "terms": "words"}[leaf.kind]
            fix = {
                "tag": "index it as 'tag' for exact values, or filter with {'$like': ...} on a text field",
                "numeric": "compare it with numbers ($gt, $gte, $lt, $lte, or a number for equality)",
                "text": "index it as 'text' to match words",
            }
            raise InvalidParameterError(
                f"Filter on {f!r} asks for {what}, but the field is indexed as {kind!r}: "
                f"{fix.get('tag' if leaf.kind == 'tag' else 'numeric' if leaf.kind == 'num' else 'text')}."
            )
    return f"(-{q})" if leaf.negate else q


class RedisQuery(FilterVisitor[str]):
    """The Redis visitor of a filter tree: a RediSearch query string for an index with these fields.

    Args:
        field_types: the index's filterable fields (:meth:`RedisIndexSpec.field_types`).
    """

    def __init__(self, field_types: Mapping[str, str]) -> None:
        self.field_types = field_types

    def leaf(self, leaf: Leaf) -> str:
        """One condition as a query clause (a tag equality on a numeric field compares numbers).

        Args:
            leaf: the condition.

        Returns:
            The clause.

        Raises:
            InvalidParameterError: a field the index does not have, a condition of the wrong kind for
                its field (naming the fix), or a "field is missing" condition.
        """
        if leaf == NOTHING:
            raise InvalidParameterError("A filter that matches nothing ($in: []) has no query string; short-circuit it.")
        return _leaf_query(leaf, self.field_types)

    def combine(self, op: str, left: str, right: str) -> str:
        """``(left right)`` (and) or ``(left | right)`` (or).

        Args:
            op: ``"and"`` or ``"or"``.
            left: the left clause.
            right: the right clause.

        Returns:
            The combined clause.
        """
        return f"({left} {right})" if op == "and" else f"({left} | {right})"


def filter_query(filter: Filter, field_types: Mapping[str, str]) -> str | None:
    """The RediSearch query string of a filter (``None``: no filter), by :class:`RedisQuery`.

    Args:
        filter: any input :func:`filters.filter_tree` accepts (a tree, a dict, a redisvl expression or
            its query string), parsed once so every store reads it the same way.
        field_types: the index's filterable fields (:meth:`RedisIndexSpec.field_types`).

    Returns:
        The query string, or ``None`` for no filter.

    Raises:
        InvalidParameterError: a filter that matches nothing (``$in: []``: short-circuit it first,
            :func:`filters.matches_nothing`), a filter on another field, or of the wrong kind for its
            field (naming the fix), a "field is missing" filter, or a malformed filter.
    """
    tree = filter_tree(filter)
    return None if tree is None else RedisQuery(field_types).visit(tree)
