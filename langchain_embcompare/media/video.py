"""Video embeddings from any image model: sampled frames, mean-pooled, and per-segment vectors.

:class:`VideoEmbeddings` wraps an image embeddings model (``ImageEmbeddings``, ``ClipEmbeddings``, any
LangChain ``Embeddings`` whose ``embed_documents`` takes image URIs). A video is decoded with PyAV
(FFmpeg), one frame is taken every ``1 / fps`` seconds (the first frame whose timestamp is at or after
each sampling time), every frame is embedded by the image model in one batch, and the video's vector is
the mean of its frames' vectors (mean pooling, as CLIP4Clip's parameter-free baseline, Luo et al. 2022).
A video of one still image therefore embeds like that image.

**Segments, to find the moment in a long video.** A reference may carry a W3C Media Fragment
``clip.mp4#t=30,40``: only seconds 30 to 40 are decoded and pooled. :meth:`VideoEmbeddings.segment_documents`
cuts videos into ``segment_seconds`` windows and returns one ``Document`` per window (``page_content`` =
the fragment reference, ``metadata`` = ``video``, ``start``, ``end``), so a store holds per-segment vectors
and a hit says where in the video the query matched.

Queries may be images (embedded by the image model as one frame), videos or segments; with a CLIP model,
texts too. The :class:`~langchain_embcompare.matryoshka.VectorSpace` modality is ``"video+"`` the image
model's (``"video+image"``, ``"video+text+image"`` for CLIP). Unreadable inputs refuse the whole batch with
one :class:`~langchain_embcompare.errors.VideoLoadError` naming each.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError, VideoLoadError
from langchain_embcompare.media.batch import MediaBatchLoader
from langchain_embcompare.media.refs import TimeRange, has_suffix, open_media, split_fragment
from langchain_embcompare.embedding_base import ArrayEmbeddingsBase, embedding_cache_key, encode_texts
from langchain_embcompare.embedding_base import model_id as model_name_of

__all__ = [
    "DEFAULT_FPS",
    "VIDEO_SUFFIXES",
    "VideoEmbeddings",
    "is_video_model_name",
    "is_video_ref",
    "parse_video_model_name",
    "probe_duration",
    "sample_frames",
    "write_slideshow",
]

#: Frames sampled per second by default.
DEFAULT_FPS = 1.0
#: File name endings read as video.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".3gp"})


def is_video_ref(item: Any) -> bool:
    """Whether ``item`` is meant as a video: a ``data:video/`` URI, or a path / URI whose name ends in a
    video suffix (:data:`VIDEO_SUFFIXES`), with or without a ``#t=`` fragment."""
    return has_suffix(item, VIDEO_SUFFIXES, "video")


def is_video_model_name(name: str) -> bool:
    """Whether ``load_embeddings(name)`` builds a :class:`VideoEmbeddings`: the ``video:`` prefix."""
    return name.lower().startswith("video:")


def parse_video_model_name(name: str) -> tuple[str, float]:
    """``"video:<image model>[@<fps>fps]"`` -> ``(image model name, fps)``."""
    body = name.split(":", 1)[1]
    head, at, tail = body.rpartition("@")
    if at and tail.lower().endswith("fps"):
        try:
            return head, float(tail[:-3])
        except ValueError:
            raise InvalidParameterError(f"Video model {name!r}: {tail!r} is not a frame rate like '2fps'.") from None
    return body, DEFAULT_FPS


