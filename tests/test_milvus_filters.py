"""Milvus filter translation: the same documents as the in-process evaluation FAISS runs, on Milvus Lite.

Every case is searched on two collections: one with typed columns for ``genre`` (tag) and ``year``
(numeric), one with no schema (every key through the JSON shadows), and the ids must equal what
``filters.evaluate_filter`` keeps.
"""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document
from milvus_fixtures import milvus_collection, milvus_uri  # noqa: F401
from redisvl.query.filter import FilterExpression

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.filters import Num, Tag, Text, evaluate_filter, filter_tree
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore
from langchain_embcompare.stores.milvus_schema import literal, to_expression

GENRES = ["News", "sports", None, "news", "Arts & Crafts", "sports"]
CITIES = ["Paris, France", "paris", "Lyon|France", None, "Paris, France", "Nice; France"]
TITLES = ["Vaccine trial results", "The vaccination debate", "Football scores", None, "Vaccines and you", "Crafts"]
QUOTES = ['say "hi"', "back\\slash", "it's", 'say "hi"', "plain", "new\nline"]


def corpus() -> list[Document]:
    docs = []
    for i in range(24):
        md = {
            "genre": GENRES[i % 6],
            "city": CITIES[(i + 1) % 6],
            "year": 2000 + i,
            "score": round(0.1 * (i % 7), 2),
            "tags": [["A", "b"], ["x"], [], ["Y", "z"]][i % 4],
            "title": TITLES[(i + 2) % 6],
            "quote": QUOTES[i % 6],
            "flag": i % 2 == 0,
        }
        if i % 5 == 0:
            del md["year"]
        docs.append(Document(page_content=f"document {i}", metadata={k: v for k, v in md.items() if v is not None}, id=f"d{i}"))
    return docs


CASES = [
    {"genre": "NEWS"},
    {"genre": {"$in": ["news", "Sports"]}},
    {"genre": {"$nin": ["news"]}},
    {"genre": {"$ne": "news"}},
    {"genre": "arts & crafts"},
    {"city": "paris, france"},
    {"city": "paris"},
    {"city": "lyon|france"},
    {"city": {"$in": ["Nice; France", "lyon"]}},
    {"tags": "a"},
    {"tags": {"$in": ["x", "Y"]}},
    {"tags": {"$nin": ["x"]}},
    {"year": {"$gte": 2005, "$lt": 2010}},
    {"year": 2003},
    {"year": {"$ne": 2003}},
    {"year": {"$gt": 2020}},
    {"score": {"$gt": 0.35}},
    {"score": {"$lte": 0.2}},
    {"quote": 'say "hi"'},
    {"quote": "back\\slash"},
    {"quote": "it's"},
    {"quote": "new\nline"},
    {"flag": True},
    {"$or": [{"genre": "news"}, {"year": {"$lt": 2003}}]},
    {"$and": [{"genre": {"$nin": ["sports"]}}, {"score": {"$gte": 0.3}}]},
    {"genre": {"$in": []}},
    {"genre": {"$nin": []}},
    {"title": {"$like": "vaccine"}},
    {"title": {"$like": "vacc*"}},
    {"$or": [{"title": {"$like": "crafts"}}, {"genre": "news"}]},
    (Tag("genre") != "news") & (Num("year") > 2004),
    Num("score") == 0.2,
    Num("year").between(2002, 2012),
    (Tag("genre") == "sports") | (Num("score") < 0.15),
    Text("title") % "vaccine",
    FilterExpression("ismissing(@genre)"),
    FilterExpression("(-ismissing(@year))"),
    FilterExpression("*"),
]


@pytest.fixture(scope="module")
def stores(milvus_uri, hash_embeddings_module):  # noqa: F811
    docs = corpus()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(docs), 16)).astype(np.float32)
    typed = MilvusVectorStore(
        hash_embeddings_module, MilvusIndexSpec("filters_typed", metadata_schema={"genre": "tag", "year": "numeric", "title": "text"}),
        uri=milvus_uri, overwrite=True,
    )
    plain = MilvusVectorStore(hash_embeddings_module, MilvusIndexSpec("filters_plain"), uri=milvus_uri, overwrite=True)
    for s in (typed, plain):
        s.upsert_vectors(vectors, docs)
    return docs, {"typed": typed, "plain": plain}


@pytest.fixture(scope="module")
def hash_embeddings_module():
    from conftest import HashEmbeddings

    return HashEmbeddings(16, name="milvus-hash-16")


@pytest.mark.parametrize("layout", ["typed", "plain"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_filter_parity_with_in_process_evaluation(stores, layout, case):
    docs, by_layout = stores
    store = by_layout[layout]
    flt = CASES[case]
    expected = {d.id for d, keep in zip(docs, evaluate_filter(flt, [d.metadata for d in docs])) if keep}
    q = np.ones((1, 16), dtype=np.float32)
    got = {d.id for d, _ in store.search_vectors(q, k=len(docs), filter=flt)[0]}
    assert got == expected, (flt, sorted(got ^ expected))


def test_cases_are_not_trivial(stores):
    docs, _ = stores
    sizes = [int(evaluate_filter(f, [d.metadata for d in docs]).sum()) for f in CASES]
    assert 0 in sizes and len(docs) in sizes and sum(0 < s < len(docs) for s in sizes) >= 25


def test_filter_is_a_true_prefilter(stores):
    """When at least k documents match, k come back (the filter runs before the top-k, not after)."""
    docs, by_layout = stores
    flt = {"genre": "sports"}
    n_match = int(evaluate_filter(flt, [d.metadata for d in docs]).sum())
    for store in by_layout.values():
        hits = store.search_vectors(np.ones((1, 16), np.float32), k=n_match, filter=flt)[0]
        assert len(hits) == n_match


def test_literal_escapes_quotes_backslashes_and_control_characters():
    assert literal('a"b') == '"a\\"b"'
    assert literal("c\\d") == '"c\\\\d"'
    assert literal("e'f") == "\"e'f\""
    assert literal("g\nh\ti\x01") == '"g\\nh\\ti\x01"'  # Milvus knows no \\u escape: control characters go raw


def test_expression_of_a_negated_numeric_leaf_keeps_missing_values():
    expr = to_expression(filter_tree({"year": {"$ne": 2003}}), {"year": "numeric"})
    assert expr == "(not (year is not null) or not (year >= 2003.0 and year <= 2003.0))"
    expr = to_expression(filter_tree({"genre": "News"}), {})
    assert expr == '((exists _tags["genre"]) and (JSON_CONTAINS_ANY(_tags["genre"], ["news"])))'


def test_text_leaf_has_no_expression():
    with pytest.raises(InvalidParameterError, match="in-process"):
        to_expression(filter_tree({"title": {"$like": "vacc*"}}), {})
