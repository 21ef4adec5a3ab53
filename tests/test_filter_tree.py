"""The store-neutral filter tree (filters.py): every input parses to one tree, unsupported operators are
refused by name, and redisvl is an input format only (not imported for dict filters)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from redisvl.query.filter import FilterExpression, Geo, GeoRadius, Num, Tag, Text

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import (
    NOTHING,
    FilterVisitor,
    Leaf,
    Node,
    RowMask,
    evaluate_filter,
    filter_tree,
    matches_nothing,
)

# (dict, the redisvl expression a user writes for the same condition)
SAME = [
    ({"city": "Paris"}, Tag("city") == "Paris"),
    ({"city": {"$ne": "Paris"}}, Tag("city") != "Paris"),
    ({"city": {"$in": ["a|b;c", "City, Country"]}}, Tag("city") == ["a|b;c", "City, Country"]),
    ({"city": {"$nin": ["x", "y"]}}, Tag("city") != ["x", "y"]),
    ({"flag": True}, Tag("flag") == "true"),
    ({"year": 2001}, Num("year") == 2001),
    ({"year": {"$ne": 2001}}, Num("year") != 2001),
    ({"year": {"$gt": 2001}}, Num("year") > 2001),
    ({"year": {"$gte": 2001.5}}, Num("year") >= 2001.5),
    ({"year": {"$lt": 2001}}, Num("year") < 2001),
    ({"year": {"$lte": -3}}, Num("year") <= -3),
    ({"year": {"$gte": 2000, "$lte": 2010}}, (Num("year") >= 2000) & (Num("year") <= 2010)),
    ({"title": {"$like": "neural nets"}}, Text("title") % "neural nets"),
    ({"title": {"$like": "prot*"}}, Text("title") % "prot*"),
    ({"title": {"$like": "graph|search"}}, Text("title") % "graph|search"),
    (
        {"$or": [{"city": "Paris"}, {"$and": [{"tags": "b"}, {"year": {"$lt": 2000}}]}]},
        (Tag("city") == "Paris") | ((Tag("tags") == "b") & (Num("year") < 2000)),
    ),
    ({"city": "Paris", "year": {"$gte": 5}}, (Tag("city") == "Paris") & (Num("year") >= 5)),
]


@pytest.mark.parametrize(("as_dict", "expr"), SAME, ids=[str(d) for d, _ in SAME])
def test_dict_and_redisvl_inputs_give_the_same_tree(as_dict, expr):
    tree = filter_tree(as_dict)
    assert isinstance(tree, (Node, Leaf))
    assert filter_tree(expr) == tree
    assert filter_tree(str(expr)) == tree  # the query string the expression renders, too
    assert filter_tree(tree) is tree  # a tree passes through
    hash(tree)  # hashable: stores cache masks per tree


def test_the_tree_holds_the_values_every_store_reads():
    assert filter_tree({"city": {"$in": [" Paris ", "LYON"]}}) == Leaf("tag", "city", values=("paris", "lyon"))
    assert filter_tree({"year": {"$gt": 5}}) == Leaf("num", "year", lo=5.0, hi=math.inf, lo_exclusive=True)
    assert filter_tree({"year": {"$ne": np.int64(7)}}) == Leaf("num", "year", lo=7.0, hi=7.0, negate=True)
    assert filter_tree(Text("title") == "Neural, nets!") == Leaf("phrase", "title", values=("neural", "nets"))
    assert filter_tree(Text("t") % "a* b|c") == Leaf("terms", "t", alternatives=(("a*", "b"), ("c",)))
    assert filter_tree(Tag("f").is_missing()) == Leaf("missing", "f")
    assert filter_tree(None) is None


def test_match_nothing_and_match_everything_simplify_at_the_root():
    assert filter_tree({"f": {"$in": []}}) == NOTHING and matches_nothing({"f": {"$in": []}})
    assert filter_tree({"f": {"$nin": []}}) is None and not matches_nothing({"f": {"$nin": []}})
    assert filter_tree({"$and": [{"f": {"$in": []}}, {"g": "x"}]}) == NOTHING
    assert filter_tree({"$or": [{"f": {"$in": []}}, {"g": "x"}]}) == Leaf("tag", "g", values=("x",))
    assert filter_tree({"$or": [{"f": {"$nin": []}}, {"g": "x"}]}) is None  # one unconstrained arm keeps all
    assert not evaluate_filter({"f": {"$in": []}}, [{"f": "x"}]).any()


def test_a_redisvl_clause_dropped_while_rendering_is_dropped_on_every_store():
    """redisvl renders `Tag("f") == []` as `*` and `* | x` as `x`: the tree is what Redis runs."""
    assert filter_tree((Tag("f") == []) | (Tag("g") == "x")) == Leaf("tag", "g", values=("x",))


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"f": {"$regex": "a.*"}}, r"\$regex"),
        ({"$not": {"f": "x"}}, r"\$not"),
        ({"f": {"$gt": "2001"}}, r"\$gt needs a number"),
        ({"$and": []}, r"\$and takes a non-empty list"),
        ({"f": float("nan")}, "NaN"),
        ({"f": "  "}, "empty tag value"),
        (Geo("loc") == GeoRadius(2.3, 48.8, 5, "km"), "Geo clause"),
        (Text("t") % "%%engine%%", "fuzzy"),
        (Tag("t") % "tech*", "tag wildcard"),
        (Text("t") % "!!", "holds no word"),
        ("@f:{x} | @g:{y}", "outside what every store can run"),
        ("(@f:{x} @g:{y} | @h:{z})", "mixes AND and OR"),
        (FilterExpression("@f:(unbalanced"), "unbalanced"),
        (42, "got int"),
    ],
)
def test_unsupported_operators_are_refused_by_name(bad, named):
    with pytest.raises(InvalidParameterError, match=named):
        filter_tree(bad)


class _Fields(FilterVisitor[frozenset]):
    """A visitor a new store might write: here, the set of fields a filter reads."""

    def leaf(self, leaf: Leaf) -> frozenset:
        return frozenset({leaf.field})

    def combine(self, op: str, left: frozenset, right: frozenset) -> frozenset:
        return left | right


def test_a_new_store_translates_the_tree_with_one_visitor():
    tree = filter_tree({"$or": [{"city": "Paris"}, {"$and": [{"tags": "b"}, {"year": {"$lt": 2000}}]}]})
    assert _Fields().visit(tree) == {"city", "tags", "year"}
    metas = [{"city": "Paris"}, {"tags": ["b"], "year": 1999}, {"tags": ["b"], "year": 2001}, {}]
    assert RowMask(metas).visit(tree).tolist() == [True, True, False, False]
    assert evaluate_filter(tree, metas).tolist() == evaluate_filter((Tag("city") == "Paris") | ((Tag("tags") == "b") & (Num("year") < 2000)), metas).tolist()
    with pytest.raises(TypeError):
        FilterVisitor()  # abstract: leaf and combine are the contract


def test_dict_filters_on_faiss_never_import_redisvl():
    code = (
        "import sys, numpy as np\n"
        "from langchain_embcompare.stores.faiss import FaissVectorStore\n"
        "from langchain_embcompare.filters import evaluate_filter, filter_tree\n"
        "assert evaluate_filter({'a': 'x', 'n': {'$gte': 1}}, [{'a': 'x', 'n': 2}]).tolist() == [True]\n"
        "assert 'redisvl' not in sys.modules, 'redisvl imported'\n"
        "from langchain_embcompare.filters import Tag\n"
        "assert 'redisvl' in sys.modules and filter_tree(Tag('a') == 'x') == filter_tree({'a': 'x'})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