def probe_duration(ref: str | bytes, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> float:
    """The duration in seconds of a video's first video stream (container duration when the stream has none)."""
    import av

    with av.open(open_media(ref, fetched, timeout)) as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return float(container.duration) / 1_000_000  # av.time_base: microseconds
        last = 0.0
        for frame in container.decode(stream):
            last = float(frame.time or 0.0)
        return last


def sample_frames(ref: str | bytes, fps: float, fetched: dict[str, bytes] | None = None, timeout: float = 30.0) -> list[Any]:
    """Decode one frame every ``1 / fps`` seconds (of the ``#t=`` fragment, if the reference has one) as RGB
    ``PIL.Image`` s: at each sampling time ``start + k / fps``, the first frame whose timestamp is at or after it.

    Raises ``ValueError`` when the file has no video stream or no frame falls in the range, ``OSError`` /
    ``av`` errors for unreadable files."""
    import av

    frag = split_fragment(ref)[1] if isinstance(ref, str) else None
    span = frag or TimeRange()
    step = 1.0 / fps
    frames: list[Any] = []
    with av.open(open_media(ref, fetched, timeout)) as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if span.start > 0 and stream.time_base is not None:
            container.seek(int(span.start / stream.time_base), stream=stream, backward=True, any_frame=False)
        target = span.start
        for frame in container.decode(stream):
            t = float(frame.time) if frame.time is not None else target
            if span.end is not None and t >= span.end - 1e-9:
                break
            if t < target - 1e-6:
                continue
            frames.append(frame.to_image())
            while target <= t + 1e-6:  # the next sampling time after this frame
                target += step
    if not frames:
        raise ValueError(f"no video frame in {'#' + str(frag) if frag else 'the file'}")
    return frames


def _png_uri(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class VideoEmbeddings(ArrayEmbeddingsBase):
    """Videos as LangChain ``Embeddings`` through any image model: sampled frames, mean-pooled.

    Args:
        image_embeddings: the image model (an ``Embeddings`` taking image URIs, or an image model name for
            :func:`~langchain_embcompare.media.images.load_image_embeddings`, default ``"efficientnet-lite0"``).
        fps: frames sampled per second of video (> 0).
        batch_size: videos decoded per step (their frames are embedded in one call of the image model).
        num_workers: decoding threads (default min(4, CPUs)). timeout: seconds for an http(s) fetch.
        model_id: overrides the vector-space name (default ``video:<image model id>[@<fps>fps]``).

    Raises:
        InvalidParameterError: ``fps`` <= 0.
        UnknownModelError: ``image_embeddings`` names no image model.
        VideoLoadError: (when embedding) any unreadable video; the whole batch is refused.
    """

    def __init__(
        self,
        image_embeddings: Embeddings | str = "efficientnet-lite0",
        *,
        fps: float = DEFAULT_FPS,
        batch_size: int = 8,
        num_workers: int | None = None,
        timeout: float = 30.0,
        model_id: str | None = None,
    ) -> None:
        if not float(fps) > 0:
            raise InvalidParameterError(f"fps must be a positive frame rate, got {fps!r}.")
        if int(batch_size) <= 0:
            raise InvalidParameterError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if isinstance(image_embeddings, str):
            from langchain_embcompare.media.images import load_image_embeddings

            image_embeddings = load_image_embeddings(image_embeddings)
        self.image_embeddings = image_embeddings
        self.fps = float(fps)
        self.batch_size = int(batch_size)
        self.loader = MediaBatchLoader("video", VideoLoadError, num_workers, timeout)
        image_id = model_name_of(self.image_embeddings)
        self.model_id = model_id or (f"video:{image_id}" + (f"@{self.fps:g}fps" if self.fps != DEFAULT_FPS else ""))
        image_modality = str(getattr(self.image_embeddings, "modality", "image") or "image")
        self.modality = "video+" + image_modality

    @property
    def native_dim(self) -> int | None:  # type: ignore[override]
        """The image model's output dimension (None when it is not known before embedding)."""
        value = getattr(self.image_embeddings, "native_dim", None)
        return value if isinstance(value, int) and value > 0 else None

    def cache_config(self) -> dict[str, Any]:
        """The image model's own cache key, the frame rate and the modality.

        Returns:
            ``{"model_id": str, "fps": float, "image": the image model's cache key (a dict, or None)}``.
        """
        return {"model_id": self.model_id, "fps": self.fps, "image": embedding_cache_key(self.image_embeddings)}

    def _who(self) -> str:
        return f"VideoEmbeddings({self.model_id!r})"

    def cache_keys(self, inputs: Sequence[Any]) -> list[str]:
        """File path + size + mtime (or SHA-1 of the bytes) + fragment for videos and image files; ``text\\0<text>``
        for other strings (CLIP texts; the image model refuses them if it cannot embed text).

        Args:
            inputs: video / image paths, URIs or raw bytes, and (CLIP) texts.

        Returns:
            One cache key (str) per input, in input order.

        Raises:
            VideoLoadError: a video or image cannot be read (naming every bad input).
        """
        items = list(inputs)
        media = [isinstance(t, (bytes, bytearray)) or is_video_ref(t) or _is_image_like(t) for t in items]
        keys = iter(self.loader.keys([t for t, m in zip(items, media) if m], self._who()))
        return [next(keys) if m else "text\x00" + t for t, m in zip(items, media)]

    def _frames(self, item: Any) -> list[Any]:
        return sample_frames(item, self.fps, self.loader.fetched, self.loader.timeout)

    def frame_vectors(self, videos: Sequence[Any]) -> list[np.ndarray]:
        """Per video, its sampled frames' image vectors, (n_frames_i, dim) float32 (frame times ``start + k / fps``).

        Args:
            videos: video paths, URIs (a ``#t=start,end`` fragment selects a time range) or raw bytes.

        Returns:
            One (n_frames_i, dim) float32 array per video, in input order.

        Raises:
            VideoLoadError: a video cannot be read, or has no frame in the asked range (naming every bad input).
        """
        videos = list(videos)
        out: list[np.ndarray] = []
        for start in range(0, len(videos), self.batch_size):
            chunk = self.loader.load(videos[start : start + self.batch_size], self._frames, self._who())
            counts = [len(f) for f in chunk]
            uris = [_png_uri(img) for frames in chunk for img in frames]
            vecs = encode_texts(self.image_embeddings, uris)
            out.extend(np.split(np.asarray(vecs, np.float32), np.cumsum(counts)[:-1]))
        return out

    def encode(self, texts: Sequence[Any], prompt: str | None = None) -> np.ndarray:
        """Videos (mean of their frames), images and, for CLIP, texts -> (n, dim) float32 in input order.

        Images and texts go to the image model as they are (an image is a one-frame video); ``prompt``
        is passed on to it for texts.

        Args:
            texts: videos, images and (CLIP) texts, mixed, as paths, URIs or raw bytes.
            prompt: passed to the image model for texts, or None.

        Returns:
            (n, dim) float32 array.

        Raises:
            EmptyInputError: ``texts`` is empty.
            VideoLoadError: a video cannot be read (naming every bad input).
        """
        items = list(texts)
        if not items:
            raise EmptyInputError("Nothing to embed: got an empty list of videos. Pass at least one video path or URI.")
        is_video = np.asarray([isinstance(t, (bytes, bytearray)) or is_video_ref(t) for t in items], dtype=bool)
        out: np.ndarray | None = None
        if is_video.any():
            idx = np.flatnonzero(is_video)
            pooled = np.stack([f.mean(axis=0) for f in self.frame_vectors([items[i] for i in idx])])
            out = np.empty((len(items), pooled.shape[1]), np.float32)
            out[idx] = pooled
        if (~is_video).any():
            idx = np.flatnonzero(~is_video)
            vecs = np.asarray(encode_texts(self.image_embeddings, [items[i] for i in idx], prompt), np.float32)
            if out is None:
                out = np.empty((len(items), vecs.shape[1]), np.float32)
            out[idx] = vecs
        assert out is not None
        return out

    def segment_ranges(self, ref: str | bytes, segment_seconds: float) -> list[TimeRange]:
        """Consecutive ``segment_seconds`` windows covering the video (the last one may be shorter).

        Args:
            ref: a video path, URI or raw bytes.
            segment_seconds: window length in seconds, > 0.

        Returns:
            The windows as ``TimeRange(start, end)`` in seconds, in time order.

        Raises:
            InvalidParameterError: ``segment_seconds`` is not positive.
            VideoLoadError: the video cannot be read.
        """
        if not float(segment_seconds) > 0:
            raise InvalidParameterError(f"segment_seconds must be positive, got {segment_seconds!r}.")
        duration = self.loader.load([ref], lambda r: probe_duration(r, self.loader.fetched, self.loader.timeout), self._who())[0]
        n = max(1, int(np.ceil(duration / segment_seconds - 1e-9)))
        edges = np.minimum(np.arange(n + 1) * float(segment_seconds), duration)
        return [TimeRange(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [TimeRange(0.0, None)]

    def segment_documents(
        self, refs: Iterable[str], segment_seconds: float = 5.0, metadatas: Iterable[dict] | None = None
    ) -> list[Document]:
        """One ``Document`` per ``segment_seconds`` window of each video: ``page_content`` = ``<ref>#t=<start>,<end>``,
        ``metadata`` = ``{"video": ref, "start": s, "end": s, "segment": i, **metadata}``, ``id`` = ``<video id>#<i>``
        when the video's metadata has ``doc_id`` (else the fragment reference).

        Args:
            refs: video paths or URIs.
            segment_seconds: window length in seconds, > 0.
            metadatas: one metadata dict per video (default: empty dicts).

        Returns:
            The segment Documents, video by video, in time order.

        Raises:
            InvalidParameterError: ``segment_seconds`` is not positive, or not one metadata dict per video.
            VideoLoadError: a video cannot be read.
        """
        refs = list(refs)
        metas = list(metadatas) if metadatas is not None else [{} for _ in refs]
        if len(metas) != len(refs):
            raise InvalidParameterError(f"Got {len(metas)} metadatas for {len(refs)} videos: pass one per video.")
        docs = []
        for ref, meta in zip(refs, metas):
            for i, span in enumerate(self.segment_ranges(ref, segment_seconds)):
                end = span.end if span.end is not None else span.start + segment_seconds
                frag = f"{ref}#t={span.start:g},{end:g}"
                doc_id = f"{meta['doc_id']}#{i}" if "doc_id" in meta else frag
                docs.append(Document(page_content=frag, id=doc_id, metadata={**meta, "video": ref, "start": span.start, "end": end, "segment": i, "doc_id": doc_id}))
        return docs

    def __repr__(self) -> str:
        return f"VideoEmbeddings({self.model_id!r}, fps={self.fps:g}, dim={self.native_dim})"


def _is_image_like(item: Any) -> bool:
    """An input the image model reads as an image (its ``is_image_ref`` rule: URI, image suffix, existing file)."""
    from langchain_embcompare.media.images import is_image_ref

    return isinstance(item, str) and is_image_ref(item)


def write_slideshow(
    path: str,
    images: Sequence[Any],
    seconds_per_image: float = 2.0,
    fps: int = 4,
    size: int | None = None,
    crf: int = 10,
    pix_fmt: str = "yuv444p",
) -> float:
    """Encode images as an H.264 MP4 (via PyAV / FFmpeg), each shown for ``seconds_per_image`` at ``fps``:
    the video sets of ``scripts/make_video_set.py`` and the tests. ``images`` are paths or PIL images,
    resized to ``size`` x ``size`` (default: the first image's size, rounded to even). ``crf`` is x264's
    constant rate factor (0 = lossless, 18 = visually lossless); ``pix_fmt`` "yuv444p" (default) keeps full
    colour resolution (4:2:0 subsampling blurs the colour edges of small synthetic images enough to move
    their embeddings: cosine 0.96 to the image for a 64 px shape at yuv420p, 0.997 at yuv444p, crf 10),
    "yuv420p" plays in every browser. Returns the duration in seconds."""
    import av
    from PIL import Image

    pics = [Image.open(p).convert("RGB") if isinstance(p, (str, bytes)) or hasattr(p, "__fspath__") else p.convert("RGB") for p in images]
    if not pics:
        raise EmptyInputError("write_slideshow needs at least one image.")
    w, h = (size, size) if size else (pics[0].width - pics[0].width % 2, pics[0].height - pics[0].height % 2)
    per = max(1, int(round(seconds_per_image * fps)))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for pic in pics:
            frame = av.VideoFrame.from_image(pic.resize((w, h), Image.Resampling.BICUBIC) if pic.size != (w, h) else pic)
            for _ in range(per):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return len(pics) * per / fps
