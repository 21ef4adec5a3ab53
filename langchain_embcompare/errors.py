"""Error classes: each names the two things that disagree and how to fix it.

They subclass the built-in exception a caller would naturally catch (``ValueError``,
``ConnectionError``) so existing ``except`` clauses keep working.
"""

from __future__ import annotations


class EmbCompareError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownModelError(EmbCompareError, ValueError):
    """A model name that is neither installed offline, a local path, nor loadable from a hub."""


class DimensionMismatchError(EmbCompareError, ValueError):
    """Vectors of one dimension met an index or model of another."""


class VectorSpaceMismatchError(EmbCompareError, ValueError):
    """A query embedded in one vector space (model, dim, prompts, precision, rotation) met an index of another."""


class EmptyInputError(EmbCompareError, ValueError):
    """Nothing to embed or index: an empty list, or only empty texts."""


class InvalidVectorError(EmbCompareError, ValueError):
    """A vector holds NaN or infinity, which would silently poison every score."""


class MissingVectorError(EmbCompareError, LookupError):
    """Precomputed embeddings were asked for a text or id that has no stored vector."""


class InvalidParameterError(EmbCompareError, ValueError):
    """A parameter outside its valid range (dim <= 0, nprobe > clusters, ...)."""


class InvalidDocumentError(EmbCompareError, ValueError):
    """One or more documents hold a value no store can keep exactly (a lone UTF-16 surrogate, NaN, a
    set, bytes, a datetime, an integer beyond int64, a non-string metadata key): the whole batch is
    refused at add time, before anything is embedded or written.

    ``failures`` maps each bad document's id to the reason, which names the field
    (``page_content``, ``id``, ``metadata['year']``, ``metadata['a'][0]``). The rules:
    ``docs/concepts/input-rules.md``.
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})


class StoreConnectionError(EmbCompareError, ConnectionError):
    """A vector store server (Redis, Milvus, Qdrant) cannot be used: the base of every connection fault.

    Each subclass names one fault a user can act on, with the fix in its message; credentials and
    tokens are redacted from every message.
    """


class StoreUnreachableError(StoreConnectionError):
    """No server answers at the address (refused, unknown host, nothing listening): start it or fix the URL."""


class StoreAuthenticationError(StoreConnectionError):
    """The server refused the credentials (wrong password, user or token)."""


class StorePermissionError(StoreConnectionError, PermissionError):
    """The server knows the user but refused a command or key: the message names it and the rule to add."""


class StoreTLSError(StoreConnectionError):
    """The TLS handshake failed (unknown CA, expired or mismatched certificate, TLS to a plain port)."""


class StoreTimeoutError(StoreConnectionError, TimeoutError):
    """A store query ran past its time limit, so its answer would be incomplete.

    Raised instead of returning the partial result: RediSearch's default (``TIMEOUT 500`` ms with
    ``ON_TIMEOUT RETURN``) answers a query that runs too long with whatever it has found so far and
    only a warning, which a loaded server turns into a plausible wrong top-k.
    """


class SchemaMismatchError(EmbCompareError, ValueError):
    """An existing index was created with another schema than the one asked for."""


class MissingCapabilityError(EmbCompareError, NotImplementedError):
    """A retriever needs a store capability (candidate rows, cluster labels, extra vector fields) that
    the store does not declare; the message names the capability and the store."""


class ModalityMismatchError(EmbCompareError, ValueError):
    """A query of one modality (text) met an index or model of another (images) that cannot compare them."""


class MediaLoadError(EmbCompareError, ValueError):
    """One or more media inputs (images, audio, video) cannot be read (missing file, corrupt data, unreachable URI).

    ``failures`` maps each bad input (path or URI, as given) to the reason; the whole batch is refused,
    so nothing of it is embedded or indexed. Each modality raises its own subclass.

    Args:
        message: the error message (names the inputs and how to fix them).
        failures: each bad input (path or URI, as given) -> the reason it cannot be read; kept as ``failures``.
    """

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})


class ImageLoadError(MediaLoadError):
    """One or more image inputs cannot be read (missing file, corrupt or non-image data, unreachable URI).

    Args:
        message: the error message (names the inputs and how to fix them).
        failures: each bad input (path or URI, as given) -> the reason it cannot be read; kept as ``failures``.
    """


class AudioLoadError(MediaLoadError):
    """One or more audio inputs cannot be read (missing file, undecodable data, no speech left after trimming).

    Args:
        message: the error message (names the inputs and how to fix them).
        failures: each bad input (path or URI, as given) -> the reason it cannot be read; kept as ``failures``.
    """


class VideoLoadError(MediaLoadError):
    """One or more video inputs cannot be read (missing file, undecodable stream, no frame in the asked time range).

    Args:
        message: the error message (names the inputs and how to fix them).
        failures: each bad input (path or URI, as given) -> the reason it cannot be read; kept as ``failures``.
    """


class DatasetFormatError(EmbCompareError, ValueError):
    """A data set file that cannot be read as its format says: the message names the file and line."""


class MissingLabelsError(DatasetFormatError):
    """Quality was asked for, but the data set has no relevance labels (qrels) for the split."""


class MetricCutoffError(InvalidParameterError):
    """A metric's cutoff (the 100 of ``recall@100``) is above the documents retrieved per query."""


class UncacheableEmbeddingsWarning(UserWarning):
    """An embeddings object with no stable cache key: its vectors are cached in memory only."""


__all__ = [
    "MissingCapabilityError",
    "EmbCompareError",
    "UnknownModelError",
    "DimensionMismatchError",
    "VectorSpaceMismatchError",
    "EmptyInputError",
    "InvalidVectorError",
    "MissingVectorError",
    "InvalidParameterError",
    "InvalidDocumentError",
    "StoreConnectionError",
    "StoreUnreachableError",
    "StoreAuthenticationError",
    "StorePermissionError",
    "StoreTLSError",
    "StoreTimeoutError",
    "SchemaMismatchError",
    "ModalityMismatchError",
    "MediaLoadError",
    "ImageLoadError",
    "AudioLoadError",
    "VideoLoadError",
    "DatasetFormatError",
    "MissingLabelsError",
    "MetricCutoffError",
    "UncacheableEmbeddingsWarning",
]
