"""The text input rule on the query side: a query with a lone UTF-16 surrogate is refused by name on
every dense path (the stores' similarity search, every retriever, the embeddings themselves), as it is
by the lexical arms (tests/test_lexical.py) and as documents are (tests/test_input_rules.py)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, check_encodable

BAD = "integral \ud835 of f"


def test_check_encodable_names_the_field_and_position():
    assert check_encodable("café ∑ 😀", "q") == "café ∑ 😀"
    with pytest.raises(ValueError, match=r"queries\[2\] holds the lone UTF-16 surrogate '\\ud835' at character 9"):
        check_encodable(BAD, "queries[2]")


def test_embeddings_refuse_a_bad_query_or_text_naming_it(hash_embeddings):
    emb = MatryoshkaEmbeddings(hash_embeddings, cache_dir=None)
    with pytest.raises(InvalidParameterError, match=r"Query refused: queries\[0\]"):
        emb.embed_query(BAD)
    with pytest.raises(InvalidParameterError, match=r"Text refused: texts\[1\]"):
        emb.embed_documents(["fine", BAD])
    assert hash_embeddings.seen == []  # refused before the model saw anything
    assert len(emb.embed_query("∑ fine")) == 16


def test_every_store_refuses_a_bad_query_by_name(any_store):
    any_store.add_documents([Document(page_content="integral of f", id="a")])
    with pytest.raises(InvalidParameterError, match=r"queries\[0\]"):
        any_store.similarity_search(BAD, k=1)
    with pytest.raises(InvalidParameterError, match=r"queries\[0\]"):
        any_store.as_retriever().invoke(BAD)
    assert [d.id for d in any_store.similarity_search("integral of f", k=1)] == ["a"]
