"""Which runs to compare: :class:`RunSpec` (one run to build), the CLI short forms that make
lists of them (:func:`parse_dims`, :func:`specs_from_models`, :func:`specs_from_vectors`,
:func:`lexical_specs`) and the ``ab.toml`` comparison config (:class:`CompareConfig`,
:func:`load_config`, :class:`ConfigError`). Its one job is turning user input into run specs and
:func:`~langchain_embcompare.evaluation.compare.compare` options (running a config is
:func:`~langchain_embcompare.evaluation.compare.compare_from_config`).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types as types_mod
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from langchain_embcompare.errors import InvalidParameterError
from langchain_embcompare.evaluation.cost import DEFAULT_MACHINE_USD_PER_HOUR
from langchain_embcompare.evaluation.pipeline import EvalSettings
from langchain_embcompare.evaluation.significance import CORRECTIONS, STAT_TESTS

__all__ = [
    "CompareConfig",
    "ConfigError",
    "RunSpec",
    "lexical_specs",
    "load_config",
    "parse_config",
    "parse_dims",
    "specs_from_models",
    "specs_from_vectors",
]


class ConfigError(InvalidParameterError):
    """A bad field in an ``ab.toml`` comparison config; the message names the field."""


@dataclass
class RunSpec(EvalSettings):
    """One run to build: :class:`EvalSettings` (model, dim, precision, store, retriever, rerank and their
    options) plus a display ``name`` (default: the settings' label, e.g. ``all-MiniLM-L6-v2/128d/float32/faiss/flat``).

    Args:
        *args: :class:`EvalSettings` fields, positionally.
        **kwargs: :class:`EvalSettings` fields and ``name`` (the run's display name; default: the settings' label).

    Raises:
        InvalidParameterError: as :class:`EvalSettings`.
    """

    name: str | None = None

    def label(self) -> str:
        """The run's name in tables and reports: ``name``, else the settings' label (``EvalSettings.label``).

        Returns:
            The run's display name.
        """
        return self.name or super().label()

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict, without ``name`` (the run's key already holds it).

        Returns:
            ``{field: value}`` for every field but ``progress`` and ``name``.
        """
        d = super().to_dict()
        d.pop("name", None)
        return d


def parse_dims(text: str | None) -> list[int | None] | None:
    """``"384,128,full"`` -> ``[384, 128, None]`` (the CLI's ``--dims``); None/empty -> None."""
    if text is None or not str(text).strip():
        return None
    out: list[int | None] = []
    for tok in str(text).split(","):
        tok = tok.strip().lower()
        if tok in ("full", "native", "none"):
            out.append(None)
        elif tok.isdigit() and int(tok) > 0:
            out.append(int(tok))
        else:
            raise InvalidParameterError(f"--dims {text!r}: {tok!r} is not a positive integer or 'full' (e.g. --dims full,256,128).")
    return out


def specs_from_models(models: Sequence[str], dims: Sequence[int | None] | None = None, **common: Any) -> list[RunSpec]:
    """The CLI short form: every model at every dim (None = full), other settings shared.

    Names are ``<model>@<dim|full>``.
    """
    if not models:
        raise InvalidParameterError("Name at least one model (--model A --model B).")
    out = []
    for model in models:
        for dim in dims or [None]:
            out.append(RunSpec(model=model, dim=dim, name=f"{model}@{dim or 'full'}", **common))
    return out


def specs_from_vectors(
    vectors: str | Path,
    columns: Sequence[str] | None = None,
    dims: Sequence[int | None] | None = None,
    *,
    query_vectors: str | Path | None = None,
    id_column: str | None = None,
    normalize: bool = False,
    **common: Any,
) -> list[RunSpec]:
    """The CLI's ``--vectors``: every model column of the table (or ``columns``) at every dim (None = full).

    Names are ``<column>@<dim|full>``; the column is the run's model name.
    """
    from langchain_embcompare.precomputed import vector_columns

    cols = list(columns) if columns else vector_columns(vectors, id_column, normalize)
    if not cols:
        raise InvalidParameterError(f"{vectors} has no vector column (a list of floats per row).")
    out = []
    for col in cols:
        for dim in dims or [None]:
            out.append(
                RunSpec(
                    model=col, dim=dim, name=f"{col}@{dim or 'full'}", vectors=str(vectors), vector_column=col,
                    query_vectors=None if query_vectors is None else str(query_vectors), id_column=id_column,
                    normalize=normalize, **common,
                )
            )
    return out


def lexical_specs(specs: Sequence[RunSpec], fusion: str = "rrf", alpha: float = 0.5) -> list[RunSpec]:
    """The lexical arms beside dense ``specs``: one BM25 run (``bm25``; no model) and, per dense spec,
    its hybrid with BM25 (``<name>+bm25``), on the same store (the CLI's ``compare --lexical``)."""
    out = [RunSpec(retriever="bm25", name="bm25")]
    for s in specs:
        if s.retriever in ("bm25", "hybrid"):
            continue
        out.append(dataclasses.replace(s, retriever="hybrid", hybrid_dense=s.retriever, fusion=fusion, alpha=alpha,
                                       name=f"{s.label()}+bm25"))
    return out

# --- ab.toml ---------------------------------------------------------------------------------------


@dataclass
class CompareConfig:
    """A parsed ``ab.toml``: the runs and every :func:`compare` option."""

    runs: list[RunSpec]
    dataset: str | None = None
    split: str = "test"
    max_queries: int | None = None
    baseline: str | None = None
    k: int = 100
    metrics: list[str] | None = None  # None: DEFAULT_METRICS, lowered to the retrieval depth where deeper
    stat_test: str = "student"
    correction: str = "holm"
    alpha: float = 0.05
    confidence: float = 0.95
    overlap_k: int = 10
    rbo_p: float = 0.9
    latency_queries: int = 50
    throughput_texts: int = 256
    probes: list[tuple[str, str]] = field(default_factory=list)
    prices: dict[str, float] = field(default_factory=dict)
    usd_per_hour: float = DEFAULT_MACHINE_USD_PER_HOUR
    json: str | None = None
    html: str | None = None

    def compare_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`compare` (everything but the runs and the data set)."""
        return {
            "baseline": self.baseline, "k": self.k, "metrics": None if self.metrics is None else tuple(self.metrics), "stat_test": self.stat_test,
            "correction": self.correction, "alpha": self.alpha, "confidence": self.confidence,
            "overlap_k": self.overlap_k, "rbo_p": self.rbo_p, "latency_queries": self.latency_queries,
            "throughput_texts": self.throughput_texts, "probes": list(self.probes), "prices": dict(self.prices),
            "usd_per_hour": self.usd_per_hour,
        }


_TOP_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "split": (str,), "max_queries": (int,), "baseline": (str,), "k": (int,),
    "metrics": (list,), "stat_test": (str,), "correction": (str,), "alpha": (float, int),
    "confidence": (float, int), "overlap_k": (int,), "rbo_p": (float,), "latency_queries": (int,),
    "throughput_texts": (int,), "defaults": (dict,), "runs": (list,), "probes": (list,), "cost": (dict,),
    "output": (dict,),
}


def _spec_types() -> dict[str, tuple[type, ...]]:
    """Allowed TOML value types of each RunSpec field, read from its annotations."""
    hints = typing.get_type_hints(RunSpec)
    out = {}
    for f in fields(RunSpec):
        hint = hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types_mod.UnionType)
        args = typing.get_args(hint) if union else (hint,)
        types = tuple(a for a in args if a is not type(None))
        types = tuple(typing.get_origin(t) or t for t in types)
        if float in types:
            types = (*types, int)
        out[f.name] = types
    return out


def _check_type(where: str, value: Any, types: tuple[type, ...]) -> None:
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        want = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"{where} = {value!r}: expected {want}.")


def parse_config(raw: Mapping[str, Any], source: str) -> CompareConfig:
    """A :class:`CompareConfig` from an ``ab.toml``'s parsed content (what :func:`load_config` reads from a file).

    Args:
        raw: the TOML document as a mapping (``tomllib.loads``).
        source: where it came from, named in errors (a path, or e.g. ``"snippet"``).

    Returns:
        The :class:`CompareConfig`.

    Raises:
        ConfigError: an unknown field or a field of the wrong type, named with ``source``.
    """
    unknown = sorted(set(raw) - set(_TOP_TYPES))
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r}; allowed top-level fields: {sorted(_TOP_TYPES)}.")
    for key, value in raw.items():
        _check_type(f"{source}: {key}", value, _TOP_TYPES[key])
    spec_types = _spec_types()
    defaults = dict(raw.get("defaults", {}))
    for key, value in defaults.items():
        if key not in spec_types or key == "name":
            raise ConfigError(f"{source}: defaults.{key}: unknown run field; allowed: {sorted(set(spec_types) - {'name'})}.")
        _check_type(f"{source}: defaults.{key}", value, spec_types[key])
    runs_raw = raw.get("runs") or []
    if not runs_raw:
        raise ConfigError(f"{source}: runs: no [[runs]] table; add at least one, e.g. [[runs]] model = \"all-MiniLM-L6-v2\".")
    specs = []
    for i, run in enumerate(runs_raw):
        where = f"{source}: runs[{i}]"
        if not isinstance(run, dict):
            raise ConfigError(f"{where}: expected a [[runs]] table, got {type(run).__name__}.")
        for key, value in run.items():
            if key not in spec_types:
                raise ConfigError(f"{where}.{key}: unknown run field; allowed: {sorted(spec_types)}.")
            _check_type(f"{where}.{key}", value, spec_types[key])
        merged = {**defaults, **run}
        if "model" not in merged:
            raise ConfigError(f"{where}.model: missing; every run needs a model (or set defaults.model).")
        try:
            specs.append(RunSpec(**merged))
        except InvalidParameterError as exc:
            raise ConfigError(f"{where} ({merged.get('name') or merged['model']}): {exc}") from exc
    names = [s.label() for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: runs: names must be unique, repeated {dupes}; add name = \"...\" to those runs.")
    cfg = CompareConfig(runs=specs)
    for key in ("dataset", "split", "max_queries", "baseline", "k", "stat_test", "correction", "overlap_k",
                "latency_queries", "throughput_texts"):
        if key in raw:
            setattr(cfg, key, raw[key])
    for key in ("alpha", "confidence", "rbo_p"):
        if key in raw:
            setattr(cfg, key, float(raw[key]))
    if "metrics" in raw:
        from langchain_embcompare.evaluation.metrics import check_cutoffs

        for j, m in enumerate(raw["metrics"]):
            try:
                check_cutoffs([str(m)], None)  # the name only
            except InvalidParameterError as exc:
                raise ConfigError(f"{source}: metrics[{j}]: {exc}") from exc
        cfg.metrics = [str(m) for m in raw["metrics"]]
    if cfg.baseline is not None and cfg.baseline not in names:
        raise ConfigError(f"{source}: baseline = {cfg.baseline!r} is not a run name; runs are {names}.")
    for key, allowed in (("stat_test", STAT_TESTS), ("correction", CORRECTIONS)):
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"{source}: {key} = {getattr(cfg, key)!r}: use one of {allowed}.")
    for key in ("k", "overlap_k"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{source}: {key} = {getattr(cfg, key)}: must be >= 1.")
    for key in ("alpha", "confidence", "rbo_p"):
        if not 0 < getattr(cfg, key) < 1:
            raise ConfigError(f"{source}: {key} = {getattr(cfg, key)}: must lie strictly between 0 and 1.")
    for j, probe in enumerate(raw.get("probes", [])):
        if not isinstance(probe, dict) or set(probe) != {"query", "index"}:
            raise ConfigError(f"{source}: probes[{j}]: expected {{query = \"<run>\", index = \"<run>\"}}, got {probe!r}.")
        for role in ("query", "index"):
            if probe[role] not in names:
                raise ConfigError(f"{source}: probes[{j}].{role} = {probe[role]!r} is not a run name; runs are {names}.")
        cfg.probes.append((probe["query"], probe["index"]))
    cost = raw.get("cost", {})
    for key in cost:
        if key not in ("usd_per_hour", "prices"):
            raise ConfigError(f"{source}: cost.{key}: unknown field; allowed: ['prices', 'usd_per_hour'].")
    if "usd_per_hour" in cost:
        _check_type(f"{source}: cost.usd_per_hour", cost["usd_per_hour"], (float, int))
        if cost["usd_per_hour"] < 0:
            raise ConfigError(f"{source}: cost.usd_per_hour = {cost['usd_per_hour']}: must be >= 0.")
        cfg.usd_per_hour = float(cost["usd_per_hour"])
    prices = cost.get("prices", {})
    _check_type(f"{source}: cost.prices", prices, (dict,))
    for model, price in prices.items():
        _check_type(f"{source}: cost.prices.{model}", price, (float, int))
        if price < 0:
            raise ConfigError(f"{source}: cost.prices.{model} = {price}: USD per 1M tokens must be >= 0.")
        cfg.prices[model] = float(price)
    output = raw.get("output", {})
    for key, value in output.items():
        if key not in ("json", "html"):
            raise ConfigError(f"{source}: output.{key}: unknown field; allowed: ['html', 'json'].")
        _check_type(f"{source}: output.{key}", value, (str,))
        setattr(cfg, key, value)
    return cfg


def load_config(path: str | Path) -> CompareConfig:
    """Read an ``ab.toml``; a bad field raises :class:`ConfigError` naming it (e.g. ``runs[1].dim``).

    Example::

        dataset = "data/scifact"          # optional: the CLI's DATASET_DIR wins
        baseline = "minilm"
        k = 100
        [defaults]
        store = "faiss"
        [[runs]]
        name = "minilm"
        model = "all-MiniLM-L6-v2"
        [[runs]]
        name = "minilm-128"
        model = "all-MiniLM-L6-v2"
        dim = 128
        [[probes]]
        query = "static-128"
        index = "minilm-128"
        [cost]
        usd_per_hour = 0.10
        [cost.prices]
        "text-embedding-3-small" = 0.02
        [output]
        json = "out.json"
        html = "report.html"
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file {p} does not exist: pass the path of an ab.toml.")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}).") from exc
    return parse_config(raw, str(p))
