"""The input rules (docs/concepts/input-rules.md), held on every store kind (fake, FAISS, Redis, Milvus):
what an id, a text, a metadata value and a text / tag filter may hold, and the one behaviour each gets.

Every test here runs on each store through ``any_store`` (tests/store_fixtures.py) and asserts the
right value written by hand, so a store that stores, returns or filters differently fails by name.
"""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidDocumentError, InvalidParameterError
from langchain_embcompare.filters import Tag, Text
from langchain_embcompare.stores.ops import check_text, clean_metadata
from store_fixtures import STORE_PARAMS, new_store

TRICKY_IDS = [
    "O'Brien report.pdf",
    "C:\\temp\\new_report.txt",
    "tab\there",
    "line\nbreak",
    'say "hi"',
    "100% *wild* {braces} a|b, c;d",
    "  spaced  ",
    "emoji 😀 and עברית and e\u0301",
    "ctrl\x01char",
    "back\\slash'quote\"mix",
]


def _ids_of(docs: list[Document]) -> list[str]:
    return [d.id for d in docs]


def test_ids_with_quotes_backslashes_and_control_characters(any_store):
    """get_by_ids / delete / rows_of / search find each id exactly (Milvus once read `\\t` as an escape
    and failed on an apostrophe)."""
    docs = [Document(page_content=f"text {i}", metadata={"n": i}) for i in range(len(TRICKY_IDS))]
    assert any_store.add_documents(docs, ids=TRICKY_IDS) == TRICKY_IDS
    assert any_store.count() == len(TRICKY_IDS)
    for doc_id in TRICKY_IDS:
        got = any_store.get_by_ids([doc_id])
        assert _ids_of(got) == [doc_id], doc_id
    assert _ids_of(any_store.get_by_ids(TRICKY_IDS[::-1])) == TRICKY_IDS[::-1]
    assert _ids_of(any_store.get_by_ids([TRICKY_IDS[0], "nope", TRICKY_IDS[0]])) == [TRICKY_IDS[0]] * 2
    assert (any_store.rows_of(TRICKY_IDS) >= 0).all()
    vectors = any_store.embedding.encode_documents([d.page_content for d in docs])
    for doc_id, vec in zip(TRICKY_IDS, vectors):
        assert any_store.similarity_search_by_vector(vec, k=1)[0].id == doc_id
    any_store.delete(TRICKY_IDS[::2])
    assert any_store.count() == len(TRICKY_IDS) - len(TRICKY_IDS[::2])
    assert _ids_of(any_store.get_by_ids(TRICKY_IDS)) == TRICKY_IDS[1::2]
    assert any_store.rows_of(TRICKY_IDS[::2]).tolist() == [-1] * len(TRICKY_IDS[::2])


def test_non_string_ids_are_their_str_everywhere(any_store):
    assert any_store.add_documents([Document(page_content="seven"), Document(page_content="np")], ids=[7, np.int64(8)]) == ["7", "8"]
    assert _ids_of(any_store.get_by_ids([7, "8"])) == ["7", "8"]
    assert any_store.rows_of([7, np.int64(8)]).min() >= 0
    any_store.delete([7])
    assert _ids_of(any_store.get_by_ids(["7", "8"])) == ["8"]


def test_empty_id_counts_as_none_and_duplicates_keep_the_last(any_store):
    """``""`` is no id (a fresh UUID, as LangChain's InMemoryVectorStore); one batch naming an id twice
    keeps the last document and returns every id passed."""
    ids = any_store.add_documents([Document(page_content="a"), Document(page_content="b")], ids=["", ""])
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
    out = any_store.add_documents(
        [Document(page_content="first", id="dup"), Document(page_content="other", id="x"), Document(page_content="last", id="dup")]
    )
    assert out == ["dup", "x", "dup"]
    assert [d.page_content for d in any_store.get_by_ids(["dup"])] == ["last"]
    assert any_store.count() == 4


