"""MkDocs hooks: generated parts of pages, so the site cannot drift from the code and the results.

* ``<!-- api:GROUP -->`` on a reference page becomes one mkdocstrings ``::: module.Name`` entry per
  name of ``langchain_embcompare.__all__`` in that group (:func:`api_groups`): a name added to
  ``__all__`` appears in the reference without editing a page.
* ``<!-- bench:full -->``, ``<!-- scale:growth -->`` and ``<!-- scale:projection -->`` in a page are
replaced by :func:`benchmarks.make_table.sectioned`, :func:`~benchmarks.make_table.growth_table` and
:func:`~benchmarks.make_table.projection_table`, so the published numbers are always the result files'.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "make_table.py"


# reference page group -> prefixes of the qualified names ("module.Name") it shows (first match wins; "" = the rest)
API_GROUPS: dict[str, tuple[str, ...]] = {
    "retrievers": ("langchain_embcompare.retrievers", "langchain_embcompare.stores.base.EmbRetriever"),
    "stores": ("langchain_embcompare.stores",),
    "filters": ("langchain_embcompare.filters",),
    "rerank": ("langchain_embcompare.rerank",),
    "evaluation": ("langchain_embcompare.evaluation",),
    "errors": ("langchain_embcompare.errors",),
    "embeddings": ("",),
}


def _reexporting_module(name: str) -> str:
    """The ``langchain_embcompare`` module the package root imports ``name`` from (read from ``__init__.py``)."""
    import re

    init = (Path(__file__).resolve().parents[1] / "langchain_embcompare" / "__init__.py").read_text()
    for m in re.finditer(r"from (langchain_embcompare[\w.]*) import \(?([^)]*?)\)?\n(?!\s)", init, flags=re.S):
        if name in re.findall(r"\w+", m.group(2)):
            return m.group(1)
    raise LookupError(f"langchain_embcompare.{name}: no module of the package defines or re-exports it")


def api_groups() -> dict[str, list[str]]:
    """``{group: ["module.Name", ...]}`` for every name in ``langchain_embcompare.__all__``, in ``__all__`` order.

    Returns:
        Each name under the first group of :data:`API_GROUPS` with a prefix of its qualified name.
    """
    import langchain_embcompare as package

    out: dict[str, list[str]] = {g: [] for g in API_GROUPS}
    for name in package.__all__:
        module = getattr(package, name).__module__
        if not module.startswith("langchain_embcompare"):  # re-exported (redisvl's Tag, Num, Text): where we import it
            module = _reexporting_module(name)
        path = f"{module}.{name}"
        group = next(g for g, prefixes in API_GROUPS.items() if any(path.startswith(p) for p in prefixes))
        out[group].append(path)
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
    return (markdown.replace("<!-- bench:full -->", mt.sectioned())
            .replace("<!-- scale:growth -->", mt.growth_table())
            .replace("<!-- scale:projection -->", mt.projection_table()))
