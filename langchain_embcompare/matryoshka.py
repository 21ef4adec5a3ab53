"""Matryoshka control over any embedding model: prompts, layer-norm, rotation, truncation, quantisation.

The pipeline for one text, in order::

    prompt + text --model--> native vector --(layer_norm)--> --(rotation)--> [:dim] --> L2-normalise

Vectors are cached at the native dimension (after the model, before anything else), so changing
``dim``, the rotation or the index never re-encodes. The cache key is the wrapped model's class and
configuration (:func:`~langchain_embcompare.embedding_base.embedding_cache_key`), the role (query or
document) and the prompt; a model with no stable key is cached in memory for that object only.

Queries go through the wrapped model's ``embed_query`` and documents through ``embed_documents``
(models of this package: their numpy ``encode``), so API models that embed the two differently
(Cohere, Voyage, Nomic...) keep their query path. One (model, dim, prompts, layer-norm, rotation,
precision) tuple is one :class:`VectorSpace`; stores record it and refuse queries from another one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_embcompare.cache import EmbeddingCache
from langchain_embcompare.errors import (
    DimensionMismatchError,
    EmptyInputError,
    InvalidParameterError,
    InvalidVectorError,
    ModalityMismatchError,
    UncacheableEmbeddingsWarning,
    VectorSpaceMismatchError,
)
from langchain_embcompare.embedding_base import embedding_cache_key, encode_texts, model_id, native_dim
from langchain_embcompare.models import CACHE_DIR, load_embeddings

Precision = Literal["float32", "int8", "binary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "binary")

#: Prompt presets of well-known model families (query prompt, document prompt).
PROMPT_PRESETS: dict[str, tuple[str, str]] = {
    "nomic": ("search_query: ", "search_document: "),
    "e5": ("query: ", "passage: "),
    "bge": ("Represent this sentence for searching relevant passages: ", ""),
    "none": ("", ""),
}


# --------------------------------------------------------------------------- vector space


@dataclass(frozen=True)
class VectorSpace:
    """Everything that decides whether two vectors may be compared.

    Args:
        model: the model id.
        dim: the dimension of the vectors (after Matryoshka truncation).
        native_dim: the model's full output dimension (None: not known).
        query_prompt: the prompt prepended to queries, or None.
        document_prompt: the prompt prepended to documents, or None.
        layer_norm: whether a layer-norm is applied before truncation.
        rotation: the PCA rotation's fingerprint, or None.
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        modality: what the vectors embed, ``"+"``-joined (``"text"``, ``"image"``, ``"text+image"``, ...).
    """

    model: str
    dim: int
    native_dim: int | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    layer_norm: bool = False
    rotation: str | None = None
    precision: str = "float32"
    #: what the vectors embed, "+"-joined when one space holds several: "text", "image", "audio",
    #: "text+image" (CLIP), "text+audio" (CLAP), "video+image" (VideoEmbeddings over an image model: videos
    #: and image queries). A query is refused when its modalities share none with the index's. Spaces
    #: saved before this field existed load as "text".
    modality: str = "text"

    def to_dict(self) -> dict[str, Any]:
        """The space as a JSON-ready dict (every field), as stores record it next to their index.

        Returns:
            ``{field: value}`` for every field of the dataclass.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VectorSpace:
        """Rebuild a space from :meth:`to_dict`'s output.

        Args:
            data: a dict as :meth:`to_dict` writes it; keys that are not fields are ignored, missing
                fields take their defaults (spaces saved before a field existed still load).

        Returns:
            The :class:`VectorSpace`.
        """
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def differences(self, other: VectorSpace) -> dict[str, tuple[Any, Any]]:
        """Fields that differ, ignoring ``native_dim`` when one side does not know it.

        Args:
            other: the space to compare with.

        Returns:
            ``{field: (this value, other value)}`` for every field that differs; empty when the spaces match.
        """
        diff = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "native_dim" and (a is None or b is None):
                continue
            if a != b:
                diff[f.name] = (a, b)
        return diff

    def check_same(self, other: VectorSpace, where: str = "index") -> None:
        """Raise if vectors of ``other`` (a query) cannot be compared with this space (an index).

        Args:
            other: the query's space.
            where: what this space belongs to, for the message (``"index"``, ``"store"``...).

        Raises:
            ModalityMismatchError: the two spaces share no modality (a text query into an image-only index).
            DimensionMismatchError: the dimensions differ.
            VectorSpaceMismatchError: another field differs (model, prompts, layer-norm, rotation, precision).
        """
        if not set(self.modality.split("+")) & set(other.modality.split("+")):
            raise ModalityMismatchError(
                f"A {other.modality} query (model {other.model!r}) cannot search the {self.modality}-only {where} "
                f"(model {self.model!r}): {other.modality} and {self.modality} vectors of different models are not "
                f"comparable. Query with {self.modality} inputs embedded by {self.model!r}, or build the {where} "
                "with a model whose modalities share one space (CLIP 'clip:<name>' for text and images, CLAP "
                "'clap:<name>' for text and audio)."
            )
        if self.dim != other.dim:
            raise DimensionMismatchError(
                f"A {other.dim}-d query (model {other.model!r}) cannot search the {self.dim}-d {where} "
                f"(model {self.model!r}). Embed the query with the {where}'s embeddings "
                f"(MatryoshkaEmbeddings({self.model!r}, dim={self.dim})), or rebuild the {where} at {other.dim} d."
            )
        diff = self.differences(other)
        if diff:
            what = "; ".join(f"{k}: {where} has {a!r}, query has {b!r}" for k, (a, b) in diff.items())
            raise VectorSpaceMismatchError(
                f"The query's vector space differs from the {where}'s ({what}). Vectors from different "
                f"spaces are not comparable: embed queries with the same MatryoshkaEmbeddings settings "
                f"the {where} was built with, or rebuild the {where}."
            )


