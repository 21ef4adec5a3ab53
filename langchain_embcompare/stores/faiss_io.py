"""Saving and loading FAISS store folders: ``index.faiss`` + ``vectors.npy`` + ``documents.jsonl`` +
``store.json`` (+ ``rotation.npy/json``, ``cluster_labels.npy``, ``field_<name>.npy``). No pickle, so
loading an index never runs code (LangChain's FAISS store needs ``allow_dangerous_deserialization``).

One job: a :class:`FaissFolder` record to and from disk. The store builds the record from its state
(``FaissVectorStore.save_local``) and adopts one (``FaissVectorStore.load_local``): this module never
reads or writes a store's attributes, and does not import the store.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import EmptyInputError, SchemaMismatchError
from langchain_embcompare.matryoshka import MatryoshkaEmbeddings, PCARotation, Quantizer, VectorSpace, as_matryoshka
from langchain_embcompare.stores.faiss_index import FORMAT_VERSION, FaissIndexSpec, configure


@dataclass
class FaissFolder:
    """Everything a FAISS store folder holds.

    Args:
        space: the vector space of the stored vectors.
        spec: the index spec.
        quantizer: the int8 / binary quantizer (its calibration).
        index: the faiss index (``IndexBinary`` for binary precision), or ``None`` for an empty store or
            a block-scan store (float32 with ``vector_storage="mmap"``: no ``index.faiss``).
        vectors: (n, dim) float32 stored vectors (a read-only memory map after a load with ``mmap``).
        documents: the n documents, row order.
        calibrated_on: vectors the int8 calibration was fitted on (``-1``: ranges given, kept).
        labels: (n,) int64 cluster labels, or ``None``.
        fields: extra vector fields ``{name: (n, d) float32}``.
        rotation: the PCA rotation of the embeddings, or ``None``.
        field_kinds: per-field index kinds overriding ``spec.field_kind`` (``{name: kind}``).
    """

    space: VectorSpace
    spec: FaissIndexSpec
    quantizer: Quantizer
    index: Any
    vectors: np.ndarray
    documents: list[Document]
    calibrated_on: int = -1
    labels: np.ndarray | None = None
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    rotation: PCARotation | None = None
    field_kinds: dict[str, str] = field(default_factory=dict)


def write_folder(data: FaissFolder, folder: str | Path) -> Path:
    """Write a store folder: faiss file, float vectors, documents, JSON metadata. No pickle.

    Args:
        data: what to write.
        folder: the folder to write (created if missing).

    Returns:
        The folder's path.

    Raises:
        EmptyInputError: the store holds no documents.
    """
    folder = Path(folder)
    if not len(data.documents):
        raise EmptyInputError("Nothing to save: the index is empty.")
    folder.mkdir(parents=True, exist_ok=True)
    if data.index is None:
        (folder / "index.faiss").unlink(missing_ok=True)
    elif data.space.precision == "binary":
        faiss.write_index_binary(data.index, str(folder / "index.faiss"))
    else:
        faiss.write_index(data.index, str(folder / "index.faiss"))
    save_array(folder / "vectors.npy", data.vectors)
    with (folder / "documents.jsonl").open("w", encoding="utf-8") as f:
        for d in data.documents:
            f.write(json.dumps({"id": d.id, "page_content": d.page_content, "metadata": d.metadata}) + "\n")
    if data.rotation is not None:
        data.rotation.save(folder)
    meta = {
        "format": "langchain-embcompare/faiss",
        "version": FORMAT_VERSION,
        "space": data.space.to_dict(),
        "spec": asdict(data.spec),
        "quantizer": data.quantizer.to_dict(),
        "calibrated_on": data.calibrated_on,
        "count": len(data.documents),
        "vector_fields": {name: int(v.shape[1]) for name, v in data.fields.items()},
        "cluster_labels": data.labels is not None,
        "index": data.index is not None,
        "field_kinds": data.field_kinds,
    }
    if data.labels is not None:
        np.save(folder / "cluster_labels.npy", data.labels)
    for name, vecs in data.fields.items():
        save_array(folder / f"field_{name}.npy", vecs)
    (folder / "store.json").write_text(json.dumps(meta, indent=1))
    return folder


def save_array(path: Path, values: np.ndarray) -> None:
    """``np.save`` through a temporary file renamed over ``path``: a store loaded from this folder may
    be mapping the old file, which must not be truncated under it.

    Args:
        path: the ``.npy`` file to write.
        values: the array (may be a map of the file being replaced).
    """
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.save(f, values)
    os.replace(tmp, path)


def read_folder(folder: str | Path, *, mmap: bool = True) -> FaissFolder:
    """Read a folder written by :func:`write_folder`, checking that its parts agree.

    Args:
        folder: the folder.
        mmap: memory-map ``vectors.npy`` instead of reading it into memory (the field files too when
            the spec's ``vector_storage`` is ``"mmap"``).

    Returns:
        The folder's contents (the index configured by its spec; ``None`` when none was saved).

    Raises:
        SchemaMismatchError: no ``store.json``, another format or a newer version, or counts that
            disagree (documents, vectors, index, record).
    """
    folder = Path(folder)
    meta_path = folder / "store.json"
    if not meta_path.exists():
        raise SchemaMismatchError(f"{folder} is not a langchain-embcompare FAISS index (no store.json): save one with save_local().")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "langchain-embcompare/faiss" or meta.get("version", 0) > FORMAT_VERSION:
        raise SchemaMismatchError(f"{folder}/store.json has format {meta.get('format')!r} v{meta.get('version')}: not readable by this version.")
    space = VectorSpace.from_dict(meta["space"])
    spec = FaissIndexSpec(**meta["spec"])
    index = None
    if not meta.get("index", True):
        pass  # a block-scan store (float32, vector_storage="mmap") has no faiss index
    elif space.precision == "binary":
        index = faiss.read_index_binary(str(folder / "index.faiss"))
    else:
        index = faiss.read_index(str(folder / "index.faiss"))
    if index is not None:
        configure(index, spec)
    mapped = spec.vector_storage == "mmap"
    vectors = np.load(folder / "vectors.npy", mmap_mode="r" if mmap or mapped else None)
    with (folder / "documents.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    documents = [Document(page_content=r["page_content"], metadata=r["metadata"], id=r["id"]) for r in rows]
    indexed = len(vectors) if index is None else index.ntotal
    if not (len(documents) == len(vectors) == indexed == meta["count"]):
        raise SchemaMismatchError(
            f"{folder} is inconsistent: {len(documents)} documents, {len(vectors)} vectors, "
            f"{indexed} indexed, {meta['count']} recorded. Rebuild it with save_local()."
        )
    return FaissFolder(
        space=space,
        spec=spec,
        quantizer=Quantizer.from_dict(meta["quantizer"]),
        index=index,
        vectors=vectors,
        documents=documents,
        calibrated_on=int(meta.get("calibrated_on", -1)),
        labels=np.load(folder / "cluster_labels.npy") if meta.get("cluster_labels") else None,
        fields={name: np.load(folder / f"field_{name}.npy", mmap_mode="r" if mapped else None) for name in meta.get("vector_fields", {})},
        rotation=PCARotation.load(folder) if space.rotation else None,
        field_kinds=dict(meta.get("field_kinds", {})),
    )


def query_embeddings(data: FaissFolder, embedding: Embeddings | str | None, where: str) -> MatryoshkaEmbeddings:
    """The embeddings a loaded store answers queries with: rebuilt from the recorded vector space, or
    the given ones (with the folder's rotation when they have none), checked against the space.

    Args:
        data: the folder read by :func:`read_folder`.
        embedding: the query embeddings (or a model name), or ``None`` to rebuild them.
        where: names the folder in errors.

    Returns:
        Embeddings producing the recorded vector space.

    Raises:
        VectorSpaceMismatchError: ``embedding`` produces another vector space than the recorded one.
        DimensionMismatchError: ``embedding`` has another dimension.
        ModalityMismatchError: ``embedding`` shares no modality with the index.
    """
    space = data.space
    if embedding is None:
        emb = MatryoshkaEmbeddings(
            space.model,
            dim=space.dim,
            query_prompt=space.query_prompt,
            document_prompt=space.document_prompt,
            layer_norm=space.layer_norm,
            rotation=data.rotation,
            precision=space.precision,
        )
    else:
        emb = as_matryoshka(embedding)
        if emb.rotation is None and data.rotation is not None and space.rotation:
            emb = emb.with_dim(emb.dim, rotation=data.rotation)
    space.check_same(emb.space, where=where)
    return emb


__all__ = ["FaissFolder", "query_embeddings", "read_folder", "save_array", "write_folder"]