def _typed(value):
    """A value with the type of every nested item, to compare types as well as values."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def test_numpy_and_nested_metadata_come_back_as_equal_python_values(any_store):
    """numpy scalars -> the equal int / float / bool, arrays and tuples -> lists, on every store
    (Redis returned the strings '2020', '0.5', 'True')."""
    given = {
        "year": np.int64(2020),
        "score": np.float32(0.5),
        "flag": np.bool_(True),
        "small": np.int8(-3),
        "f16": np.float16(1.5),
        "vec": np.array([1, 2, 3], dtype=np.int32),
        "mat": np.array([[0.25, 0.5]], dtype=np.float64),
        "pair": (1, "a"),
        "big": 2**53 + 1,
        "max": 2**63 - 1,
        "min": -(2**63),
        "none": None,
        "text": "naïve — ünïcödé 😀",
        "nested": {"k": [1, 2.5, None, True, {"deep": np.int64(7)}], "ключ": "значение"},
        "": "empty key",
        "neg_zero": -0.0,
        "tiny": 5e-324,
    }
    want = {
        "year": 2020, "score": 0.5, "flag": True, "small": -3, "f16": 1.5, "vec": [1, 2, 3], "mat": [[0.25, 0.5]],
        "pair": [1, "a"], "big": 2**53 + 1, "max": 2**63 - 1, "min": -(2**63), "none": None,
        "text": "naïve — ünïcödé 😀", "nested": {"k": [1, 2.5, None, True, {"deep": 7}], "ключ": "значение"},
        "": "empty key", "neg_zero": -0.0, "tiny": 5e-324,
    }
    any_store.add_documents([Document(page_content="typed", metadata=given, id="t1")])
    got = any_store.get_by_ids(["t1"])[0].metadata
    assert _typed(got) == _typed(want)
    hit = any_store.similarity_search("typed", k=1)[0]
    assert _typed(hit.metadata) == _typed(want)
    assert isinstance(given["year"], np.int64)  # the caller's metadata is not mutated
    # the converted numbers filter as numbers on every store
    assert _ids_of(any_store.similarity_search("typed", k=3, filter={"year": {"$gte": 2020}})) == ["t1"]
    assert any_store.similarity_search("typed", k=3, filter={"year": {"$gt": 2020}}) == []


def test_faiss_saves_numpy_metadata(tmp_path, contract_embeddings):
    """FAISS save_local once failed with a bare TypeError on np.int64 metadata."""
    from langchain_embcompare.stores.faiss import FaissVectorStore

    store = FaissVectorStore(contract_embeddings)
    store.add_documents([Document(page_content="x", metadata={"year": np.int64(2020), "f": np.float32(0.5)}, id="a")])
    back = FaissVectorStore.load_local(store.save_local(tmp_path / "idx"), contract_embeddings)
    assert _typed(back.get_by_ids(["a"])[0].metadata) == {"year": ("int", 2020), "f": ("float", 0.5)}


REFUSED = [
    ("nan", {"x": float("nan")}, "metadata['x']"),
    ("numpy nan", {"x": np.float64("nan")}, "metadata['x']"),
    ("inf", {"x": float("inf")}, "metadata['x']"),
    ("-inf in a list", {"x": [1.0, -np.inf]}, "metadata['x'][1]"),
    ("int above int64", {"x": 2**63}, "metadata['x']"),
    ("set", {"x": {"a", "b"}}, "metadata['x']"),
    ("bytes", {"x": b"raw"}, "metadata['x']"),
    ("datetime", {"x": dt.datetime(2020, 1, 1)}, "metadata['x']"),
    ("date", {"x": dt.date(2020, 1, 1)}, "metadata['x']"),
    ("decimal", {"x": decimal.Decimal("1.5")}, "metadata['x']"),
    ("numpy datetime64", {"x": np.datetime64("2020-01-01")}, "metadata['x']"),
    ("non-string key", {"x": {1: "one"}}, "metadata['x']"),
    ("lone surrogate value", {"title": "\ud835 math"}, "metadata['title']"),
    ("lone surrogate key", {"k\udc00": 1}, "a key of metadata"),
    ("surrogate deep", {"x": {"y": ["ok", "\udfff"]}}, "metadata['x']['y'][1]"),
]


def _module_store(request) -> object:
    """An empty cosine store of the kind ``request.param`` over 16-d fake embeddings, for a whole module
    (a store per test costs seconds on a server; these tests only refuse writes or only read)."""
    from conftest import HashEmbeddings

    from langchain_embcompare.matryoshka import MatryoshkaEmbeddings

    return new_store(request.param, MatryoshkaEmbeddings(HashEmbeddings(dim=16), cache_dir=None), request)


@pytest.fixture(scope="module", params=STORE_PARAMS)
def empty_store(request):
    """One empty store per kind shared by the refusal tests: each asserts it is still empty afterwards,
    so a refusal that wrote anything fails there (and in every later case)."""
    return _module_store(request)


@pytest.mark.parametrize(("case", "metadata", "field"), REFUSED, ids=[c[0] for c in REFUSED])
def test_values_no_store_can_hold_are_refused_naming_document_and_field(empty_store, case, metadata, field):
    """The whole batch is refused before anything is written; the error names the id and the field."""
    docs = [Document(page_content="good", id="good"), Document(page_content="bad", metadata=metadata, id="bad-doc")]
    with pytest.raises(InvalidDocumentError) as info:
        empty_store.add_documents(docs)
    assert "'bad-doc'" in str(info.value) and field in str(info.value)
    assert list(info.value.failures) == ["bad-doc"]
    assert empty_store.count() == 0


def test_pandas_values_are_refused_or_converted(any_store):
    import pandas as pd  # a dev dependency (datasets): installed by make test
    with pytest.raises(InvalidDocumentError, match=r"metadata\['when'\]"):
        any_store.add_documents([Document(page_content="x", metadata={"when": pd.Timestamp("2020-01-01")}, id="p")])
    frame = pd.DataFrame({"year": [2020, 2021], "score": [0.5, 0.25], "flag": [True, False]})
    rows = frame.to_dict("records")  # numpy scalars in pandas < 2, Python values since: both must hold
    any_store.add_documents([Document(page_content=f"r{i}", metadata=r, id=f"r{i}") for i, r in enumerate(rows)])
    got = [d.metadata for d in any_store.get_by_ids(["r0", "r1"])]
    assert _typed(got) == _typed([{"year": 2020, "score": 0.5, "flag": True}, {"year": 2021, "score": 0.25, "flag": False}])


@pytest.mark.parametrize(
    ("field", "doc"),
    [
        ("page_content", Document(page_content="x \ud835 y", id="s1")),
        ("id", Document(page_content="fine", id="id\ud835")),
        ("id", Document(page_content="fine", id="nul\x00byte")),
    ],
    ids=["text", "id", "nul-id"],
)
def test_lone_surrogates_in_text_or_id_are_refused_naming_the_document(empty_store, field, doc):
    """PDF extractors emit lone surrogates; every store once failed the whole batch with a bare
    UnicodeEncodeError naming no document."""
    with pytest.raises(InvalidDocumentError) as info:
        empty_store.add_documents([Document(page_content="ok", id="ok"), doc])
    assert field in str(info.value) and ("\\ud835" in str(info.value) or "NUL" in str(info.value))
    assert empty_store.count() == 0


def test_check_text_is_the_public_rule():
    assert check_text("fine ✓", "d1", "page_content") == "fine ✓"
    with pytest.raises(InvalidDocumentError, match=r"document 'd7': page_content holds the lone UTF-16 surrogate"):
        check_text("bad \ud835", "d7", "page_content")
    assert clean_metadata({"a": np.int64(1)}, "d") == {"a": 1}
    with pytest.raises(InvalidDocumentError, match=r"document 'd': metadata\['a'\] is nan"):
        clean_metadata({"a": float("nan")}, "d")


# --------------------------------------------------------------------------- tag values with syntax in them

TAG_VALUES = ["a|b", "{x}", "c,d", "O'Brien", 'q"t', "back\\slash", "100%", "*star*", "two words", "ünï", "emoji😀", "semi;colon",
              "  padded  ", "tab\tin"]


def test_tag_values_holding_query_syntax_match_exactly(any_store):
    docs = [Document(page_content=f"t{i}", metadata={"category": v}, id=f"t{i}") for i, v in enumerate(TAG_VALUES)]
    docs.append(Document(page_content="list", metadata={"category": ["a", "b", "c"]}, id="list"))
    any_store.add_documents(docs)
    for i, v in enumerate(TAG_VALUES):
        got = {d.id for d in any_store.similarity_search("q", k=20, filter={"category": v})}
        assert got == {f"t{i}"}, v
        got = {d.id for d in any_store.similarity_search("q", k=20, filter=Tag("category") == v.upper())}
        assert got == {f"t{i}"}, v
    got = {d.id for d in any_store.similarity_search("q", k=20, filter={"category": {"$in": ["a|b", "c"]}})}
    assert got == {"t0", "list"}
    got = {d.id for d in any_store.similarity_search("q", k=20, filter={"category": {"$nin": TAG_VALUES}})}
    assert got == {"list"}
    padded = TAG_VALUES.index("  padded  ")
    assert {d.id for d in any_store.similarity_search("q", k=20, filter={"category": "padded"})} == {f"t{padded}"}


@pytest.mark.parametrize("bad", [{"category": "nul\x00"}, {"category": ""}, {"category": {"$in": ["a", "  "]}}, {"year": float("nan")}, {"year": {"$gt": np.nan}}])
def test_filters_that_cannot_match_the_same_way_everywhere_are_refused(any_store, bad):
    """An empty tag value (redisvl renders it ``*``: every document) and NaN bounds raise, naming the field."""
    any_store.add_documents([Document(page_content="x", metadata={"category": "", "year": 1}, id="x")])
    with pytest.raises(InvalidParameterError, match=repr(next(iter(bad)))):
        any_store.similarity_search("q", k=3, filter=bad)


def test_numpy_filter_values_compare_as_numbers(any_store):
    docs = [Document(page_content=str(y), metadata={"year": y, "category": "c"}, id=str(y)) for y in (2019, 2020, 2021)]
    any_store.add_documents(docs)
    cases = [
        ({"year": np.int64(2020)}, {"2020"}),
        ({"year": np.float64(2020.0)}, {"2020"}),
        ({"year": {"$gte": np.int32(2020)}}, {"2020", "2021"}),
        ({"year": {"$lt": np.float32(2020.5)}}, {"2019", "2020"}),
        ({"year": {"$in": np.array([2019, 2021])}}, {"2019", "2021"}),
    ]
    for filt, want in cases:
        assert {d.id for d in any_store.similarity_search("q", k=5, filter=filt)} == want, filt


# --------------------------------------------------------------------------- text filters: words, no stopwords

TITLES = {
    "it": "It is what it is",
    "be": "To be, or not to be",
    "tale": "A tale of two cities",
    "nets": "Neural networks for proteins",
    "net": "A network of things",
    "obrien": "The O'Brien report (draft)",
    "mail": "e-mail and snake_case words",
    "cafe": "Café au lait, ÉCOLE normale",
    "lines": "first line\nsecond\tline",
    "none": None,
}

TEXT_CASES = [
    ("stopword $like it", {"title": {"$like": "it"}}, {"it"}),
    ("stopwords to be (all words)", Text("title") % "to be", {"be"}),
    ("single letter stopword", Text("title") % "a", {"tale", "net"}),
    ("phrase of stopwords", Text("title") == "to be", {"be"}),
    ("phrase is word-bounded", Text("title") == "neural net", set()),
    ("phrase whole words", Text("title") == "neural networks", {"nets"}),
    ("no stemming", {"title": {"$like": "network"}}, {"net"}),
    ("no stemming, plural", {"title": {"$like": "networks"}}, {"nets"}),
    ("prefix", Text("title") % "netw*", {"nets", "net"}),
    ("apostrophe splits words", {"title": {"$like": "O'Brien"}}, {"obrien"}),
    ("hyphen splits words", {"title": {"$like": "mail"}}, {"mail"}),
    ("underscore joins words", {"title": {"$like": "snake_case"}}, {"mail"}),
    ("underscore word part is not a word", {"title": {"$like": "snake"}}, set()),
    ("non-ascii, case-insensitive", {"title": {"$like": "CAFÉ"}}, {"cafe"}),
    ("non-ascii upper in document", {"title": {"$like": "école"}}, {"cafe"}),
    ("newline separates words", {"title": {"$like": "second"}}, {"lines"}),
    ("None holds no word", {"title": {"$like": "none"}}, set()),
    ("and of stopwords", (Text("title") % "it") & (Text("title") % "is"), {"it"}),
    ("or of stopwords", (Text("title") % "it") | (Text("title") % "or"), {"it", "be"}),
]


@pytest.fixture(scope="module", params=STORE_PARAMS)
def titled_store(request):
    """One store per kind holding the titled documents, shared by the read-only text-filter cases."""
    store = _module_store(request)
    docs = [Document(page_content=k, metadata={} if t is None else {"title": t}, id=k) for k, t in TITLES.items()]
    store.add_documents(docs)
    return store


@pytest.mark.parametrize(("case", "filt", "expected"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_text_filters_match_the_same_words_on_every_store(titled_store, case, filt, expected):
    """Redis once matched every document for a stopword-only filter and stemmed; now every store
    matches the words of ``filters.words``."""
    got = {d.id for d in titled_store.similarity_search("q", k=len(TITLES), filter=filt)}
    assert got == expected


def test_text_filter_without_a_word_is_refused(titled_store):
    with pytest.raises(InvalidParameterError, match="holds no word"):
        titled_store.similarity_search("q", k=3, filter={"title": {"$like": "!!"}})


def test_nul_and_control_characters_in_text_and_metadata_round_trip(any_store):
    """Only ids refuse NUL; text and metadata strings hold any character, returned exactly."""
    md = {"s": "x\x00y", "c": "\x01\x1f\x7f", "category": "c\x00d"}
    any_store.add_documents([Document(page_content="a\x00b\x0bc", metadata=md, id="n1"), Document(page_content="other", id="n2")])
    d = any_store.get_by_ids(["n1"])[0]
    assert (d.page_content, d.metadata) == ("a\x00b\x0bc", md)
    hit = [h for h in any_store.similarity_search("a\x00b\x0bc", k=2) if h.id == "n1"][0]
    assert (hit.page_content, hit.metadata) == ("a\x00b\x0bc", md)
