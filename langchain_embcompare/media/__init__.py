"""Media embeddings: audio and video (and, after the move, images) on the same path as text.

Layout, one job per module: :mod:`.refs` (references of every modality: paths, URIs, bytes, fragments,
cache keys, failures), :mod:`.batch` (threaded batch decoding that refuses a batch with one error),
:mod:`.audio` (:class:`AudioEmbeddings`), :mod:`.video` (:class:`VideoEmbeddings`).
"""

from langchain_embcompare.media.audio import AudioEmbeddings

__all__ = ["AudioEmbeddings"]