# --------------------------------------------------------------------------- validation helpers


def check_encodable(text: str, field: str) -> str:
    """The input rule for text: ``text`` itself when UTF-8 can encode it.

    A lone UTF-16 surrogate (``"\\ud835"``, which PDF extractors emit for math symbols) reaches no
    tokenizer, embedding API, file or search server intact, so it is refused, never silently dropped.

    Args:
        text: a document text, id, metadata string or query.
        field: names it in the error (``"page_content"``, ``"queries[3]"``, ``"metadata['title']"``).

    Returns:
        ``text`` unchanged.

    Raises:
        ValueError: ``text`` holds a lone surrogate (:func:`encoding_reason` says which and where);
            callers turn it into the error of their input (``InvalidDocumentError``,
            ``InvalidParameterError``).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(encoding_reason(text, field)) from None
    return text


def encoding_reason(text: str, field: str) -> str:
    """Why UTF-8 cannot encode ``text``: its first lone surrogate and its position, naming ``field``.

    Args:
        text: the string.
        field: names it in the message.

    Returns:
        The reason, with the fix (``text.encode('utf-8', 'replace').decode()``).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"{field} holds the lone UTF-16 surrogate {text[exc.start : exc.end]!r} at character {exc.start}, "
            "which UTF-8 cannot encode; fix the extractor, or replace it: text.encode('utf-8', 'replace').decode()"
        )
    return f"{field} is valid UTF-8"


