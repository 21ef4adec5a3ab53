"""Load BEIR-format data sets (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

The format (as BEIR's ``GenericDataLoader`` reads it): ``corpus.jsonl`` holds one JSON object per
line with ``_id``, ``text`` and optional ``title`` / ``metadata``; ``queries.jsonl`` one object per
line with ``_id`` and ``text``; ``qrels/<split>.tsv`` tab-separated ``query-id corpus-id score`` rows
(integer grades) after an optional header line. Blank lines are skipped. Anything else raises
:class:`~langchain_embcompare.errors.DatasetFormatError` naming the file and the 1-based line number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from langchain_embcompare.errors import DatasetFormatError, EmptyInputError, InvalidParameterError, MissingLabelsError


#: The file a synthetic BEIR folder carries beside its queries: how queries and labels were made.
SYNTHETIC_MANIFEST = "synthetic_manifest.json"


@dataclass
class BeirDataset:
    """A corpus, its queries and their relevance labels (``qrels[qid][doc_id] = grade``).

    ``qrels_path`` is the labels file that was looked for (it may not exist: then ``qrels`` is empty).
    ``label_provenance`` says how queries and labels were made when they are not the data set's own
    human labels (the manifest of :mod:`~langchain_embcompare.evaluation.synthetic` or of an LLM judge,
    ``{"synthetic": True, "method": ..., ...}``); None for labels as given. Comparisons and the advisor
    copy it into their JSON and reports.

    Args:
        name: the data set's name (its folder name when loaded).
        corpus: the documents (``id`` = the corpus id).
        queries: ``{query id: query text or media reference}``.
        qrels: ``{query id: {doc id: grade}}``, grades int (BEIR: 0 = not relevant).
        qrels_path: the labels file that was looked for, or None.
        label_provenance: how queries and labels were made when not human, or None.
    """

    name: str
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    qrels_path: Path | None = None
    label_provenance: dict[str, Any] | None = None

    @property
    def texts(self) -> list[str]:
        """The corpus documents' ``page_content``, in corpus order (what a PCA rotation is fitted on)."""
        return [d.page_content for d in self.corpus]

    @property
    def modality(self) -> str:
        """What the corpus holds: "image", "audio" or "video" when its documents carry that metadata
        field (rows with an ``"image"`` / ``"audio"`` / ``"video"`` reference), else "text"."""
        meta = (self.corpus[0].metadata or {}) if self.corpus else {}
        return next((f for f in MEDIA_FIELDS if f in meta), "text")


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    """One dict per non-blank line; a line that is not a JSON object with ``required`` keys raises
    :class:`DatasetFormatError` with the file and line number."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(
                    f"{path}, line {lineno}: not valid JSON ({exc.msg} at column {exc.colno}). Each line of a BEIR "
                    f"{path.name} must be one JSON object, e.g. {{\"_id\": \"d1\", \"text\": \"...\"}}."
                ) from None
            if not isinstance(row, dict):
                raise DatasetFormatError(f"{path}, line {lineno}: expected a JSON object, got {type(row).__name__}.")
            missing = [k for k in required if k not in row]
            if missing:
                raise DatasetFormatError(
                    f"{path}, line {lineno}: missing field(s) {missing}; every line needs {list(required)}."
                )
            rows.append(row)
    return rows


#: Row fields that make a corpus row or query a media reference (checked in this order); the modality of
#: a data set is the field its corpus rows use (:attr:`BeirDataset.modality`).
MEDIA_FIELDS: tuple[str, ...] = ("image", "audio", "video")


def peek_modality(path: str | Path) -> str:
    """The modality of a data set without loading it: the media field (:data:`MEDIA_FIELDS`) of the first
    row of ``<path>/corpus.jsonl``, else "text" (also for other data shapes: QA files, document folders)."""
    corpus = Path(path) / "corpus.jsonl"
    if not corpus.is_file():
        return "text"
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return "text"  # load_beir names the bad line when the data set is read
                return next((m for m in MEDIA_FIELDS if isinstance(row, dict) and row.get(m)), "text")
    return "text"


def _media_ref(root: Path, ref: str) -> str:
    """A media row's reference (image, audio, video): URIs as they are, paths resolved against the data set
    folder; a ``#t=`` Media Fragment stays on the resolved path."""
    if "://" in ref or ref.startswith("data:"):
        return ref
    path = Path(ref).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: grade}}`` from a BEIR qrels TSV; a header line is allowed first."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = line.rstrip("\r\n").split("\t")
            if lineno == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue  # the header
            if len(row) < 3:
                raise DatasetFormatError(
                    f"{path}, line {lineno}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                    f"got {len(row)}: {line.strip()[:80]!r}."
                )
            try:
                grade = int(row[2])
            except ValueError:
                raise DatasetFormatError(
                    f"{path}, line {lineno}: the score {row[2]!r} is not an integer relevance grade."
                ) from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_beir(
    path: str | Path, split: str = "test", max_queries: int | None = None, *, require_qrels: bool = False
) -> BeirDataset:
    """Read a BEIR folder. Documents are ``"title text"`` (the BEIR / MTEB convention), ids kept.

    Media data sets: a corpus or query row with an ``"image"``, ``"audio"`` or ``"video"`` field (a path
    relative to the folder, or a URI) becomes that media reference: ``page_content`` / the query is the
    resolved path, ``metadata[<field>]`` holds it too, the row's ``text`` is kept as ``metadata["caption"]``
    (see ``scripts/make_image_set.py``, ``make_audio_set.py``, ``make_video_set.py``).

    Only queries that have labels in ``split`` are kept, as BEIR's own evaluation does. Without a
    ``qrels/<split>.tsv`` every query is kept and ``qrels`` is empty (label-free comparison), unless
    ``require_qrels`` is set: then :class:`MissingLabelsError` names the file looked for and the
    splits that do exist. Malformed lines raise :class:`DatasetFormatError` (file + line number).

    Args:
        path: the BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
        split: the qrels split (``qrels/<split>.tsv``).
        max_queries: keep the first this many (labelled) queries, or None for all.
        require_qrels: refuse a split without labels.

    Returns:
        The :class:`BeirDataset`.

    Raises:
        InvalidParameterError: ``corpus.jsonl`` or ``queries.jsonl`` is missing.
        MissingLabelsError: ``require_qrels`` and the split has no labels.
        EmptyInputError: the corpus holds no documents.
        DatasetFormatError: a malformed line, a query without text or media, labels of unknown queries,
            or a malformed synthetic manifest (each naming the file and line).
    """
    root = Path(path)
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (root / name).exists():
            raise InvalidParameterError(
                f"{root} is not a BEIR data set: {name} is missing. Expected corpus.jsonl, queries.jsonl and qrels/{split}.tsv."
            )
    qrels_path = root / "qrels" / f"{split}.tsv"
    qrels = _read_qrels(qrels_path) if qrels_path.exists() else {}
    if require_qrels and not qrels:
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        why = "holds no labels" if qrels_path.exists() else "does not exist"
        hint = f" Splits found: {splits}; pass --split (split=) with one of them." if splits else (
            " Add the relevance labels (tab-separated query-id, corpus-id, score) there, or use `embcompare compare`, "
            "which compares runs without labels."
        )
        raise MissingLabelsError(f"No relevance labels to score against: {qrels_path} {why}.{hint}")
    corpus = []
    for row in _read_jsonl(root / "corpus.jsonl", ("_id",)):
        field_name = next((f for f in MEDIA_FIELDS if row.get(f)), None)
        if field_name is not None:
            ref = _media_ref(root, row[field_name])
            meta = {"doc_id": str(row["_id"]), field_name: ref, "caption": row.get("text") or "", **(row.get("metadata") or {})}
            corpus.append(Document(page_content=ref, metadata=meta, id=str(row["_id"])))
            continue
        title, text = row.get("title") or "", row.get("text") or ""
        meta = {"doc_id": str(row["_id"]), "title": title, **(row.get("metadata") or {})}
        corpus.append(Document(page_content=f"{title} {text}".strip(), metadata=meta, id=str(row["_id"])))
    if not corpus:
        raise EmptyInputError(f"{root}/corpus.jsonl holds no documents.")
    queries = {}
    for r in _read_jsonl(root / "queries.jsonl", ("_id",)):
        field_name = next((f for f in MEDIA_FIELDS if r.get(f)), None)
        if field_name is not None:
            queries[str(r["_id"])] = _media_ref(root, r[field_name])
        elif "text" in r:
            queries[str(r["_id"])] = str(r["text"])
        else:
            raise DatasetFormatError(f"{root / 'queries.jsonl'}: query {r['_id']!r} has none of 'text', {', '.join(map(repr, MEDIA_FIELDS))}.")
    orphans = [qid for qid in qrels if qid not in queries]
    if orphans:  # they would count as 0 in every mean: a silently wrong score
        raise DatasetFormatError(
            f"{qrels_path} labels {len(orphans)} queries that {root / 'queries.jsonl'} does not have "
            f"(e.g. {orphans[:5]}): add their texts or remove their rows."
        )
    if qrels:
        queries = {qid: text for qid, text in queries.items() if qid in qrels}
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
        qrels = {qid: qrels[qid] for qid in queries if qid in qrels}
    manifest = root / SYNTHETIC_MANIFEST
    provenance = None
    if manifest.exists():  # a folder written by evaluation/synthetic.py: its labels are synthetic
        try:
            provenance = json.loads(manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{manifest}: not valid JSON ({exc.msg}, line {exc.lineno}).") from None
        if not isinstance(provenance, dict):
            raise DatasetFormatError(f"{manifest}: expected a JSON object, got {type(provenance).__name__}.")
    return BeirDataset(
        name=root.name, corpus=corpus, queries=queries, qrels=qrels, qrels_path=qrels_path, label_provenance=provenance
    )


def write_beir(
    folder: str | Path,
    corpus: list[dict[str, Any]],
    queries: list[dict[str, Any]],
    qrels: list[tuple[str, str]] | list[tuple[str, str, int]],
    split: str = "test",
) -> Path:
    """Write a BEIR folder that :func:`load_beir` reads back: ``corpus.jsonl`` and ``queries.jsonl`` (one
    JSON object per row, as given: ``_id`` plus ``text`` or a media field), ``qrels/<split>.tsv`` with a
    header and one ``query-id, corpus-id, grade`` row per pair (grade 1 when a pair has none).

    Args:
        folder: the target folder (created if missing); existing files of these names are replaced.
        corpus / queries: the rows. qrels: ``(query id, corpus id[, grade])`` tuples. split: the qrels file name.

    Returns:
        The folder, as a ``Path``.
    """
    root = Path(folder)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        with (root / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    with (root / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{p[0]}\t{p[1]}\t{p[2] if len(p) > 2 else 1}\n" for p in qrels)
    return root


__all__ = ["SYNTHETIC_MANIFEST", "BeirDataset", "load_beir"]
