"""MkDocs hooks: generated parts of pages, so the site cannot drift from the code and the results.

* ``<!-- api:GROUP -->`` on a reference page becomes one mkdocstrings ``::: module.Name`` entry per
  name of ``langchain_embcompare.__all__`` in that group (:func:`api_groups`): a name added to
  ``__all__`` appears in the reference without editing a page.
* ``<!-- bench:full -->``, ``<!-- scale:growth -->`` and ``<!-- scale:projection -->`` in a page are
replaced by :func:`benchmarks.make_table.build`, :func:`~benchmarks.make_table.growth_table` and
:func:`~benchmarks.make_table.projection_table`, so the published numbers are always the result files'.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "make_table.py"


# reference page group -> the module prefixes whose public names it shows (first match wins; "" = the rest)
API_GROUPS: dict[str, tuple[str, ...]] = {
    "stores": ("langchain_embcompare.stores",),
    "filters": ("langchain_embcompare.filters",),
    "retrievers": ("langchain_embcompare.retrievers",),
    "rerank": ("langchain_embcompare.rerank",),
    "evaluation": ("langchain_embcompare.evaluation",),
    "errors": ("langchain_embcompare.errors",),
    "embeddings": ("",),
}


def api_groups() -> dict[str, list[str]]:
    """``{group: ["module.Name", ...]}`` for every name in ``langchain_embcompare.__all__``, in ``__all__`` order.

    Returns:
        Each name under the first group of :data:`API_GROUPS` whose prefix its defining module starts with.
    """
    import langchain_embcompare as package

    out: dict[str, list[str]] = {g: [] for g in API_GROUPS}
    for name in package.__all__:
        module = getattr(package, name).__module__
        group = next(g for g, prefixes in API_GROUPS.items() if any(module.startswith(p) for p in prefixes))
        out[group].append(f"{module}.{name}")
    return out


def _make_table():
    spec = importlib.util.spec_from_file_location("make_table", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook signature)
    """Replace the benchmark markers in ``markdown`` with the generated tables."""
    if "<!-- api:" in markdown:
        for group, paths in api_groups().items():
            markdown = markdown.replace(f"<!-- api:{group} -->", "\n\n".join(f"::: {p}" for p in paths))
    if "<!-- bench:" not in markdown and "<!-- scale:" not in markdown:
        return markdown
    mt = _make_table()
    return (markdown.replace("<!-- bench:full -->", mt.build())
            .replace("<!-- scale:growth -->", mt.growth_table())
            .replace("<!-- scale:projection -->", mt.projection_table()))
