"""Data files shipped with the package (the demo data set)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def demo_dataset_path() -> Path:
    """Folder of the bundled BEIR-format demo set (corpus.jsonl, queries.jsonl, qrels/test.tsv).

    Resolved through importlib.resources so it works from a source checkout and an installed wheel.
    """
    path = Path(str(resources.files(__package__).joinpath("demo")))
    if not (path / "corpus.jsonl").is_file():
        raise FileNotFoundError(
            f"demo data set not found at {path}; reinstall langchain-embcompare "
            "(package data 'langchain_embcompare/data/demo/*' must be included)"
        )
    return path


def image_dataset_path() -> Path:
    """Folder of the bundled labelled image set (BEIR format; rows carry ``image`` paths relative to it):
    200 shape images in 10 classes + 30 held-out query images, made by ``scripts/make_image_set.py``."""
    path = Path(str(resources.files(__package__).joinpath("images")))
    if not (path / "corpus.jsonl").is_file():
        raise FileNotFoundError(f"image data set not found at {path}; reinstall langchain-embcompare (package data data/images/*)")
    return path


__all__ = ["demo_dataset_path", "image_dataset_path"]