def check_finite(vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
    """Refuse NaN/inf: one bad vector silently poisons every score it touches."""
    if vectors.size and not np.isfinite(vectors).all():
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        raise InvalidVectorError(
            f"{len(bad)} of {len(vectors)} {what} contain NaN or infinity (rows {bad[:10].tolist()}). "
            "Check the model's output for these texts (empty or corrupt input?) and drop or fix them."
        )
    return vectors


def normalize_rows(vectors: np.ndarray, where: str = "vectors") -> np.ndarray:
    """Rows scaled to unit L2 length, float32: the one normaliser of the package (cosine queries and
    documents on every store, the embeddings' final step, precomputed tables).

    The rule for a zero vector: it has no direction, so its cosine similarity is undefined; it is
    refused, naming its rows, never left as zeros (which would score 0 against everything, an answer
    that looks valid) nor divided into NaN.

    Args:
        vectors: (n, d) floats.
        where: names the vectors in the error (``"query vectors"``, ``"document vectors"``, ...).

    Returns:
        (n, d) float32, unit-length rows.

    Raises:
        InvalidVectorError: a row of zero length, naming the rows (the first ten).
    """
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    if v.size and (norms == 0).any():
        bad = np.flatnonzero(norms[:, 0] == 0)
        raise InvalidVectorError(
            f"{len(bad)} {where} have zero length (rows {bad[:10].tolist()}): a zero vector has no direction, so "
            "cosine similarity is undefined. Check those inputs (an empty text, a truncation to too few dimensions)."
        )
    return (v / norms).astype(np.float32, copy=False)


def layer_norm(vectors: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Layer-norm over features with no affine part: the nomic-embed-text-v1.5 Matryoshka recipe."""
    mean = vectors.mean(axis=1, keepdims=True)
    var = vectors.var(axis=1, keepdims=True)
    return ((vectors - mean) / np.sqrt(var + eps)).astype(np.float32)


# --------------------------------------------------------------------------- rotation


class PCARotation:
    """An orthogonal rotation that puts the directions of most variance first.

    Models not trained for Matryoshka spread information over all dimensions, so truncating them
    loses much. Rotating onto the principal axes of a sample of document vectors first makes the
    leading dimensions the most informative ones. The rotation is orthogonal and not centred, so at
    full dimension every inner product (and so every ranking) is unchanged.

    Args:
        matrix: (d, d) float32 orthogonal matrix, rows = principal axes, most variance first.
        explained_variance: (d,) float variance along each axis, or None.
        n_samples: number of vectors the rotation was fitted on.
    """

    def __init__(self, matrix: np.ndarray, explained_variance: np.ndarray | None = None, n_samples: int = 0):
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.explained_variance = explained_variance
        self.n_samples = n_samples
        self.fingerprint = "pca-" + hashlib.sha1(self.matrix.tobytes()).hexdigest()[:12]

    @classmethod
    def fit(cls, vectors: np.ndarray, max_samples: int = 20000, seed: int = 0) -> PCARotation:
        """Fit the rotation on a sample of document vectors (scikit-learn ``PCA``, full SVD).

        Args:
            vectors: (n, d) float32 document vectors of one model at its native dimension.
            max_samples: at most this many rows (drawn at random with ``seed``) are used.
            seed: random seed of the sample and of the basis completion.

        Returns:
            A square (d, d) orthogonal :class:`PCARotation`; when fewer than ``d`` samples are given the
                principal axes are completed to an orthonormal basis (QR of random directions).

        Raises:
            EmptyInputError: fewer than 2 vectors.
        """
        from sklearn.decomposition import PCA

        if len(vectors) < 2:
            raise EmptyInputError("Fitting a rotation needs at least 2 document vectors; pass a larger sample.")
        rng = np.random.default_rng(seed)
        sample = vectors if len(vectors) <= max_samples else vectors[rng.choice(len(vectors), max_samples, replace=False)]
        dim = sample.shape[1]
        n_comp = min(dim, len(sample))
        pca = PCA(n_components=n_comp, svd_solver="full", random_state=seed).fit(sample)
        comps = pca.components_
        if n_comp < dim:  # complete the basis so the rotation stays square and orthogonal
            q, _ = np.linalg.qr(np.concatenate([comps.T, rng.standard_normal((dim, dim - n_comp))], axis=1))
            comps = np.concatenate([comps, q[:, n_comp:].T])
        return cls(comps.T, pca.explained_variance_ratio_.astype(np.float32), len(sample))

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Rotate vectors: ``vectors @ matrix``.

        Args:
            vectors: (n, d) float32 vectors of the model the rotation was fitted on (native dimension).

        Returns:
            (n, d) float32 rotated vectors; inner products between rotated vectors are unchanged.

        Raises:
            DimensionMismatchError: ``d`` differs from the fitted dimension.
        """
        if vectors.shape[1] != self.matrix.shape[0]:
            raise DimensionMismatchError(
                f"The rotation was fitted on {self.matrix.shape[0]}-d vectors but got {vectors.shape[1]}-d ones: "
                "fit the rotation on the same model's vectors."
            )
        return vectors @ self.matrix

    def save(self, folder: str | Path) -> None:
        """Write ``rotation.npy`` (the (d, d) float32 matrix) and ``rotation.json`` (fingerprint, sample size,
        explained variance ratios) into ``folder`` (created if missing); no pickle.

        Args:
            folder: the target folder.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "rotation.npy", self.matrix)
        meta = {"kind": "pca", "fingerprint": self.fingerprint, "n_samples": self.n_samples}
        if self.explained_variance is not None:
            meta["explained_variance_ratio"] = self.explained_variance.tolist()
        (folder / "rotation.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> PCARotation:
        """Read a rotation written by :meth:`save`.

        Args:
            folder: the folder holding ``rotation.npy`` and ``rotation.json``.

        Returns:
            The :class:`PCARotation`.

        Raises:
            InvalidVectorError: the matrix does not match the fingerprint recorded in ``rotation.json``.
        """
        folder = Path(folder)
        meta = json.loads((folder / "rotation.json").read_text())
        ev = meta.get("explained_variance_ratio")
        rot = cls(np.load(folder / "rotation.npy"), np.asarray(ev, np.float32) if ev else None, meta.get("n_samples", 0))
        if rot.fingerprint != meta["fingerprint"]:
            raise InvalidVectorError(f"{folder}/rotation.npy does not match its rotation.json fingerprint: the files were mixed up.")
        return rot


# --------------------------------------------------------------------------- quantisation


class Quantizer:
    """int8 / binary codes via ``sentence_transformers.quantize_embeddings``, with the int8 calibration
    (per-dimension min/max) kept so that it can be saved with the index and reused for new documents.

    Args:
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        ranges: (2, d) float32 int8 calibration ``[min, max]`` per dimension, or None (set by :meth:`fit`).

    Raises:
        InvalidParameterError: an unknown ``precision``.
    """

    def __init__(self, precision: str = "float32", ranges: np.ndarray | None = None) -> None:
        if precision not in PRECISIONS:
            raise InvalidParameterError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        self.precision = precision
        self.ranges = None if ranges is None else np.asarray(ranges, dtype=np.float32)

    def fit(self, vectors: np.ndarray) -> Quantizer:
        """Calibrate int8 ranges (per-dimension min and max of ``vectors``) unless ranges are set already.

        Args:
            vectors: (n, d) float32 vectors; only used for ``precision="int8"``.

        Returns:
            ``self`` (for chaining); ``ranges`` is then a (2, d) float32 array ``[min, max]``.
        """
        if self.precision == "int8" and self.ranges is None:
            self.ranges = np.stack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)
        return self

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Quantise vectors with ``sentence_transformers.quantize_embeddings``.

        Args:
            vectors: (n, d) float32 vectors (int8: calibrates the ranges on them first if none are set).

        Returns:
            int8: (n, d) int8 codes; binary: (n, d / 8) uint8 packed sign bits; float32: ``vectors`` unchanged.

        Raises:
            InvalidParameterError: binary codes of vectors whose every dimension is >= 0 (all codes would
                be equal); fit a rotation first or use int8.
        """
        from sentence_transformers.util.quantization import quantize_embeddings

        if self.precision == "float32":
            return vectors
        if self.precision == "int8":
            self.fit(vectors)
            return quantize_embeddings(vectors, precision="int8", ranges=self.ranges)
        if len(vectors) >= 2 and (vectors >= 0).all():  # e.g. pooled ReLU image features: every sign bit is 1
            raise InvalidParameterError(
                f"precision='binary' keeps one sign bit per dimension, but all {vectors.shape[1]} dimensions of these "
                f"{len(vectors)} vectors are >= 0 (pooled ReLU features of an image backbone, or a ReLU'd speaker "
                "embedding such as Resemblyzer's?), so every code would be "
                "all ones and the ranking meaningless. Fit a rotation first (MatryoshkaEmbeddings.fit_rotation), or use int8."
            )
        return quantize_embeddings(vectors, precision="ubinary")

    @property
    def steps(self) -> np.ndarray:
        """(d,) float32 width of one int8 bucket per dimension: ``(max - min) / 255`` (1 where max == min)."""
        assert self.ranges is not None
        steps = (self.ranges[1] - self.ranges[0]) / 255
        return np.where(steps == 0, 1, steps).astype(np.float32)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        """Centre of each int8 bucket: what the code stands for.

        Args:
            codes: (n, d) int8 codes from :meth:`encode`.

        Returns:
            (n, d) float32 values ``min + (code + 128.5) * step`` per dimension.
        """
        return (self.ranges[0] + (codes.astype(np.float32) + 128.5) * self.steps).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"precision", "ranges"}`` (ranges: a (2, d) nested list or None).

        Returns:
            ``{"precision": str, "ranges": list[list[float]] | None}``.
        """
        return {"precision": self.precision, "ranges": None if self.ranges is None else self.ranges.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quantizer:
        """Rebuild a quantiser from :meth:`to_dict`'s output.

        Args:
            data: ``{"precision": str, "ranges": (2, d) nested list or None}``.

        Returns:
            The :class:`Quantizer`.

        Raises:
            InvalidParameterError: an unknown precision.
        """
        return cls(data["precision"], None if data.get("ranges") is None else np.asarray(data["ranges"], np.float32))


# --------------------------------------------------------------------------- the embeddings


class MatryoshkaEmbeddings(Embeddings):
    """Any embedding model cut to ``dim``, with query/document prompts, optional layer-norm and rotation.

    It is a plain LangChain ``Embeddings``: pass it wherever one is expected. The numpy fast path
    (:meth:`encode_documents`, :meth:`encode_queries`) is what the stores and evaluation use.

    ``prompts`` picks a preset (``"nomic"``, ``"e5"``, ``"bge"``) or ``"model"`` for the model's own
    ``prompts`` table (sentence-transformers ``prompts={"query": ..., "document": ...}``);
    ``query_prompt`` / ``document_prompt`` override it.

    Args:
        model: a model name (see :func:`~langchain_embcompare.models.load_embeddings`) or any LangChain ``Embeddings``.
        dim: the truncated dimension, a positive int <= the model's native dimension (None: full dimension).
        prompts: a prompt preset (``"nomic"``, ``"e5"``, ``"bge"``) or ``"model"`` (the model's own table).
        query_prompt: prompt prepended to queries (overrides the preset).
        document_prompt: prompt prepended to documents (overrides the preset).
        layer_norm: apply a layer-norm before truncation (nomic's Matryoshka recipe).
        rotation: a fitted :class:`PCARotation` applied before truncation, or None.
        precision: ``"float32"``, ``"int8"`` or ``"binary"``.
        cache_dir: folder of the on-disk vector cache; ``"default"`` (``$EMBCOMPARE_CACHE/embeddings`` or
            ``~/.cache/langchain_embcompare/embeddings``) or None (memory only).

    Raises:
        InvalidParameterError: a bad ``dim``, an unknown ``precision`` or prompt preset.
        DimensionMismatchError: ``dim`` above the model's native dimension.
        UnknownModelError: the model name cannot be loaded.
    """

    def __init__(
        self,
        model: str | Embeddings,
        dim: int | None = None,
        *,
        prompts: str | None = None,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        layer_norm: bool = False,
        rotation: PCARotation | None = None,
        precision: str = "float32",
        cache_dir: str | Path | None | Literal["default"] = "default",
    ) -> None:
        self.base = load_embeddings(model)
        self.model_name = model_id(self.base)
        self.native_dim = native_dim(self.base)
        if dim is not None:
            if not isinstance(dim, int) or dim <= 0:
                raise InvalidParameterError(f"dim must be a positive integer, got {dim!r}: use e.g. dim=128, or None for the full dimension.")
            if self.native_dim is not None and dim > self.native_dim:
                raise DimensionMismatchError(
                    f"dim={dim} is above {self.model_name!r}'s native dimension {self.native_dim}: "
                    f"Matryoshka truncation can only shrink; use dim <= {self.native_dim}."
                )
        self.dim = dim
        if precision not in PRECISIONS:
            raise InvalidParameterError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        self.precision = precision
        self.layer_norm = layer_norm
        self.rotation = rotation
        self.query_prompt, self.document_prompt = self._resolve_prompts(prompts, query_prompt, document_prompt)
        roles = getattr(self.base, "role_prompts", None)  # precomputed vectors: role markers tell queries from documents
        if roles and (prompts, query_prompt, document_prompt) == (None, None, None):
            self.query_prompt, self.document_prompt = roles
        if cache_dir == "default":
            # vectors read from a table are not cached on disk: the table is the cache, and a column name is no model id
            if getattr(self.base, "cacheable", True):
                env = os.environ.get("EMBCOMPARE_CACHE")
                cache_dir = (Path(env) if env else CACHE_DIR) / "embeddings"
            else:
                cache_dir = None
        #: Folder of the on-disk vector cache (``None``: memory only). Default:
        #: ``$EMBCOMPARE_CACHE/embeddings``, else ``~/.cache/langchain_embcompare/embeddings``.
        self.cache_dir: Path | None = None if cache_dir is None else Path(cache_dir)
        self._caches: dict[tuple[Any, ...], EmbeddingCache] = {}

    # -- configuration ---------------------------------------------------------------------------

    def _resolve_prompts(self, preset: str | None, query: str | None, document: str | None) -> tuple[str | None, str | None]:
        q = d = None
        if preset == "model":
            table = getattr(self.base, "prompts", {}) or {}
            q = table.get("query")
            d = table.get("document", table.get("passage"))
        elif preset is not None:
            if preset not in PROMPT_PRESETS:
                raise InvalidParameterError(
                    f"Unknown prompt preset {preset!r}; use one of {sorted(PROMPT_PRESETS)} or 'model', "
                    "or pass query_prompt=/document_prompt= yourself."
                )
            q, d = PROMPT_PRESETS[preset]
        q = query if query is not None else q
        d = document if document is not None else d
        return (q or None, d or None)

    @property
    def output_dim(self) -> int:
        """The dimension of the vectors returned: ``dim``, else the model's native dimension (probed once)."""
        if self.dim is not None:
            return self.dim
        if self.native_dim is None:
            self.native_dim = int(self._native(["dimension probe"], self.document_prompt).shape[1])
        return self.native_dim

    @property
    def space(self) -> VectorSpace:
        """The :class:`VectorSpace` these embeddings produce (model, dim, prompts, layer-norm, rotation
        fingerprint, precision, modality): what a store records and checks queries against."""
        return VectorSpace(
            model=self.model_name,
            dim=self.output_dim,
            native_dim=self.native_dim,
            query_prompt=self.query_prompt,
            document_prompt=self.document_prompt,
            layer_norm=self.layer_norm,
            rotation=self.rotation.fingerprint if self.rotation is not None else None,
            precision=self.precision,
            modality=str(getattr(self.base, "modality", "text") or "text"),
        )

    def with_dim(self, dim: int | None, **changes: Any) -> MatryoshkaEmbeddings:
        """The same model and cache at another dimension (or other settings): no reload, no re-encode.

        Args:
            dim: the new output dimension (a prefix of the native vectors), or None for the native one.
            **changes: other settings to change (``precision=``, ``rotation=``, ...).

        Returns:
            A new :class:`MatryoshkaEmbeddings` sharing the model and the vector cache.

        Raises:
            InvalidParameterError: ``dim`` is not a positive integer, or an unknown setting.
            DimensionMismatchError: ``dim`` is above the model's native dimension.
        """
        new = object.__new__(MatryoshkaEmbeddings)
        new.__dict__.update(self.__dict__)
        if dim is not None and (dim <= 0 or (self.native_dim is not None and dim > self.native_dim)):
            MatryoshkaEmbeddings(self.base, dim)  # raises the right error
        new.dim = dim
        for key, value in changes.items():
            if not hasattr(new, key):
                raise InvalidParameterError(f"MatryoshkaEmbeddings has no setting {key!r}.")
            setattr(new, key, value)
        return new

    def fit_rotation(self, texts: Sequence[str], max_samples: int = 20000, seed: int = 0) -> MatryoshkaEmbeddings:
        """Fit a PCA rotation on document texts; returns a copy that applies it.

        Args:
            texts: document texts (at most ``max_samples`` are embedded and used).
            max_samples: sample size for the fit.
            seed: random seed of the fit.

        Returns:
            A copy of these embeddings that rotates before truncating (:class:`PCARotation`).

        Raises:
            EmptyInputError: fewer than 2 texts.
        """
        vectors = self._pre_truncation(list(texts)[:max_samples], self.document_prompt)
        return self.with_dim(self.dim, rotation=PCARotation.fit(vectors, max_samples=max_samples, seed=seed))

    # -- the numpy path --------------------------------------------------------------------------

    def share_caches(self, other: MatryoshkaEmbeddings) -> None:
        """Use ``other``'s vector caches from now on (in memory and on disk): another dimension, rotation
        or precision of the same model and prompts then re-encodes nothing already encoded.

        Args:
            other: a MatryoshkaEmbeddings of the same model, query prompt and document prompt.

        Raises:
            InvalidParameterError: ``other`` has another model or prompts (its vectors would be wrong here).
        """
        mine = (self.model_name, self.query_prompt, self.document_prompt)
        theirs = (other.model_name, other.query_prompt, other.document_prompt)
        if mine != theirs:
            raise InvalidParameterError(
                f"share_caches: (model, query prompt, document prompt) {theirs} differs from this one's {mine}; "
                "only embeddings of one model and prompts can share vectors."
            )
        self._caches = other._caches

    def vector_cache(self, prompt: str | None, role: str) -> EmbeddingCache:
        """The cache of one (model configuration, role, prompt) namespace.

        The key is :func:`embedding_cache_key` of the wrapped model (its class and configuration),
        computed on each call so a reconfigured model never reads another configuration's vectors.
        With no stable key, vectors are cached in memory for this very model object only, and a
        warning (once per class, only when a disk cache was asked for) says why nothing goes to disk.

        Args:
            prompt: the prompt prepended to the texts (part of the namespace), or None.
            role: ``"query"`` or ``"document"``.

        Returns:
            The :class:`~langchain_embcompare.cache.EmbeddingCache` of native-dimension vectors.
        """
        base_key = embedding_cache_key(self.base)
        if base_key is None:
            if self.cache_dir is not None:  # a disk cache was asked for and cannot be used: say why
                _warn_uncacheable(self.base)
            ident: tuple[Any, ...] = ("object", id(self.base), role, prompt)
        else:
            ident = ("key", json.dumps(base_key, sort_keys=True), role, prompt)
        cache = self._caches.get(ident)
        if cache is None:
            folder = None
            if self.cache_dir is not None and base_key is not None:
                ns = hashlib.sha1("\x00".join([ident[1], role, prompt or ""]).encode()).hexdigest()[:16]
                folder = self.cache_dir / ns
            cache = self._caches[ident] = EmbeddingCache(folder, key={**base_key, "role": role, "prompt": prompt} if base_key else None)
            cache.owner = self.base  # keeps id(self.base) from being reused while the entry lives
        return cache

    def _native(self, texts: list[str], prompt: str | None, query: bool = False) -> np.ndarray:
        if not texts:
            raise EmptyInputError("Nothing to embed: got an empty list of texts. Pass at least one text.")
        role = "query" if query else "document"
        keys_of = getattr(self.base, "cache_keys", None)
        if callable(keys_of):  # inputs whose text is not their content (image paths): key by what the model reports
            keys = keys_of(texts)
            by_key = dict(zip(keys, texts))
            vectors = self.vector_cache(prompt, role).get_or_compute(
                keys, lambda todo: encode_texts(self.base, [by_key[k] for k in todo], prompt, query=query)
            )
        else:
            vectors = self.vector_cache(prompt, role).get_or_compute(
                texts, lambda todo: encode_texts(self.base, todo, prompt, query=query)
            )
        if self.native_dim is None:
            self.native_dim = int(vectors.shape[1])
            if self.dim is not None and self.dim > self.native_dim:
                raise DimensionMismatchError(
                    f"dim={self.dim} is above {self.model_name!r}'s native dimension {self.native_dim}: use dim <= {self.native_dim}."
                )
        return check_finite(vectors, f"embeddings from {self.model_name!r}")

    def _pre_truncation(self, texts: list[str], prompt: str | None, query: bool = False) -> np.ndarray:
        vectors = self._native(texts, prompt, query)
        return layer_norm(vectors) if self.layer_norm else vectors

    def _encode(self, texts: Sequence[str], prompt: str | None, query: bool = False) -> np.ndarray:
        texts = list(texts)
        name = "queries" if query else "texts"
        for i, t in enumerate(texts):  # the text input rule, before any model sees the batch
            if isinstance(t, str) and not t.isascii():
                try:
                    check_encodable(t, f"{name}[{i}]")
                except ValueError as exc:
                    raise InvalidParameterError(f"{'Query' if query else 'Text'} refused: {exc}") from None
        vectors = self._pre_truncation(texts, prompt, query)
        if self.rotation is not None:
            vectors = self.rotation.apply(vectors)
        if self.dim is not None:
            vectors = vectors[:, : self.dim]
        return normalize_rows(np.ascontiguousarray(vectors, dtype=np.float32), "embedded vectors")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors, (n, dim) float32, unit length.

        Args:
            texts: the documents (texts, or image / audio / video references for those models).

        Returns:
            (n, dim) float32 array, each row L2-normalised.
        """
        return self._encode(texts, self.document_prompt)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, (m, dim) float32, unit length, from the wrapped model's query path
        (``embed_query`` for a LangChain ``Embeddings``; ``encode`` with the query prompt for ours).

        Args:
            texts: the queries.

        Returns:
            (m, dim) float32 array, each row L2-normalised.
        """
        return self._encode(texts, self.query_prompt, query=True)

    # -- the LangChain contract ------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_queries([text])[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)

    def cache_config(self) -> dict[str, Any]:
        """What decides this object's vectors, for when it is itself wrapped (see :func:`embedding_cache_key`).

        Returns:
            ``{"base": the base model's cache key (a dict, or None), "space": VectorSpace.to_dict()}``.
        """
        return {"base": embedding_cache_key(self.base), "space": self.space.to_dict()}

    def __repr__(self) -> str:
        return (
            f"MatryoshkaEmbeddings({self.model_name!r}, dim={self.dim}, precision={self.precision!r}, "
            f"rotation={self.rotation.fingerprint if self.rotation else None})"
        )


_WARNED_UNCACHEABLE: set[str] = set()


def _warn_uncacheable(base: Embeddings) -> None:
    name = f"{type(base).__module__}.{type(base).__qualname__}"
    if name in _WARNED_UNCACHEABLE:
        return
    _WARNED_UNCACHEABLE.add(name)
    warnings.warn(
        f"{name} has no stable cache key (an attribute holds an object whose settings cannot be read, and no "
        "field names the model), so its vectors are cached in memory for this object only, never on disk. "
        "Give the class a cache_config() method returning the settings that decide its vectors "
        "(model name, output size, task...) to enable the disk cache.",
        UncacheableEmbeddingsWarning,
        stacklevel=4,
    )


def as_matryoshka(embedding: Embeddings | str, **kwargs: Any) -> MatryoshkaEmbeddings:
    """Wrap anything into :class:`MatryoshkaEmbeddings` (full dimension) unless it already is one."""
    if isinstance(embedding, MatryoshkaEmbeddings):
        return embedding if not kwargs else embedding.with_dim(kwargs.pop("dim", embedding.dim), **kwargs)
    return MatryoshkaEmbeddings(embedding, **kwargs)


__all__ = [
    "MatryoshkaEmbeddings",
    "VectorSpace",
    "PCARotation",
    "Quantizer",
    "PROMPT_PRESETS",
    "as_matryoshka",
    "check_finite",
    "normalize_rows",
    "layer_norm",
]
