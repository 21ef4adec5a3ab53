"""Media embeddings: images, audio and video on the same path as text (one home for every non-text modality).

Layout, one job per module:

- :mod:`.refs`: references of every modality (paths, ``file://`` / ``http(s)://`` / ``data:`` URIs, ``bytes``,
  ``#t=`` Media Fragments), their cache keys and failure messages;
- :mod:`.batch`: threaded batch decoding that refuses a batch with one error naming every bad input;
- :mod:`.images` (+ :mod:`.image_refs`, :mod:`.image_backbones`, :mod:`.image_embeddings`): ``ImageEmbeddings``,
  ``ClipEmbeddings``;
- :mod:`.audio`: ``AudioEmbeddings`` (Resemblyzer offline; transformers and CLAP adapters);
- :mod:`.video`: ``VideoEmbeddings`` over any image model (frames at a chosen rate, mean-pooled, per-segment).

Every class here is a LangChain ``Embeddings`` with the package's numpy fast path (``encode`` / ``cache_keys``)
and a ``modality`` that :class:`~langchain_embcompare.matryoshka.VectorSpace` records.
"""

from langchain_embcompare.media.audio import AudioEmbeddings
from langchain_embcompare.media.images import ClipEmbeddings, ImageEmbeddings
from langchain_embcompare.media.video import VideoEmbeddings

__all__ = ["AudioEmbeddings", "ClipEmbeddings", "ImageEmbeddings", "VideoEmbeddings"]
