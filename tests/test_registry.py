"""The store registry: names, typed options (unknown store / option named, secrets never shown or saved),
every registered store built from its options on the session's servers, the lexical arm on any store
(bm25s over the store's documents where it has no engine), and no store named in the code of
evaluation/, retrievers/, cli.py or chains/."""

from __future__ import annotations

import ast
import json
import re
import uuid
from pathlib import Path

import pytest
from langchain_core.documents import Document

from langchain_embcompare.errors import InvalidParameterError, MissingCapabilityError
from langchain_embcompare.stores.urls import redact
from langchain_embcompare.stores.registry import (
    DEFAULT_STORE,
    StoreOptions,
    build_store,
    options_for,
    options_type,
    store_class,
    store_names,
)

ROOT = Path(__file__).resolve().parents[1]

DOCS = [
    Document(page_content="vitamin d prevents bone fractures in the elderly", id="d0", metadata={"g": "a"}),
    Document(page_content="calcium intake and bone density", id="d1", metadata={"g": "b"}),
    Document(page_content="neural networks for search ranking", id="d2", metadata={"g": "a"}),
    Document(page_content="bone marrow transplants", id="d3", metadata={"g": "b"}),
]


def test_unknown_store_and_unknown_option_are_named_with_the_valid_ones():
    with pytest.raises(InvalidParameterError, match=r"'nosuch'.*registered stores: \['faiss'"):
        options_for("nosuch")
    with pytest.raises(InvalidParameterError, match=r"\['bogus'\].*'faiss'.*valid options: \[.*'nprobe'"):
        options_for("faiss", bogus=1)
    with pytest.raises(InvalidParameterError, match=r"nprobe='x': expected int"):
        options_for("faiss", nprobe="x")
    assert options_for("faiss", nprobe="8").nprobe == 8  # CLI strings become the field's type
    assert options_for("milvus", full_text="false", call_timeout="none").full_text is False
    with pytest.raises(InvalidParameterError, match="takes MilvusOptions"):
        options_for("milvus", options_for("faiss"))
    from langchain_embcompare.evaluation.pipeline import EvalSettings

    with pytest.raises(InvalidParameterError, match=r"\['urll'\]"):
        EvalSettings(store="redis", store_options={"urll": "redis://x"})
    with pytest.raises(InvalidParameterError, match="nosuch"):
        EvalSettings(store="nosuch")


def test_every_store_class_exposes_its_options_type_and_a_builder():
    assert DEFAULT_STORE in store_names()
    for name in store_names():
        cls = store_class(name)
        assert issubclass(options_type(name), StoreOptions)
        assert callable(cls.from_options)
        defaults = options_for(name)
        assert type(defaults) is options_type(name)
        assert type(defaults).from_dict(defaults.to_dict()) == defaults  # round trip (no secret set)


def test_secrets_are_redacted_in_repr_and_never_saved():
    redis_opts = options_for("redis", url="redis://app:s3cr3t-pw@cache.example:6380/0", index_name="docs")
    milvus_opts = options_for("milvus", uri="https://u:s3cr3t-pw@milvus.example:19530", token="root:s3cr3t-tok")
    for opts in (redis_opts, milvus_opts):
        shown = repr(opts) + str(opts) + json.dumps(opts.to_dict())
        assert "s3cr3t" not in shown and "***" in shown
    assert redis_opts.to_dict()["url"] == "redis://app:***@cache.example:6380/0"
    assert "token" not in milvus_opts.to_dict()
    assert redis_opts.url.endswith("s3cr3t-pw@cache.example:6380/0")  # the store itself still gets the secret
    # the non-secret fields round-trip; the secret is what is lost
    back = type(milvus_opts).from_dict(milvus_opts.to_dict())
    assert back.token is None and back.collection == milvus_opts.collection
    assert redact("/tmp/x.db") == "/tmp/x.db" and redact(None) is None

    from langchain_embcompare.evaluation.pipeline import EvalSettings

    settings = EvalSettings(store="milvus", store_options={"uri": "https://u:s3cr3t-pw@h:19530", "token": "t:s3cr3t"})
    assert "s3cr3t" not in json.dumps(settings.to_dict()) and "s3cr3t" not in repr(settings)
    assert settings.options.token == "t:s3cr3t"


