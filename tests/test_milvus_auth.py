"""Milvus with authorization on, on the session's real server (2.3.5 standalone, tests/milvus_fixtures.py):
tokens, a user whose role reaches one collection, and each connection fault raised by a real fault.

* ``root``'s token works (every other server test runs as root through ``MILVUS_TOKEN``); a user whose
  role holds the store's privileges (``STORE_PRIVILEGES``) on ONE collection ingests, flushes and searches
  it; the same user on another collection gets a ``StorePermissionError`` naming the privilege, the
  collection and the ``grant_privilege`` call to add; creating a collection names the ``Global`` grant.
* A wrong password and a missing token raise ``StoreAuthenticationError`` naming the user.
* No token or password in any message, log line (caplog), output of pymilvus (capfd), or file the server
  saved (the collection's recorded properties and everything under the server's data folder).
* Unreachable -> ``StoreUnreachableError`` (start the server), a call past ``call_timeout`` ->
  ``StoreTimeoutError``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import HashEmbeddings
from langchain_core.documents import Document
from milvus_fixtures import milvus_collection, milvus_server  # noqa: F401

from langchain_embcompare.errors import (
    StoreAuthenticationError,
    StorePermissionError,
    StoreTimeoutError,
    StoreUnreachableError,
)
from langchain_embcompare.stores.milvus import MilvusIndexSpec, MilvusVectorStore
from langchain_embcompare.stores.milvus_connection import STORE_PRIVILEGES

pytestmark = pytest.mark.integration

APP_PASSWORD = "app-S3cret-pw9"
WRONG_PASSWORD = "wrong-S3cret-pw7"


def _until_granted(action: Callable[[], Any], seconds: float = 20.0) -> Any:
    """Run ``action``, again while it raises StorePermissionError: a grant reaches Milvus's proxy
    (its privilege cache) a moment after ``grant_privilege`` returns."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except StorePermissionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_root_and_a_user_limited_to_one_collection(milvus_server, milvus_collection, caplog, capfd, monkeypatch):  # noqa: F811
    from pymilvus import MilvusClient

    caplog.set_level(logging.DEBUG)
    emb = HashEmbeddings(8, name="milvus-auth-8")
    docs = [Document(page_content=f"note {i}", metadata={"i": i}, id=f"n{i}") for i in range(6)]
    mine, other = f"{milvus_collection}_app", f"{milvus_collection}_other"
    url, root = milvus_server.url, milvus_server.root_token
    for name in (mine, other):  # root's token: an administrator creates the collections
        MilvusVectorStore(emb, MilvusIndexSpec(name), uri=url, token=root, overwrite=True).add_documents(docs[:2])
    admin = MilvusClient(uri=url, token=root)
    user, role = f"app_{milvus_collection}", f"app_role_{milvus_collection}"
    admin.create_user(user, APP_PASSWORD)
    admin.create_role(role)
    for privilege in STORE_PRIVILEGES["read"] + STORE_PRIVILEGES["write"]:
        admin.grant_privilege(role, "Collection", privilege, mine)
    admin.grant_role(user, role)
    token = f"{user}:{APP_PASSWORD}"
    messages: list[str] = []
    try:
        app = _until_granted(lambda: MilvusVectorStore.from_existing(mine, emb, url, token=token))
        _until_granted(lambda: app.add_documents(docs))
        app.flush()
        assert app.count() == 6 and app.similarity_search("note 3", k=1)[0].id == "n3"
        assert [d.metadata["i"] for d in app.get_by_ids(["n0", "n5"])] == [0, 5]

        with pytest.raises(StorePermissionError) as denied:  # the user's role does not reach this collection
            MilvusVectorStore.from_existing(other, emb, url, token=token)
        msg = str(denied.value)
        messages.append(msg)
        assert f"user {user!r} lacks the privilege 'Load' on collection {other!r}" in msg
        assert f"grant_privilege(role_name='<role>', object_type='Collection', privilege='Load', object_name={other!r})" in msg

        with pytest.raises(StorePermissionError) as create:  # creating a collection is a Global privilege
            MilvusVectorStore(emb, MilvusIndexSpec(f"{milvus_collection}_new"), uri=url, token=token)
        messages.append(str(create.value))
        assert "object_type='Global', privilege='CreateCollection', object_name='*'" in str(create.value)

        with pytest.raises(StoreAuthenticationError) as refused:
            MilvusVectorStore.from_existing(mine, emb, url, token=f"{user}:{WRONG_PASSWORD}")
        messages.append(str(refused.value))
        assert f"user {user!r}" in str(refused.value) and "token='user:password'" in str(refused.value)

        monkeypatch.delenv("MILVUS_TOKEN")
        with pytest.raises(StoreAuthenticationError, match=r"no token \(none was given\)") as anonymous:
            MilvusVectorStore.from_existing(mine, emb, url)
        messages.append(str(anonymous.value))
        app.close()
    finally:
        admin.revoke_role(user, role)
        for privilege in STORE_PRIVILEGES["read"] + STORE_PRIVILEGES["write"]:
            admin.revoke_privilege(role, "Collection", privilege, mine)
        admin.drop_role(role)
        saved = json.dumps(admin.describe_collection(mine), default=str)  # what the store recorded with it
        for name in (mine, other):
            admin.drop_collection(name)
        admin.drop_user(user)
    out, err = capfd.readouterr()
    secrets = (APP_PASSWORD, WRONG_PASSWORD, root)
    for where, text in {"messages": "\n".join(messages), "log": caplog.text, "stdout": out, "stderr": err,
                        "collection properties": saved}.items():
        assert not [s for s in secrets if s in text], f"a secret appears in the {where}"
    # nothing the server saved holds the application's password (the store's records, Milvus's own files)
    leaks = [p for p in Path(milvus_server.data_dir).rglob("*") if p.is_file() and APP_PASSWORD.encode() in p.read_bytes()]
    assert leaks == []


def test_unreachable_and_timeout_are_their_own_errors(milvus_server, milvus_collection):  # noqa: F811
    emb = HashEmbeddings(8, name="milvus-auth-8")
    t0 = time.perf_counter()
    with pytest.raises(StoreUnreachableError, match=r"No Milvus answers at http://127\.0\.0\.1:1 .*Start the server") as err:
        MilvusVectorStore(emb, uri="http://127.0.0.1:1", token=f"root:{WRONG_PASSWORD}", timeout=2, retries=0)
    assert WRONG_PASSWORD not in str(err.value) and time.perf_counter() - t0 < 15

    store = MilvusVectorStore(emb, MilvusIndexSpec(milvus_collection), uri=milvus_server.url, overwrite=True,
                              call_timeout=1e-6)
    try:
        with pytest.raises(StoreTimeoutError, match=r"within call_timeout=1e-06s.*Raise call_timeout"):
            store.similarity_search("anything", k=3)
    finally:
        store.call_timeout = None
        store.drop()
