"""Data shapes users actually have, each read into the same :class:`BeirDataset`.

* a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``): :func:`load_beir`;
* question/answer pairs (CSV, TSV or JSONL; one row per (question, relevant passage)): :func:`load_qa_pairs`;
* a folder of plain documents (``.txt``/``.md``, one document per file) plus a list of queries, no
  labels (label-free mode): :func:`load_documents_folder`;
* an ``ir_datasets`` name (``irds:beir/scifact/test``), from data ``ir_datasets`` already holds locally:
  :func:`load_ir_dataset` (nothing is downloaded).

:func:`load_dataset` picks the right one from the path. Every loader reports what it read
(:class:`DatasetReport`: documents, queries, judged pairs, queries without judgments, and what it had
to skip) as ``dataset.report``; :func:`dataset_report` computes it for any :class:`BeirDataset`.
A malformed row raises an error naming the file and the line.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

from langchain_embcompare.errors import EmptyInputError, InvalidParameterError
from langchain_embcompare.evaluation.datasets import BeirDataset, load_beir

__all__ = [
    "DatasetReport",
    "dataset_report",
    "load_corpus",
    "load_dataset",
    "load_qa_pairs",
    "load_documents_folder",
    "load_ir_dataset",
    "load_queries",
    "IR_DATASETS_PREFIXES",
]

#: Column names tried, in order, for each role in a question/answer file.
QUESTION_FIELDS = ("question", "query", "q")
QUERY_ID_FIELDS = ("query_id", "qid", "question_id")
PASSAGE_ID_FIELDS = ("passage_id", "doc_id", "corpus_id", "answer_id", "context_id")
PASSAGE_TEXT_FIELDS = ("passage", "answer", "context", "text", "document")
SCORE_FIELDS = ("score", "relevance", "label")
#: A data-set name with one of these prefixes is read through ir_datasets.
IR_DATASETS_PREFIXES = ("irds:", "ir_datasets:")
DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".rst")


@dataclass
class DatasetReport:
    """What a loader read: counts, plus notes on anything it skipped or merged.

    ``documents``: corpus size; ``queries``: queries kept; ``judged_pairs``: (query, document) labels;
    ``queries_without_judgments``: queries kept with no label (label-free mode: all of them);
    ``notes``: human-readable lines (duplicates merged, rows skipped and why).
    """

    source: str
    kind: str
    documents: int
    queries: int
    judged_pairs: int
    queries_without_judgments: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        text = (
            f"{self.source} ({self.kind}): {self.documents} documents, {self.queries} queries, "
            f"{self.judged_pairs} judged pairs, {self.queries_without_judgments} queries without judgments"
        )
        return text + "".join(f"; {n}" for n in self.notes)


def dataset_report(ds: BeirDataset, source: str | None = None, kind: str = "beir", notes: Sequence[str] = ()) -> DatasetReport:
    """The report a loader attached (``ds.report``), or one computed from the data set itself."""
    existing = getattr(ds, "report", None)
    if isinstance(existing, DatasetReport):
        return existing
    judged = sum(len(v) for qid, v in ds.qrels.items() if qid in ds.queries)
    return DatasetReport(
        source=source or ds.name,
        kind=kind,
        documents=len(ds.corpus),
        queries=len(ds.queries),
        judged_pairs=judged,
        queries_without_judgments=sum(1 for q in ds.queries if not ds.qrels.get(q)),
        notes=list(notes),
    )


def _attach(ds: BeirDataset, source: str, kind: str, notes: Sequence[str] = ()) -> BeirDataset:
    ds.report = dataset_report(ds, source, kind, notes)  # type: ignore[attr-defined]
    return ds


# --------------------------------------------------------------------------- rows from CSV / JSONL


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line, row dict) from a CSV/TSV (header line) or JSONL file; a bad line raises naming it."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidParameterError(f"{path}: line {n} is not valid JSON ({exc.msg}).") from exc
                if not isinstance(obj, dict):
                    raise InvalidParameterError(f"{path}: line {n} is a {type(obj).__name__}, not a JSON object.")
                yield n, obj
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            if not reader.fieldnames:
                raise EmptyInputError(f"{path} is empty: expected a header line.")
            for row in reader:
                line = reader.line_num
                if None in row:  # more cells than header names
                    raise InvalidParameterError(
                        f"{path}: line {line} has {len(reader.fieldnames) + len(row[None])} cells but the header has "
                        f"{len(reader.fieldnames)}: quote cells that contain the delimiter."
                    )
                if any(v is None for v in row.values()):
                    raise InvalidParameterError(f"{path}: line {line} has fewer cells than the header ({reader.fieldnames}).")
                yield line, row
    else:
        raise InvalidParameterError(f"{path}: unknown format {suffix!r}; use .csv, .tsv or .jsonl.")


def _field(row: Mapping[str, Any], names: Sequence[str], given: str | None) -> str | None:
    if given is not None:
        return given if given in row else None
    return next((n for n in names if n in row), None)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _read_corpus(path: Path) -> list[Document]:
    """A corpus: a BEIR ``corpus.jsonl``-like JSONL/CSV (``_id``/``id``, ``text``, optional ``title``) or a folder."""
    if path.is_dir():
        if (path / "corpus.jsonl").exists():
            return load_beir_corpus(path / "corpus.jsonl")
        return _folder_documents(path)
    if path.suffix.lower() == ".jsonl" or path.suffix.lower() == ".csv" or path.suffix.lower() == ".tsv":
        return load_beir_corpus(path)
    raise InvalidParameterError(f"{path}: a corpus is a .jsonl/.csv/.tsv file (id, text[, title]) or a folder of documents.")


def load_beir_corpus(path: Path) -> list[Document]:
    """Documents from rows with an id (``_id`` or ``id``) and ``text`` (+ optional ``title``): ``"title text"``."""
    docs = []
    seen: dict[str, int] = {}
    for line, row in _rows(path):
        id_key = "_id" if "_id" in row else "id" if "id" in row else None
        if id_key is None or _text(row[id_key]) == "":
            raise InvalidParameterError(f"{path}: line {line} has no document id ('_id' or 'id').")
        doc_id = _text(row[id_key])
        if doc_id in seen:
            raise InvalidParameterError(f"{path}: line {line} repeats document id {doc_id!r} (first on line {seen[doc_id]}).")
        seen[doc_id] = line
        title, text = _text(row.get("title")), _text(row.get("text"))
        if not (title or text):
            raise InvalidParameterError(f"{path}: line {line} (document {doc_id!r}) has no 'text' (nor 'title').")
        extra = row.get("metadata")
        meta = {"doc_id": doc_id, "title": title, **(extra if isinstance(extra, dict) else {})}
        docs.append(Document(page_content=f"{title} {text}".strip(), metadata=meta, id=doc_id))
    return docs


# --------------------------------------------------------------------------- question / answer pairs


def load_qa_pairs(
    path: str | Path,
    *,
    corpus: str | Path | None = None,
    question_field: str | None = None,
    passage_id_field: str | None = None,
    passage_field: str | None = None,
    query_id_field: str | None = None,
    name: str | None = None,
) -> BeirDataset:
    """Question/answer pairs -> queries + qrels (+ a corpus).

    One row per (question, relevant passage); a question on several rows gets several relevant
    passages (grade from a ``score``/``relevance``/``label`` column, default 1). Each row names its
    passage by id (``passage_id``, ``doc_id``, ``corpus_id``, ...; the passage must be in ``corpus``) or by
    text (``passage``, ``answer``, ``context``, ``text``, ...). Passages given as text become corpus
    documents ``p0, p1, ...`` (identical texts share one id); ``corpus`` may add distractor passages
    (a JSONL/CSV with ``_id``/``id`` + ``text``, a BEIR folder, or a folder of documents). Query ids come
    from ``query_id``/``qid`` when present, else ``q0, q1, ...`` in order of first appearance (identical
    question texts share one query).

    Raises InvalidParameterError naming the file and line for a row without a question, without a
    passage, with an unknown passage id, or with a non-integer score; EmptyInputError for no rows.

    Args:
        path: the ``.csv`` / ``.tsv`` / ``.jsonl`` file of question/passage rows.
        corpus: a corpus adding (distractor) passages, or None.
        question_field: the question column (default: the first known name found).
        passage_id_field: the passage-id column (default: the first known name found).
        passage_field: the passage-text column (default: the first known name found).
        query_id_field: the query-id column (default: the first known name found, else ``q0, q1, ...``).
        name: the data set's name (default: the file's stem).

    Returns:
        The :class:`BeirDataset` (with ``.report``).

    Raises:
        InvalidParameterError: the file is missing or malformed, or a row breaks a rule above (file and line named).
        EmptyInputError: no rows.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterError(f"Question/answer file {p} does not exist.")
    docs: list[Document] = _read_corpus(Path(corpus)) if corpus is not None else []
    doc_ids = {d.id for d in docs}
    by_text: dict[str, str] = {d.page_content: d.id for d in docs}
    queries: dict[str, str] = {}
    qid_of_text: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    notes: list[str] = []
    repeated = 0
    fields: dict[str, str | None] | None = None
    n_rows = 0
    for line, row in _rows(p):
        n_rows += 1
        if fields is None:
            fields = {
                "question": _field(row, QUESTION_FIELDS, question_field),
                "qid": _field(row, QUERY_ID_FIELDS, query_id_field),
                "pid": _field(row, PASSAGE_ID_FIELDS, passage_id_field),
                "passage": _field(row, PASSAGE_TEXT_FIELDS, passage_field),
                "score": _field(row, SCORE_FIELDS, None),
            }
            if fields["question"] is None:
                raise InvalidParameterError(
                    f"{p}: line {line} has no question column; expected one of {QUESTION_FIELDS} (or question_field=), got {list(row)}."
                )
            if fields["pid"] is None and fields["passage"] is None:
                raise InvalidParameterError(
                    f"{p}: line {line} has no passage column; expected an id column {PASSAGE_ID_FIELDS} or a text column "
                    f"{PASSAGE_TEXT_FIELDS}, got {list(row)}."
                )
        question = _text(row.get(fields["question"]))
        if not question:
            raise InvalidParameterError(f"{p}: line {line} has an empty question ({fields['question']!r}).")
        if fields["qid"] is not None and _text(row.get(fields["qid"])):
            qid = _text(row[fields["qid"]])
            if qid in queries and queries[qid] != question:
                raise InvalidParameterError(
                    f"{p}: line {line} gives query id {qid!r} the question {question[:60]!r}, but an earlier line gave it "
                    f"{queries[qid][:60]!r}: one id, one question."
                )
        else:
            qid = qid_of_text.get(question) or f"q{len(queries)}"
        queries[qid] = question
        qid_of_text.setdefault(question, qid)
        pid = _text(row.get(fields["pid"])) if fields["pid"] is not None else ""
        passage = _text(row.get(fields["passage"])) if fields["passage"] is not None else ""
        if pid:
            if pid not in doc_ids:
                if not passage:
                    raise InvalidParameterError(
                        f"{p}: line {line} names passage id {pid!r}, which is not in the corpus "
                        f"({'none given: pass corpus=' if corpus is None else corpus}). Add it to the corpus, or give its text."
                    )
                docs.append(Document(page_content=passage, metadata={"doc_id": pid}, id=pid))
                doc_ids.add(pid)
                by_text.setdefault(passage, pid)
        elif passage:
            pid = by_text.get(passage) or ""
            if not pid:
                pid = f"p{len(docs)}"
                while pid in doc_ids:
                    pid = f"p{len(docs)}_{len(doc_ids)}"
                docs.append(Document(page_content=passage, metadata={"doc_id": pid}, id=pid))
                doc_ids.add(pid)
                by_text[passage] = pid
        else:
            raise InvalidParameterError(f"{p}: line {line} names no relevant passage (neither an id nor a text).")
        grade = 1
        if fields["score"] is not None and _text(row.get(fields["score"])) != "":
            try:
                grade = int(float(_text(row[fields["score"]])))
            except ValueError:
                raise InvalidParameterError(f"{p}: line {line} has score {row[fields['score']]!r}, not an integer grade.") from None
        if pid in qrels.setdefault(qid, {}):
            repeated += 1
        qrels[qid][pid] = max(grade, qrels[qid].get(pid, grade))
    if n_rows == 0:
        raise EmptyInputError(f"{p} holds no question/answer rows.")
    if repeated:
        notes.append(f"{repeated} repeated (question, passage) rows merged (highest grade kept)")
    ds = BeirDataset(name=name or p.stem, corpus=docs, queries=queries, qrels={q: v for q, v in qrels.items() if any(g > 0 for g in v.values())})
    return _attach(ds, str(p), "qa-pairs", notes)