def _options(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    """Options reaching the session's server for each registered store (a new store adds its line)."""
    if name == "faiss":
        return {}
    if name == "redis":
        return {"url": request.getfixturevalue("redis_url"), "index_name": f"reg_{uuid.uuid4().hex[:8]}"}
    if name == "milvus":
        return {"uri": str(tmp_path / "registry.db"), "collection": "registry"}
    if name == "qdrant":
        return {}
    pytest.fail(f"store {name!r} is registered but tests/test_registry.py does not say how to reach it")


@pytest.mark.integration
@pytest.mark.parametrize("name", store_names())
def test_every_registered_store_builds_from_its_options(name, request, tmp_path, hash_embeddings):
    opts = options_for(name, **_options(name, request, tmp_path))
    store = build_store(name, opts, hash_embeddings, kind="flat", metric="cosine", dataset_name="reg")
    try:
        assert isinstance(store, store_class(name))
        store.add_documents(DOCS)
        store.flush()
        assert store.count() == len(DOCS)
        hits = store.similarity_search(DOCS[2].page_content, k=1)
        assert hits[0].id == "d2"
        assert [d.id for batch in store.iter_documents(batch_size=3) for d in batch] == [d.id for d in store.documents_at(store.all_rows())]
        assert store.index_bytes() >= 0
    finally:
        drop = getattr(store, "drop", None)
        if callable(drop):
            drop()


def _bm25_scores(retriever, queries):
    return [[(d.id, s) for d, s in hits] for hits in retriever.search_with_scores(queries, 4)]


@pytest.mark.integration
def test_lexical_arm_falls_back_to_bm25s_on_milvus_lite_without_full_text_and_on_faiss(tmp_path, hash_embeddings):
    """A store without a full-text engine gets bm25s over its own documents, scored exactly as bm25s over
    the same Documents; a hybrid on it works."""
    from langchain_embcompare.retrievers.hybrid import HybridRetriever
    from langchain_embcompare.retrievers.lexical import BM25Retriever, lexical_retriever_for

    queries = ["bone fractures", "search ranking", "nothing here"]
    want = _bm25_scores(BM25Retriever.from_documents(DOCS, k=4), queries)
    milvus = build_store("milvus", options_for("milvus", uri=str(tmp_path / "ft.db"), collection="noft", full_text=False),
                         hash_embeddings)
    faiss = build_store("faiss", None, hash_embeddings)
    try:
        for store in (milvus, faiss):
            store.add_documents(DOCS)
            store.flush()
            assert "full_text" not in store.capabilities
            with pytest.raises(MissingCapabilityError, match="full_text"):
                store.full_text_search(["bone"], 2)
            with pytest.raises(MissingCapabilityError, match="full_text"):
                store.full_text_settings()
            with pytest.raises(MissingCapabilityError, match="full_text"):
                lexical_retriever_for(store, engine="store")
            lexical = lexical_retriever_for(store, k=4)
            assert isinstance(lexical, BM25Retriever)
            assert _bm25_scores(lexical, queries) == want
            # alpha = 0: the lexical arm's order decides (the dense arm's fake vectors are arbitrary)
            hybrid = HybridRetriever(dense=store.as_retriever(k=4), lexical=lexical, k=3, fusion="linear", alpha=0.0)
            top = hybrid.invoke("bone fractures")
            assert [d.id for d in top[:3]] == [d for d, _ in want[0][:3]]
            assert top[0].metadata["lexical_rank"] == 1
    finally:
        milvus.drop()


@pytest.mark.integration
def test_pipeline_hybrid_on_milvus_lite_without_full_text(tmp_path, hash_embeddings):
    """EvalSettings -> registry -> store; the lexical arm is bm25s (over the corpus) when the store has no engine."""
    from langchain_embcompare.evaluation.pipeline import EvalSettings, build_retriever

    settings = EvalSettings(store="milvus", store_options={"uri": str(tmp_path / "p.db"), "full_text": "false"},
                            retriever="hybrid", k=3)
    assert not settings.lexical_only
    store = build_store(settings.store, settings.options, hash_embeddings, dataset_name="p")
    try:
        store.add_documents(DOCS)
        retriever = build_retriever(settings, store)  # no corpus given: bm25s over the store's documents
        assert retriever.settings_dict()["lexical"]["engine"] == "bm25s"
        # the lexical arm's ranks and scores are bm25s's over the same documents (the dense arm's fake
        # vectors are arbitrary, so the fused order itself is not asserted)
        from langchain_embcompare.retrievers.lexical import BM25Retriever

        want = {d: (r, s) for r, (d, s) in enumerate(_bm25_scores(BM25Retriever.from_documents(DOCS, k=4), ["bone fractures"])[0], 1)}
        hits = retriever.invoke("bone fractures")
        assert len(hits) == 3 and len({d.id for d in hits}) == 3
        for d in hits:
            assert (d.metadata["lexical_rank"], d.metadata["lexical_score"]) == want.get(d.id, (None, None))
    finally:
        store.drop()
    with pytest.raises(InvalidParameterError, match="lexical_engine='store'"):
        EvalSettings(store="milvus", store_options={"full_text": False}, lexical_engine="store")
    assert EvalSettings(store="milvus", store_options={"full_text": False}, retriever="bm25").lexical_only


@pytest.mark.integration
def test_redis_full_text_is_the_store_contract(redis_url, hash_embeddings):
    """Redis's engine through ``full_text_search`` (same shape as Milvus's); an index without its
    content field declares no engine, and the lexical arm falls back to bm25s."""
    from langchain_embcompare.retrievers.lexical import BM25Retriever, StoreFullTextRetriever, lexical_retriever_for

    store = build_store("redis", options_for("redis", url=redis_url, index_name=f"ft_{uuid.uuid4().hex[:8]}"), hash_embeddings)
    bare = build_store("redis", options_for("redis", url=redis_url, index_name=f"noft_{uuid.uuid4().hex[:8]}", index_content="false"),
                       hash_embeddings)
    try:
        store.add_documents(DOCS)
        bare.add_documents(DOCS)
        hits = store.full_text_search(["bone fractures", ""], 4)
        assert [d.id for d, _ in hits[0]][0] == "d0" and hits[1] == []
        assert all(s > 0 for _, s in hits[0]) and all(isinstance(d, Document) for d, _ in hits[0])
        assert isinstance(lexical_retriever_for(store, k=4), StoreFullTextRetriever)
        with pytest.raises(InvalidParameterError, match="engine='bm25s'"):
            lexical_retriever_for(store, k=4, k1=1.2)
        assert "full_text" not in bare.capabilities
        with pytest.raises(MissingCapabilityError, match="index_content=False"):
            bare.full_text_search(["bone"], 2)
        fallback = lexical_retriever_for(bare, k=4)
        assert isinstance(fallback, BM25Retriever)
        assert _bm25_scores(fallback, ["bone fractures"]) == _bm25_scores(BM25Retriever.from_documents(DOCS, k=4), ["bone fractures"])
    finally:
        store.drop()
        bare.drop()


# --------------------------------------------------------------------------- no store named outside stores/

STORE_WORD = re.compile(r"\b(faiss|redis|milvus|qdrant)\b", re.I)  # in a string: a store named as a word
# in a name: redis / milvus / qdrant in any case, Faiss / FAISS (a class); a lower-case ``faiss`` alone is
# the vector library (k-means, shortlist indexes), not the store
CHECKED = [ROOT / "langchain_embcompare" / "evaluation", ROOT / "langchain_embcompare" / "retrievers",
           ROOT / "langchain_embcompare" / "cli.py", ROOT / "chains"]


def _docstring_ids(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                out.add(id(body[0].value))
        # an attribute docstring: a bare string right after an assignment
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                for stmt in stmts:
                    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                        out.add(id(stmt.value))
    return out


def store_names_in_code(path: Path) -> list[str]:
    """``file:line: text`` for each string constant (outside docstrings), name, attribute or import in
    ``path`` that names a store."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstring_ids(tree)
    found = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            texts = [node.value]
        elif isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, ast.Import):
            texts = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            texts = [node.module or "", *(a.name for a in node.names)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts = [node.name]
        elif isinstance(node, ast.keyword) and node.arg:
            texts = [node.arg]
        if isinstance(node, ast.Constant):
            hits = [t for t in texts if STORE_WORD.search(t)]
        else:
            hits = [t for t in texts if re.search(r"redis|milvus|qdrant", t, re.I) or re.search(r"Faiss|FAISS", t)]
        found += [f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}: {t[:80]!r}" for t in hits]
    return found


def test_no_store_is_named_in_the_code_of_evaluation_retrievers_cli_and_chains():
    files = [p for c in CHECKED for p in ([c] if c.is_file() else sorted(c.rglob("*.py")))]
    assert len(files) > 10
    found = [hit for f in files for hit in store_names_in_code(f)]
    assert found == [], "store named outside stores/ (use the registry / the store contract):\n" + "\n".join(found)


def test_the_store_name_check_catches_code_and_spares_docstrings():
    probe = ROOT / "tests" / f"_probe_{uuid.uuid4().hex[:6]}.py"
    probe.write_text('"""Works on Redis and Milvus."""\nimport faiss\nx = faiss.Kmeans\n"""Attribute doc naming FAISS."""\n'
                     'def f(s):\n    """Redis too."""\n    return s.store == "redis"  # a Milvus comment\n'
                     'from langchain_embcompare.stores.milvus import MilvusVectorStore\n', encoding="utf-8")
    try:
        hits = store_names_in_code(probe)
    finally:
        probe.unlink()
    assert sorted(h.split(": ", 1)[1] for h in hits) == ["'MilvusVectorStore'", "'langchain_embcompare.stores.milvus'", "'redis'"], hits
