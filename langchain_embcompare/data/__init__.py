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


__all__ = ["demo_dataset_path"]