# --------------------------------------------------------------------------- documents folder, label-free


def _folder_documents(folder: Path, suffixes: Sequence[str] = DOCUMENT_SUFFIXES) -> list[Document]:
    files = sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
    docs = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InvalidParameterError(f"{f}: not UTF-8 text ({exc.reason} at byte {exc.start}); convert or remove it.") from exc
        if not text:
            continue
        rel = f.relative_to(folder).as_posix()
        docs.append(Document(page_content=text, metadata={"doc_id": rel, "source": str(f)}, id=rel))
    return docs


def load_queries(queries: str | Path | Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """Queries from a mapping (id -> text), a list of texts (ids ``q0, q1, ...``), a text file (one per
    line), or a JSONL/CSV with ``_id``/``id`` and ``text``/``query``/``question``."""
    if isinstance(queries, Mapping):
        return {str(k): str(v) for k, v in queries.items()}
    if isinstance(queries, (str, Path)):
        p = Path(queries)
        if not p.is_file():
            raise InvalidParameterError(f"Queries file {p} does not exist.")
        if p.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
            out: dict[str, str] = {}
            for line, row in _rows(p):
                text_key = _field(row, ("text", *QUESTION_FIELDS), None)
                if text_key is None or not _text(row[text_key]):
                    raise InvalidParameterError(f"{p}: line {line} has no query text ('text', 'query' or 'question').")
                id_key = _field(row, ("_id", "id", *QUERY_ID_FIELDS), None)
                qid = _text(row[id_key]) if id_key else f"q{len(out)}"
                if qid in out:
                    raise InvalidParameterError(f"{p}: line {line} repeats query id {qid!r}.")
                out[qid] = _text(row[text_key])
            return out
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
        return {f"q{i}": t for i, t in enumerate(t for t in lines if t)}
    return {f"q{i}": str(q) for i, q in enumerate(queries)}


def load_documents_folder(
    folder: str | Path,
    queries: str | Path | Sequence[str] | Mapping[str, str],
    *,
    suffixes: Sequence[str] = DOCUMENT_SUFFIXES,
    name: str | None = None,
) -> BeirDataset:
    """Label-free mode: every ``.txt``/``.md``/``.rst`` file under ``folder`` is one document (id = its path
    relative to ``folder``; empty files skipped), plus ``queries`` (see :func:`load_queries`). No qrels:
    ``compare`` then reports agreement, latency, memory and cost, not quality.

    Args:
        folder: the folder searched recursively.
        queries: a mapping (id -> text), a list of texts, or a queries file (see :func:`load_queries`).
        suffixes: the file suffixes read as documents (lower case, with the dot).
        name: the data set's name (default: the folder's name).

    Returns:
        The :class:`BeirDataset`, ``qrels`` empty (with ``.report``).

    Raises:
        InvalidParameterError: the folder or queries file is missing, a file is not UTF-8, or a queries line is malformed.
        EmptyInputError: no non-empty document, or no query.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InvalidParameterError(f"Documents folder {root} does not exist.")
    docs = _folder_documents(root, suffixes)
    if not docs:
        raise EmptyInputError(f"{root} holds no non-empty document ({', '.join(suffixes)} files).")
    q = load_queries(queries)
    if not q:
        raise EmptyInputError("No queries: give at least one (a text file, one query per line).")
    n_files = sum(1 for f in root.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
    notes = [f"{n_files - len(docs)} empty files skipped"] if n_files != len(docs) else []
    return _attach(BeirDataset(name=name or root.name, corpus=docs, queries=q, qrels={}), str(root), "documents-folder", notes)


# --------------------------------------------------------------------------- ir_datasets


class _NotLocal(Exception):
    pass


@contextlib.contextmanager
def _no_downloads() -> Iterator[None]:
    """Make every ir_datasets network download fail at once (local files still read)."""
    from ir_datasets.util import download as dl

    classes = [c for c in (getattr(dl, n, None) for n in ("RequestsDownload", "GoogleDriveDownload", "GoogleCloudBucketStream")) if c]
    saved = {c: c.stream for c in classes}

    def refuse(self, *a, **k):
        raise _NotLocal(getattr(self, "url", repr(self)))

    try:
        for c in classes:
            c.stream = refuse
        yield
    finally:
        for c, fn in saved.items():
            c.stream = fn


def _refused_download(exc: BaseException) -> str | None:
    """The URL of a download :func:`_no_downloads` refused, found in ``exc`` (ir_datasets wraps the
    errors of several mirrors in one RuntimeError), or None for any other error."""
    if isinstance(exc, _NotLocal):
        return str(exc)
    for arg in getattr(exc, "args", ()):
        for item in arg if isinstance(arg, (list, tuple)) else (arg,):
            for part in item if isinstance(item, tuple) else (item,):
                if isinstance(part, _NotLocal):
                    return str(part)
    cause = exc.__cause__ or exc.__context__
    return _refused_download(cause) if cause is not None else None


def load_ir_dataset(name: str, *, max_queries: int | None = None) -> BeirDataset:
    """An ``ir_datasets`` data set (``"beir/scifact/test"``; a prefix ``irds:`` is stripped), from local data only.

    Documents are ``"title text"`` when they have a title (as :func:`load_beir`). Only queries with
    judgments are kept when the data set has any. Nothing is downloaded: data ``ir_datasets`` does not
    hold locally raises :class:`InvalidParameterError` naming the data set and the ir_datasets home folder.

    Args:
        name: the ir_datasets name, optionally prefixed ``irds:``.
        max_queries: keep the first this many queries, or None for all.

    Returns:
        The :class:`BeirDataset` (with ``.report``).

    Raises:
        InvalidParameterError: ir_datasets is not installed, does not know the name, the data set lacks
            documents or queries, or its data is not held locally.
        EmptyInputError: the data set has no documents.
    """
    for prefix in IR_DATASETS_PREFIXES:
        name = name.removeprefix(prefix)
    try:
        import ir_datasets
    except ImportError:
        raise InvalidParameterError(f"Reading {name!r} needs the ir_datasets package: pip install ir_datasets.") from None
    try:
        dataset = ir_datasets.load(name)
    except KeyError:
        raise InvalidParameterError(f"ir_datasets knows no data set {name!r} (see https://ir-datasets.com).") from None
    if not dataset.has_docs() or not dataset.has_queries():
        raise InvalidParameterError(f"ir_datasets {name!r} has no {'documents' if not dataset.has_docs() else 'queries'}: pick a split with both (e.g. beir/scifact/test).")
    try:
        with _no_downloads():
            docs = []
            for d in dataset.docs_iter():
                title = _text(getattr(d, "title", ""))
                text = _text(getattr(d, "text", None) if hasattr(d, "text") else d.default_text())
                docs.append(Document(page_content=f"{title} {text}".strip(), metadata={"doc_id": d.doc_id, "title": title}, id=d.doc_id))
            queries = {q.query_id: _text(getattr(q, "text", None) if hasattr(q, "text") else q.default_text()) for q in dataset.queries_iter()}
            qrels: dict[str, dict[str, int]] = {}
            if dataset.has_qrels():
                for r in dataset.qrels_iter():
                    qrels.setdefault(r.query_id, {})[r.doc_id] = int(r.relevance)
    except Exception as exc:
        url = _refused_download(exc)
        if url is None:
            raise
        from ir_datasets.util import home_path

        raise InvalidParameterError(
            f"ir_datasets {name!r} is not stored locally (it would download {url}); nothing is downloaded here. "
            f"Fetch it once where the network is reachable (ir_datasets export {name} docs), then copy "
            f"{home_path()} to this machine (or set IR_DATASETS_HOME)."
        ) from None
    if not docs:
        raise EmptyInputError(f"ir_datasets {name!r} has no documents.")
    notes = []
    if qrels:
        dropped = sum(1 for q in queries if q not in qrels)
        queries = {q: t for q, t in queries.items() if q in qrels}
        if dropped:
            notes.append(f"{dropped} queries without judgments dropped (as BEIR's evaluation does)")
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
    qrels = {q: v for q, v in qrels.items() if q in queries}
    return _attach(BeirDataset(name=name.replace("/", "-"), corpus=docs, queries=queries, qrels=qrels), f"irds:{name}", "ir_datasets", notes)


# --------------------------------------------------------------------------- dispatch


def load_dataset(
    source: str | Path,
    *,
    split: str = "test",
    max_queries: int | None = None,
    queries: str | Path | Sequence[str] | Mapping[str, str] | None = None,
    corpus: str | Path | None = None,
) -> BeirDataset:
    """Read any supported data shape into a :class:`BeirDataset` (with ``.report``):

    * ``irds:<name>`` -> :func:`load_ir_dataset`;
    * a folder with ``corpus.jsonl`` and ``queries.jsonl`` -> :func:`load_beir` (``split``, ``max_queries``);
    * a folder with ``corpus.jsonl`` only -> its documents plus ``queries`` (label-free; without ``queries``
      an error names the ways forward, synthetic queries among them: :func:`load_corpus`);
    * another folder -> :func:`load_documents_folder` (needs ``queries``: label-free mode);
    * a ``.csv``/``.tsv``/``.jsonl`` file -> :func:`load_qa_pairs` (``corpus`` optional).

    Args:
        source: ``irds:<name>``, a folder or a file, as above.
        split: the BEIR qrels split.
        max_queries: keep the first this many queries, or None for all.
        queries: queries for a label-free source (a mapping, a list of texts or a queries file), or None.
        corpus: extra passages for a question/answer file, or None.

    Returns:
        The :class:`BeirDataset` (with ``.report``).

    Raises:
        InvalidParameterError: a source not found, ``queries`` missing where needed or given where the
            source has its own, or what the chosen loader raises.
        EmptyInputError: no queries, or no documents.
        DatasetFormatError: a malformed BEIR file (file and line named).
    """
    text = str(source)
    if text.startswith(IR_DATASETS_PREFIXES):
        return load_ir_dataset(text, max_queries=max_queries)
    p = Path(text).expanduser()
    if p.is_dir() and (p / "corpus.jsonl").exists() and not (p / "queries.jsonl").exists():
        if queries is None:  # a corpus alone: say every way forward, never "not a BEIR data set"
            raise InvalidParameterError(
                f"{p} holds a corpus (corpus.jsonl) but no queries.jsonl: pass your queries (--queries FILE, one per "
                "line: label-free), or make labelled queries from the corpus: --queries synthetic:cloze (no LLM) or "
                "--queries synthetic:llm --generator MODEL."
            )
        ds = BeirDataset(name=p.name, corpus=load_beir_corpus(p / "corpus.jsonl"), queries=load_queries(queries), qrels={})
        if not ds.queries:
            raise EmptyInputError("No queries: give at least one (a text file, one query per line).")
        ds = _attach(ds, str(p), "corpus + queries", ["no labels: label-free"])
    elif p.is_dir() and (p / "corpus.jsonl").exists():
        if queries is not None:
            raise InvalidParameterError(
                f"{p} is a BEIR folder with its own queries.jsonl: drop --queries (or move queries.jsonl away to use yours)."
            )
        ds = load_beir(p, split=split, max_queries=max_queries)
        notes = [] if (p / "qrels" / f"{split}.tsv").exists() else [f"no qrels/{split}.tsv: label-free"]
        return _attach(ds, str(p), "beir", notes)
    elif p.is_dir():
        if queries is None:
            raise InvalidParameterError(
                f"{p} is not a BEIR folder (no corpus.jsonl): to use it as a folder of documents, pass the queries "
                "(--queries FILE, one query per line), or make labelled queries from its documents: --queries "
                "synthetic:cloze (no LLM) or --queries synthetic:llm --generator MODEL."
            )
        ds = load_documents_folder(p, queries)
    elif p.is_file():
        if queries is not None:
            raise InvalidParameterError(f"{p} is a question/answer file, which holds its own questions: drop --queries.")
        ds = load_qa_pairs(p, corpus=corpus)
    else:
        raise InvalidParameterError(
            f"Data set {text!r} not found: pass a BEIR folder, a question/answer .csv/.jsonl, a folder of documents "
            "with --queries, or irds:<ir_datasets name>."
        )
    if max_queries is not None:
        ds.queries = dict(list(ds.queries.items())[:max_queries])
        ds.qrels = {q: v for q, v in ds.qrels.items() if q in ds.queries}
        ds.report = dataset_report(BeirDataset(ds.name, ds.corpus, ds.queries, ds.qrels), ds.report.source, ds.report.kind, ds.report.notes)  # type: ignore[attr-defined]
    return ds


def load_corpus(source: str | Path, *, corpus: str | Path | None = None) -> BeirDataset:
    """The documents of any supported data shape, without queries or labels: the input of synthetic queries
    (:mod:`~langchain_embcompare.evaluation.synthetic`).

    * a folder with ``corpus.jsonl`` (a BEIR folder, or a corpus alone): its documents (``"title text"``,
      ``metadata["title"]`` kept), whatever queries and labels sit beside them;
    * another folder: every ``.txt``/``.md``/``.rst`` file is one document (id = relative path);
    * ``irds:<name>``: the ir_datasets documents;
    * a question/answer ``.csv``/``.jsonl``: the passages it holds (plus ``corpus``).

    Args:
        source: the data set path or ``irds:`` name.
        corpus: with a question/answer file, the passages it names by id.
    Returns:
        a :class:`BeirDataset` with ``queries == {}``, ``qrels == {}`` and ``.report`` (kind ``"corpus"``).
    Raises:
        InvalidParameterError: nothing readable at ``source``. EmptyInputError: no non-empty document.
    """
    text = str(source)
    if text.startswith(IR_DATASETS_PREFIXES):
        ds = load_ir_dataset(text)
        docs, name = ds.corpus, ds.name
    else:
        p = Path(text).expanduser()
        if p.is_dir() and (p / "corpus.jsonl").exists():
            docs, name = load_beir_corpus(p / "corpus.jsonl"), p.name
        elif p.is_dir():
            docs, name = _folder_documents(p), p.name
        elif p.is_file():
            docs, name = load_qa_pairs(p, corpus=corpus).corpus, p.stem
        else:
            raise InvalidParameterError(
                f"Data set {text!r} not found: pass a BEIR folder, a folder with corpus.jsonl, a folder of documents, "
                "a question/answer .csv/.jsonl, or irds:<ir_datasets name>."
            )
    if not docs:
        raise EmptyInputError(f"{text} holds no non-empty document.")
    return _attach(BeirDataset(name=name, corpus=list(docs), queries={}, qrels={}), text, "corpus")
