"""Saving and loading FAISS store folders: ``index.faiss`` + ``vectors.npy`` + ``documents.jsonl`` +
``store.json`` (+ ``rotation.npy/json``, ``cluster_labels.npy``, ``field_<name>.npy``). No pickle, so
loading an index never runs code (LangChain's FAISS store needs ``allow_dangerous_deserialization``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import EmptyInputError, SchemaMismatchError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, PCARotation, Quantizer, VectorSpace, as_matryoshka
from langchain_embcompare.stores.faiss_index import FORMAT_VERSION, FaissIndexSpec, configure

if TYPE_CHECKING:
    from langchain_embcompare.stores.faiss import FaissVectorStore


def save_store(store: FaissVectorStore, folder: str | Path) -> Path:
    """Write the index folder: faiss file, float vectors, documents, JSON metadata. No pickle.

    Args:
        store: the FAISS store to save.
        folder: the folder to write (created if missing).

    Returns:
        The folder's path.

    Raises:
        EmptyInputError: the store has no index yet (nothing was added).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if store.index is None:
        raise EmptyInputError("Nothing to save: the index is empty.")
    if store.precision == "binary":
        faiss.write_index_binary(store.index, str(folder / "index.faiss"))
    else:
        faiss.write_index(store.index, str(folder / "index.faiss"))
    np.save(folder / "vectors.npy", store._vectors)
    with (folder / "documents.jsonl").open("w", encoding="utf-8") as f:
        for d in store._docs:
            f.write(json.dumps({"id": d.id, "page_content": d.page_content, "metadata": d.metadata}) + "\n")
    if store.embedding.rotation is not None:
        store.embedding.rotation.save(folder)
    meta = {
        "format": "langchain-embcompare/faiss",
        "version": FORMAT_VERSION,
        "space": store._space.to_dict(),
        "spec": asdict(store.spec),
        "quantizer": store.quantizer.to_dict(),
        "calibrated_on": store._calibrated_on,
        "count": len(store._docs),
        "vector_fields": store.vector_fields,
        "cluster_labels": store._labels is not None,
    }
    if store._labels is not None:
        np.save(folder / "cluster_labels.npy", store._labels)
    for name, vecs in store._fields.items():
        np.save(folder / f"field_{name}.npy", vecs)
    (folder / "store.json").write_text(json.dumps(meta, indent=1))
    return folder


def load_store(
    cls: type[FaissVectorStore], folder: str | Path, embedding: Embeddings | str | None = None, *, mmap: bool = True
) -> FaissVectorStore:
    """Read a folder written by :func:`save_store` (see ``FaissVectorStore.load_local``).

    Args:
        cls: the store class to build (``FaissVectorStore`` or a subclass).
        folder: the folder written by :func:`save_store`.
        embedding: as in ``FaissVectorStore.load_local``.
        mmap: as in ``FaissVectorStore.load_local``.

    Returns:
        A ``cls`` holding the folder's index, vectors, documents, labels and extra fields.

    Raises:
        SchemaMismatchError: no ``store.json``, another format or a newer version, or counts that
            disagree (documents, vectors, index, record).
        VectorSpaceMismatchError: ``embedding`` produces another vector space than the recorded one.
        DimensionMismatchError: ``embedding`` has another dimension.
        ModalityMismatchError: ``embedding`` shares no modality with the index.
    """
    folder = Path(folder)
    meta_path = folder / "store.json"
    if not meta_path.exists():
        raise SchemaMismatchError(f"{folder} is not a langchain-embcompare FAISS index (no store.json): save one with save_local().")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "langchain-embcompare/faiss" or meta.get("version", 0) > FORMAT_VERSION:
        raise SchemaMismatchError(f"{folder}/store.json has format {meta.get('format')!r} v{meta.get('version')}: not readable by this version.")
    space = VectorSpace.from_dict(meta["space"])
    rotation = PCARotation.load(folder) if space.rotation else None
    if embedding is None:
        emb = MatryoshkaEmbeddings(
            space.model,
            dim=space.dim,
            query_prompt=space.query_prompt,
            document_prompt=space.document_prompt,
            layer_norm=space.layer_norm,
            rotation=rotation,
            precision=space.precision,
        )
    else:
        emb = as_matryoshka(embedding)
        if emb.rotation is None and rotation is not None and space.rotation:
            emb = emb.with_dim(emb.dim, rotation=rotation)
    space.check_same(emb.space, where=f"index at {folder}")
    store = cls(emb, FaissIndexSpec(**meta["spec"]), quantizer=Quantizer.from_dict(meta["quantizer"]))
    if space.precision == "binary":
        store.index = faiss.read_index_binary(str(folder / "index.faiss"))
    else:
        store.index = faiss.read_index(str(folder / "index.faiss"))
    configure(store.index, store.spec)
    store._vectors = np.load(folder / "vectors.npy", mmap_mode="r" if mmap else None)
    with (folder / "documents.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    store._docs = [Document(page_content=r["page_content"], metadata=r["metadata"], id=r["id"]) for r in rows]
    store._row_of = {d.id: i for i, d in enumerate(store._docs)}
    store._calibrated_on = int(meta.get("calibrated_on", -1))
    store._trained_on = len(store._docs)
    if meta.get("cluster_labels"):
        store._labels = np.load(folder / "cluster_labels.npy")
    for name in meta.get("vector_fields", {}):
        store._fields[name] = np.load(folder / f"field_{name}.npy")
    if not (len(store._docs) == len(store._vectors) == store.index.ntotal == meta["count"]):
        raise SchemaMismatchError(
            f"{folder} is inconsistent: {len(store._docs)} documents, {len(store._vectors)} vectors, "
            f"{store.index.ntotal} indexed, {meta['count']} recorded. Rebuild it with save_local()."
        )
    return store
