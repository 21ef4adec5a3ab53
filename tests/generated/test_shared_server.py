"""Several stores on one Redis server or one Milvus database, whatever their names: each store sees
only its own documents (count, get_by_ids, search, delete-all), even when one name is a prefix of
another (``t`` and ``t1``, ``t`` and ``t:doc``, ``t`` and ``t:docs``).

A Redis name whose key prefix overlaps an existing index's is refused at creation
(``InvalidParameterError`` "would share keys"): the one answer that is not a silent mix-up.

Names are a fresh base (unique in the session) plus generated suffixes: the suffix alphabet holds
what each store allows in a name (Redis: any non-space character; Milvus: letters, digits, ``_``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from generated.harness import VARIANTS, drop, examples, fresh_name
from langchain_embcompare.errors import InvalidParameterError

REDIS_SUFFIXES = ("1", ":doc", ":docs", ":doc:x", ":meta", ":meta:rows", ":space", "_", "x")
MILVUS_SUFFIXES = ("1", "_doc", "_docs", "_doc_x", "_meta", "x")
SHARED = [
    pytest.param(v, REDIS_SUFFIXES if v.store == "redis" else MILVUS_SUFFIXES, id=v.name, marks=v.marks)
    for v in VARIANTS
    if v.persist == "reopen" and v.name.endswith("-flat")
]


def _suffix_sets(suffixes: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    """The bare base name (the prefix of all the others) first, then one or two suffixed names."""
    return st.lists(st.sampled_from(suffixes), min_size=1, max_size=2, unique=True).map(lambda s: ["", *s])


@pytest.mark.parametrize("variant,suffixes", SHARED)
def test_stores_sharing_a_server_see_only_their_own_documents(variant: Any, suffixes: tuple[str, ...], request: Any) -> None:
    @settings(max_examples=examples(4, variant))
    @given(chosen=_suffix_sets(suffixes), same_ids=st.booleans())
    def check(chosen: list[str], same_ids: bool) -> None:
        base = fresh_name()
        stores: dict[str, Any] = {}
        try:
            for s in chosen:
                try:
                    stores[s] = variant.new(base + s, request)
                except InvalidParameterError as exc:  # the one documented answer to names whose keys overlap
                    assert variant.store == "redis" and "would share keys" in str(exc), exc
                    event("overlapping name refused")
            chosen = list(stores)
            for j, (s, store) in enumerate(stores.items()):
                ids = [f"d{i}" if same_ids else f"{j}-{i}" for i in range(j + 2)]
                store.add_documents([Document(id=i, page_content=f"text {s} {i}", metadata={"title": s}) for i in ids])
            for j, (s, store) in enumerate(stores.items()):
                own = [f"d{i}" if same_ids else f"{j}-{i}" for i in range(j + 2)]
                assert store.count() == len(own), f"store {base + s!r} counts another store's documents"
                assert {d.page_content for d in store.get_by_ids(own)} == {f"text {s} {i}" for i in own}
                hits = store.similarity_search("text", k=50)
                assert sorted(d.id for d in hits) == sorted(own), f"store {base + s!r} finds another store's documents"
            first, *rest = chosen
            stores[first].delete(None)
            assert stores[first].count() == 0
            for j, s in enumerate(chosen):
                if s != first:
                    assert stores[s].count() == j + 2, f"delete-all on {base + first!r} removed documents of {base + s!r}"
        finally:
            for store in stores.values():
                drop(store)

    check()
