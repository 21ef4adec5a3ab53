"""Video through any image model: VideoEmbeddings (frames at a chosen rate, mean-pooled, per-segment vectors).

Unit tests embed frames with a tiny colour backbone (mean colour of 4 image quadrants, 12-d) so that the
frame sampling, pooling, fragments and segments can be checked against known content; the real
EfficientNet-Lite0 tests (a still video embeds like its image, CLI on ``tests/data/video-small``, made by
``scripts/make_video_set.py --clips 3 --per-clip 3 --seconds 1 --queries 2``) are marked integration.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from langchain_embcompare import (
    FaissVectorStore,
    ImageEmbeddings,
    InvalidParameterError,
    MatryoshkaEmbeddings,
    VideoEmbeddings,
    VideoLoadError,
    load_beir,
    load_embeddings,
)
from langchain_embcompare.media.images import Backbone, Preprocess
from langchain_embcompare.media.video import is_video_ref, sample_frames, write_slideshow

DATA = Path(__file__).resolve().parent / "data" / "video-small"
SHAPES = Path(__file__).resolve().parents[1] / "langchain_embcompare" / "data" / "images" / "corpus"
SKLEARN_IMAGES = Path(__import__("sklearn.datasets").datasets.__file__).parent / "images"
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 40, 210), (230, 230, 30)]


def _quadrant_backbone() -> Backbone:
    import torch

    def features(x):  # (n, 3, 16, 16) -> mean colour of each quadrant, (n, 12), shifted positive
        q = x.unfold(2, 8, 8).unfold(3, 8, 8).mean(dim=(-1, -2))  # (n, 3, 2, 2)
        return q.reshape(len(x), -1) + 2.0

    return Backbone(torch.nn.Identity(), features, 12, Preprocess(size=16, crop_pct=1.0, interpolation="bilinear"))


@pytest.fixture
def colour_images(tmp_path):
    paths = []
    for i, c in enumerate(COLOURS):
        img = Image.new("RGB", (32, 32), c)
        img.paste((255, 255, 255), (0, 0, 16, 16))  # a white top-left quadrant on each
        paths.append(str(tmp_path / f"c{i}.png"))
        img.save(paths[-1])
    return paths


@pytest.fixture
def video(colour_images):
    image = ImageEmbeddings(_quadrant_backbone(), model_id="quadrants", num_workers=1)
    return VideoEmbeddings(image, fps=2.0)


@pytest.fixture
def slideshow(colour_images, tmp_path):
    """4 s: red, green, blue, yellow, one second each (encoded at 4 fps, lossless)."""
    path = tmp_path / "show.mp4"
    write_slideshow(str(path), colour_images, seconds_per_image=1.0, fps=4, crf=0)
    return str(path)


def _cos(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


# --------------------------------------------------------------------------- frames, pooling, segments


def test_frames_are_sampled_at_the_chosen_rate_and_fragment(slideshow):
    assert len(sample_frames(slideshow, 1.0)) == 4 and len(sample_frames(slideshow, 2.0)) == 8
    assert len(sample_frames(slideshow, 4.0)) == 16
    part = sample_frames(f"{slideshow}#t=1,2", 2.0)  # seconds 1-2: the green image only
    assert len(part) == 2 and all(np.asarray(f)[24, 24, 1] > 150 > np.asarray(f)[24, 24, 0] for f in part)
    with pytest.raises(ValueError, match="no video frame"):
        sample_frames(f"{slideshow}#t=9,10", 1.0)


def test_video_vector_is_the_mean_of_its_frames_and_segments_find_the_moment(video, slideshow, colour_images):
    frames = video.frame_vectors([slideshow])[0]
    assert frames.shape == (8, 12)  # 4 s at 2 frames per second
    np.testing.assert_allclose(video.encode([slideshow])[0], frames.mean(axis=0), rtol=1e-5)
    docs = video.segment_documents([slideshow], segment_seconds=1.0, metadatas=[{"doc_id": "show"}])
    assert [(d.metadata["start"], d.metadata["end"]) for d in docs] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert docs[2].id == "show#2" and docs[2].page_content == f"{slideshow}#t=2,3"
    store = FaissVectorStore.from_documents(docs, MatryoshkaEmbeddings(video, cache_dir=None))
    for i, image in enumerate(colour_images):  # an image query finds the second it is on screen
        top = store.similarity_search(image, k=1)[0]
        assert top.metadata["segment"] == i and top.metadata["video"] == slideshow


def test_space_names_and_load_by_name(video, tmp_path):
    assert video.modality == "video+image" and video.model_id == "video:quadrants@2fps"
    emb = load_embeddings("video:efficientnet-lite0@2fps")
    assert isinstance(emb, VideoEmbeddings) and emb.fps == 2.0 and emb.model_id == "video:efficientnet-lite0@2fps"
    assert load_embeddings("video:efficientnet-lite0").model_id == "video:efficientnet-lite0"
    with pytest.raises(InvalidParameterError, match="fps"):
        VideoEmbeddings(video.image_embeddings, fps=0)
    assert is_video_ref("a.MP4#t=1,2") and is_video_ref("https://h/v.webm") and not is_video_ref("x.png")


def test_bad_videos_refuse_the_batch_naming_each(video, slideshow, tmp_path, colour_images):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(Path(slideshow).read_bytes()[:200])
    missing = str(tmp_path / "missing.mp4")
    with pytest.raises(VideoLoadError) as exc:
        video.encode([slideshow, str(broken), missing])
    assert set(exc.value.failures) == {str(broken), missing} and exc.value.failures[missing] == "file not found"
    assert "2 of 3 video inputs" in str(exc.value)


def test_cache_keys_follow_file_changes_and_fragments(video, slideshow, colour_images):
    k1, k2, k3 = video.cache_keys([slideshow, f"{slideshow}#t=1,2", colour_images[0]])
    assert k1.startswith("file\x00") and k2 == k1 + "\x00t=1,2" and k3.startswith("file\x00")
    os.utime(slideshow, ns=(1, 1))
    assert video.cache_keys([slideshow])[0] != k1


# --------------------------------------------------------------------------- the real image model


@pytest.fixture(scope="module")
def lite0_video():
    return VideoEmbeddings(ImageEmbeddings(), fps=1.0)


@pytest.mark.integration
@pytest.mark.parametrize("image", [str(SKLEARN_IMAGES / "flower.jpg"), str(SHAPES / "star-03.png")])
def test_a_video_of_one_still_image_embeds_like_that_image(lite0_video, image, tmp_path):
    clip = tmp_path / "still.mp4"
    write_slideshow(str(clip), [image], seconds_per_image=3.0, fps=4)  # the package's default encoding (x264 crf 10)
    vecs = lite0_video.encode([str(clip), image])
    assert len(lite0_video.frame_vectors([str(clip)])[0]) == 3
    assert _cos(vecs[0], vecs[1]) >= 0.99


@pytest.mark.integration
def test_cli_evaluates_a_video_set_with_image_queries(tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app

    ds = load_beir(DATA)
    assert ds.modality == "video" and all(q.endswith(".png") for q in ds.queries.values())
    out = tmp_path / "v.json"
    res = CliRunner().invoke(app, ["eval", str(DATA), "--k", "3", "--metrics", "ndcg@3,recall@3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["settings"]["model"] == "video:efficientnet-lite0" and result["space"]["modality"] == "video+image"
    assert result["recall@3"] == 1.0 and result["ndcg@3"] >= 0.9


def test_make_video_set_plan_puts_each_query_in_its_clips():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import make_video_set

    names = [f"img-{i:02d}" for i in range(40)]
    clips, queries = make_video_set.plan(names, clips=8, per_clip=4, queries=6, repeats=2, seed=1)
    assert len(clips) == 8 and all(len(c) == 4 for c in clips) and len(queries) == 6
    for q in queries:
        assert sum(q in c for c in clips) == 2
    qrels = (DATA / "qrels" / "test.tsv").read_text().split("\n")[1:]
    shows = {json.loads(line)["_id"]: json.loads(line)["metadata"]["shows"].split() for line in (DATA / "corpus.jsonl").read_text().splitlines()}
    for row in filter(None, qrels):
        qid, cid, _ = row.split("\t")
        assert qid[2:] in shows[cid]  # the shipped slice: a query's relevant clips show its image


@pytest.mark.integration
def test_media_demo_finds_every_moment(tmp_path):
    from langchain_embcompare.demo import run_media_demo

    result = run_media_demo(tmp_path, say=lambda m: None)
    assert len(result["videos"]) == 4 and all(Path(v).is_file() for v in result["videos"])
    for hit in result["hits"]:  # each image query lands in its clip, in the 2 seconds it is on screen
        assert (hit["video"], hit["start"]) == (hit["expected_video"], hit["expected_start"])
