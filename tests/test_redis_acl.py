"""The README's least-privilege ACL line, run verbatim on the session's real Redis: a user with exactly
that rule builds, ingests, searches (dense, filters, full text, clusters) and deletes; a user missing a
permission gets ``StorePermissionError`` naming what was refused and the rule to add."""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import redis
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_embcompare.errors import StorePermissionError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, VectorSpace
from langchain_embcompare.stores.redis import RedisIndexSpec, RedisVectorStore
from langchain_embcompare.stores.redis_io import acl_rule

README = Path(__file__).resolve().parent.parent / "README.md"
D = 8


def readme_acl_line() -> str:
    """The one ``ACL SETUSER`` line of the README's production section."""
    text = README.read_text()
    section = text[text.index("## Production"):]
    lines = [ln.strip() for ln in section.splitlines() if ln.strip().startswith("ACL SETUSER ")]
    assert len(lines) == 1, f"expected one ACL SETUSER line in the README's production section, found {lines}"
    return lines[0]


def _user_url(admin_url: str, user: str, password: str) -> str:
    parts = urlsplit(admin_url)
    return f"redis://{user}:{password}@{parts.hostname}:{parts.port}"


def _store(url: str, name: str = "kb", **kwargs) -> RedisVectorStore:
    spec = RedisIndexSpec(name, metadata_schema={"genre": "tag", "year": "numeric", "title": "text"})
    emb = MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None)
    return RedisVectorStore(emb, spec, url, space=VectorSpace("fake", D), **kwargs)


def _corpus(n: int = 12) -> tuple[np.ndarray, list[Document]]:
    x = np.random.default_rng(3).standard_normal((n, D)).astype(np.float32)
    docs = [
        Document(id=f"d{i}", page_content=f"{'zebra' if i == 5 else 'plain'} text number {i}",
                 metadata={"genre": ["news", "sport"][i % 2], "year": 2000 + i, "title": f"title {i}"})
        for i in range(n)
    ]
    return x, docs


@pytest.fixture
def admin(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    for user in ("app", "app_noscript", "app_nokey", "app_nohgetall"):
        client.execute_command("ACL", "DELUSER", user)
    client.close()


def test_readme_line_is_the_code_line():
    assert readme_acl_line() == acl_rule("kb", "app", "s3cret")


def test_readme_acl_user_builds_ingests_searches_and_deletes(redis_url, admin, caplog):
    line = readme_acl_line()
    assert "+@all" not in line and "~*" not in line.split()  # least privilege
    admin.execute_command(*shlex.split(line))
    # Another index on the server, whose definition this user may not read (the overlap check warns).
    foreign = RedisVectorStore(MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None),
                               RedisIndexSpec("acl_foreign"), redis_url, space=VectorSpace("fake", D))
    url = _user_url(redis_url, "app", "s3cret")
    caplog.set_level(logging.WARNING, logger="langchain_embcompare.stores.redis")
    store = _store(url, overwrite=True)
    assert any("acl_foreign" in r.getMessage() for r in caplog.records), "the skipped overlap check must be said"
    x, docs = _corpus()
    store.upsert_vectors(x, docs)
    store.upsert_vectors(x, docs)  # an unchanged re-ingest (the script's HGETALL path)
    assert store.count() == 12
    scores, rows = store.search_rows(x[:3], 1)
    assert [d.id for d in store.documents_at(rows[:, 0])] == ["d0", "d1", "d2"]
    _, rows = store.search_rows(x[:1], 3, filter={"genre": "sport"})
    assert all(d.metadata["genre"] == "sport" for d in store.documents_at(rows[0]))
    _, rows = store.search_rows(x[:1], 20, filter={"year": {"$gte": 2010}})
    assert sorted(d.id for d in store.documents_at(rows[0][rows[0] >= 0])) == ["d10", "d11"]
    hits = store.full_text_search(["zebra"], k=3)
    assert [d.id for d, _ in hits[0]] == ["d5"]
    store.set_cluster_labels(store.rows_of([d.id for d in docs]), np.arange(12) % 3)
    _, rows = store.search_rows(x[:1], 12, clusters=[1])
    got = store.documents_at(rows[0][rows[0] >= 0])
    assert sorted(d.id for d in got) == sorted(f"d{i}" for i in (1, 4, 7, 10))
    assert store.vectors_at(rows[0][:1]).shape == (1, D)
    assert store.get_by_ids(["d3"])[0].page_content == docs[3].page_content
    store.delete(["d0", "d1"])
    assert store.count() == 10
    reopened = RedisVectorStore.from_existing(
        "kb", MatryoshkaEmbeddings(DeterministicFakeEmbedding(size=D), cache_dir=None), url, space=VectorSpace("fake", D)
    )
    assert reopened.count() == 10
    store.delete()
    assert store.count() == 0
    store.drop()
    assert b"kb" not in admin.execute_command("FT._LIST")
    assert store.acl_rule("app", "s3cret") == line
    foreign.drop()


def test_without_scripting_the_write_names_evalsha_and_the_rule(redis_url, admin):
    admin.execute_command(*shlex.split(readme_acl_line().replace("SETUSER app ", "SETUSER app_noscript ")))
    admin.execute_command("ACL", "SETUSER", "app_noscript", "-@scripting")
    store = _store(_user_url(redis_url, "app_noscript", "s3cret"), overwrite=True)
    x, docs = _corpus(2)
    with pytest.raises(StorePermissionError) as err:
        store.upsert_vectors(x, docs)
    msg = str(err.value)
    assert "EVALSHA" in msg and "Lua script" in msg and "ACL SETUSER <user> +evalsha" in msg
    assert "s3cret" not in msg and "***" in msg
    assert store.count() == 0
    store.drop()


def test_a_command_refused_inside_the_write_script_is_named(redis_url, admin):
    admin.execute_command(*shlex.split(readme_acl_line().replace("SETUSER app ", "SETUSER app_nohgetall ")))
    admin.execute_command("ACL", "SETUSER", "app_nohgetall", "-hgetall")
    store = _store(_user_url(redis_url, "app_nohgetall", "s3cret"), overwrite=True)
    x, docs = _corpus(2)
    store.upsert_vectors(x, docs)  # new documents: the script never reads them whole
    with pytest.raises(StorePermissionError, match=r"HGETALL \(called by the store's write script.*ACL SETUSER <user> \+hgetall"):
        store.upsert_vectors(x, docs)  # stored ones: compared field by field (HGETALL) before any rewrite
    store.drop()


def test_key_pattern_without_the_index_name_names_the_keys_to_add(redis_url, admin):
    line = readme_acl_line().replace("SETUSER app ", "SETUSER app_nokey ").replace(" ~kb ", " ")
    assert " ~kb:* " in line and " ~kb " not in line
    admin.execute_command(*shlex.split(line))
    with pytest.raises(StorePermissionError) as err:
        _store(_user_url(redis_url, "app_nokey", "s3cret"), overwrite=True)
    msg = str(err.value)
    assert "ACL SETUSER <user> ~kb ~kb:*" in msg and "index name" in msg
    assert re.search(r"redis://app_nokey:\*\*\*@", msg) and "s3cret" not in msg
