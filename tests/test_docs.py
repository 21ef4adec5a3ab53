"""The documentation cannot rot: the site builds strictly, the tutorials run, the numbers are generated.

* ``mkdocs build --strict`` (broken links, missing pages and unresolved API references fail), and the
  built API reference has an entry for every name in ``langchain_embcompare.__all__``;
* every ``python`` block of every tutorial (``docs/tutorials/*.md``) and of the README's quickstart is
  EXECUTED: each page's blocks run in order as one script (a page is one session, like a notebook),
  offline, on the bundled demo set; each block prints a marker so a block that did not run fails;
* every ``python`` block elsewhere in the docs either includes an ``examples/*.py`` file (run by
  ``tests/test_examples.py``) or at least compiles;
* every ``embcompare <command> --option`` written in the docs or the README exists in the CLI;
* the README's benchmark block equals ``benchmarks/make_table.py``'s output for ``benchmarks/results/``;
* every public name in ``__all__``, and every public method of its classes, has a docstring, with
  ``Args:`` when it takes parameters and ``Returns:`` when it returns a value (Google style).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")
EXECUTED_PAGES = [ROOT / "README.md", *TUTORIALS]
# the number of python blocks the tests execute (README quickstart + tutorials); a block added or
# removed changes it, so the count printed in the report is the count that ran
EXECUTED_BLOCKS = 20

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
SNIPPET = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$', re.M)


def blocks(page: Path, lang: str = "python") -> list[str]:
    """The fenced code blocks of ``page`` in language ``lang``, dedented, in order."""
    out = []
    for m in FENCE.finditer(page.read_text()):
        if m.group("lang") == lang:
            indent = len(m.group("indent"))
            out.append("\n".join(line[indent:] for line in m.group("body").splitlines()))
    return out


def all_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _load_make_table():
    spec = importlib.util.spec_from_file_location("make_table", ROOT / "benchmarks" / "make_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the site ------------------------------------------------------------------------------------------


def test_mkdocs_build_strict(tmp_path):
    """``mkdocs build --strict`` passes, and the API reference documents every name of ``__all__``."""
    import langchain_embcompare

    site = tmp_path / "site"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    seconds = time.perf_counter() - t0
    print(f"mkdocs build --strict: rc {proc.returncode} in {seconds:.1f} s")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    reference = "".join(p.read_text() for p in (site / "reference").rglob("index.html"))
    missing = [n for n in langchain_embcompare.__all__ if not re.search(rf'id="langchain_embcompare\.[\w.]*\b{n}"', reference)]
    assert not missing, f"names of __all__ without an API reference entry: {missing}"
    assert "<!-- bench:full -->" not in (site / "benchmarks" / "index.html").read_text()
    assert "advisor winner on SciFact" in (site / "benchmarks" / "index.html").read_text()


def test_nav_lists_every_page():
    """Every page is reachable from the navigation (mkdocs --strict also warns on omitted pages)."""
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    assert pages and not [p for p in pages if p not in nav]


# -- executed code blocks ------------------------------------------------------------------------------


def script_of(page: Path) -> tuple[str, int]:
    """``page``'s python blocks as one script, each preceded by a marker print; (script, number of blocks)."""
    parts = []
    code_blocks = blocks(page)
    for i, code in enumerate(code_blocks):
        assert not SNIPPET.search(code), f"{page.name}: executed pages write their code inline"
        parts.append(f"print('<<block {i}>>', flush=True)\n{code}")
    return "\n\n".join(parts) + "\nprint('<<done>>')\n", len(code_blocks)


def test_executed_block_count():
    """The number of executed blocks is the one the docs say (and the report gives)."""
    counts = {p.relative_to(ROOT).as_posix(): script_of(p)[1] for p in EXECUTED_PAGES}
    print("executed python blocks per page:", counts, "total", sum(counts.values()))
    assert all(n >= 1 for n in counts.values()), counts
    assert sum(counts.values()) == EXECUTED_BLOCKS, counts


@pytest.mark.integration
@pytest.mark.parametrize("page", EXECUTED_PAGES, ids=[p.name for p in EXECUTED_PAGES])
def test_page_code_runs(page, tmp_path, script_runner):
    """Every python block of the page runs, in order, offline (real MiniLM, Redis, Milvus Lite), as
    ``python page.py`` (forked by the session's fork server, tests/forkserver_fixtures.py)."""
    script, n = script_of(page)
    (tmp_path / "page.py").write_text(script)
    t0 = time.perf_counter()
    rc, stdout, stderr = script_runner(tmp_path / "page.py", tmp_path, timeout=900)
    print(f"{page.name}: {n} blocks in {time.perf_counter() - t0:.1f} s")
    assert rc == 0, f"{page.name} failed (status {rc}):\n{stdout[-3000:]}\n{stderr[-5000:]}"
    ran = re.findall(r"<<block (\d+)>>", stdout)
    assert ran == [str(i) for i in range(n)] and "<<done>>" in stdout, f"{page.name}: blocks run {ran} of {n}"


def test_other_blocks_include_examples_or_compile():
    """Outside the executed pages a python block includes a tested ``examples/*.py``, or compiles and
    every name it imports from the package exists."""
    from test_examples import EXAMPLES

    tested = {p.relative_to(ROOT).as_posix() for p in EXAMPLES}
    included, compiled, imports = 0, 0, 0
    for page in all_pages():
        if page in EXECUTED_PAGES:
            continue
        for code in blocks(page):
            snippets = SNIPPET.findall(code)
            if snippets:
                assert set(snippets) <= tested, f"{page.name} includes {snippets}, not all run by test_examples"
                assert (ROOT / snippets[0]).exists()
                included += 1
            else:
                tree = ast.parse(code, filename=str(page))
                compiled += 1
                for node in ast.walk(tree):  # every name a block imports from the package exists
                    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("langchain_embcompare", "chains"):
                        module = importlib.import_module(node.module)
                        missing = [a.name for a in node.names if not hasattr(module, a.name)]
                        assert not missing, f"{page.name}: `from {node.module} import {missing}` does not exist"
                        imports += 1
    print(f"python blocks outside the executed pages: {included} include a tested example, {compiled} compile "
          f"({imports} package imports resolved)")
    assert included >= 10 and imports >= 10


def test_cli_options_in_docs_exist():
    """Every ``--option`` of an ``embcompare <command>`` line in the docs is an option of that command."""
    import typer

    from langchain_embcompare.cli import app

    group = typer.main.get_command(app)
    checked = 0
    for page in all_pages():
        for lang in ("bash", "text", ""):
            for code in blocks(page, lang):
                for line in code.replace("\\\n", " ").splitlines():
                    m = re.match(r"\s*embcompare\s+([a-z-]+)(.*)", line)
                    if not m or m.group(1) == "--help":
                        continue
                    command = group.commands.get(m.group(1))
                    assert command is not None, f"{page.name}: no command `embcompare {m.group(1)}`"
                    known = {o for p in command.params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}
                    known.add("--help")
                    unknown = [o for o in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", m.group(2)) if o not in known]
                    assert not unknown, f"{page.name}: `embcompare {m.group(1)}` has no option {unknown}"
                    checked += 1
    print(f"embcompare command lines checked: {checked}")
    assert checked >= 10


# -- generated numbers ---------------------------------------------------------------------------------


def test_readme_benchmark_block_is_generated():
    """The README's benchmark block is exactly what ``benchmarks/make_table.py`` makes from the results."""
    make_table = _load_make_table()
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- bench:start -->.*?<!-- bench:end -->", readme, flags=re.S)
    assert block, "README.md has no bench block"
    assert block.group(0) == make_table.readme_block(), "run: .venv/bin/python benchmarks/make_table.py"
    assert len(make_table.headline().splitlines()) == 2 + len(make_table.HEADLINE)  # every headline row found
    assert make_table.rewrite_readme(readme) == readme


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


# -- docstrings ----------------------------------------------------------------------------------------

# Methods whose contract is LangChain's: they override a method of a LangChain base class (VectorStore,
# Embeddings, BaseRetriever, BaseDocumentCompressor) with the same signature and meaning, so their
# documentation is LangChain's docstring (``inspect.getdoc`` inherits it; the test checks it is there
# and that the name really is defined on a LangChain base class of that class).
LANGCHAIN_INHERITED = {
    "embeddings", "add_texts", "aadd_texts", "aadd_documents", "adelete", "aget_by_ids", "get_by_ids",
    "similarity_search", "asimilarity_search", "similarity_search_with_score", "asimilarity_search_with_score",
    "similarity_search_by_vector", "asimilarity_search_by_vector",
    "max_marginal_relevance_search", "amax_marginal_relevance_search",
    "max_marginal_relevance_search_by_vector", "amax_marginal_relevance_search_by_vector",
    "from_texts", "from_documents", "embed_documents", "embed_query", "aembed_documents", "aembed_query",
}


def _public_members(cls: type):
    """(name, docstring) for each public method / property defined by the package's classes in ``cls``'s MRO."""
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("langchain_embcompare"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                yield name, value.__doc__ or ""  # a property's doc, else its getter's
            elif inspect.isfunction(value):
                yield name, value.__doc__ or ""


def _langchain_base_defines(cls: type, name: str) -> bool:
    return any(name in vars(k) for k in cls.__mro__ if k.__module__.startswith(("langchain_core", "langchain_classic")))


def test_every_public_name_and_method_has_a_docstring():
    import langchain_embcompare

    missing, inherited = [], 0
    for name in langchain_embcompare.__all__:
        obj = getattr(langchain_embcompare, name)
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for attr, doc in _public_members(obj):
            if doc.strip():
                continue
            if attr in LANGCHAIN_INHERITED and _langchain_base_defines(obj, attr) and inspect.getdoc(getattr(obj, attr)):
                inherited += 1
                continue
            missing.append(f"{name}.{attr}")
    print(f"{len(langchain_embcompare.__all__)} public names; {inherited} methods documented by LangChain's docstring")
    assert not missing, f"public names / methods without a docstring: {missing}"


def test_allow_list_names_are_langchain_methods():
    """The allow-list holds only names a LangChain base class defines (no escape hatch for our own methods)."""
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore

    defined = set(vars(VectorStore)) | set(vars(Embeddings))
    assert LANGCHAIN_INHERITED <= defined, LANGCHAIN_INHERITED - defined


# Google-style sections (issue 26): a public function or method of ``__all__`` that takes parameters
# documents them under ``Args:``; one whose return annotation is not None documents the value under
# ``Returns:`` (or ``Yields:``). A class documents its constructor's parameters under ``Args:`` in its
# own docstring or its ``__init__``'s (mkdocstrings merges the two). Properties are attributes: no
# sections. Methods documented by LangChain's docstring (LANGCHAIN_INHERITED, no docstring of their
# own) carry LangChain's sections.
SECTION = re.compile(r"^[ \t]*(Args|Returns|Yields):[ \t]*$", re.M)


def _missing_sections() -> tuple[dict[str, list[str]], int]:
    """({qualified name: [missing sections]}, number of callables checked) over the walk of
    :func:`test_every_public_name_and_method_has_a_docstring`."""
    import langchain_embcompare

    missing: dict[str, list[str]] = {}
    checked = 0
    for name in langchain_embcompare.__all__:
        obj = getattr(langchain_embcompare, name)
        if not (getattr(obj, "__module__", "") or "").startswith("langchain_embcompare"):
            continue  # re-exported from another library (redisvl's Tag, Num, Text)
        targets = [(name, obj, obj.__doc__)]
        if inspect.isclass(obj):
            for attr, doc in _public_members(obj):
                if not doc.strip() and attr in LANGCHAIN_INHERITED and _langchain_base_defines(obj, attr):
                    continue  # LangChain's docstring, with its sections
                targets.append((f"{name}.{attr}", inspect.getattr_static(obj, attr), doc))
        for qual, value, doc in targets:
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property) or not callable(value):
                continue
            try:
                sig = inspect.signature(value)
            except (TypeError, ValueError):  # exception classes without an __init__ of their own
                continue
            doc = inspect.cleandoc(doc or "")
            if inspect.isclass(value):
                init = vars(value).get("__init__")
                doc += "\n" + inspect.cleandoc(getattr(init, "__doc__", None) or "")
            found = set(SECTION.findall(doc))
            lack = []
            if [p for p in sig.parameters if p not in ("self", "cls")] and "Args" not in found:
                lack.append("Args")
            returns = sig.return_annotation
            if (not inspect.isclass(value) and returns is not inspect.Signature.empty and returns not in (None, "None")
                    and not found & {"Returns", "Yields"}):
                lack.append("Returns")
            checked += 1
            if lack:
                missing[qual] = lack
    return missing, checked


def test_every_public_callable_documents_args_and_returns():
    """Every public name of ``__all__`` and public method of its classes has ``Args:`` when it takes
    parameters and ``Returns:`` when it returns a value (Google style, rendered by mkdocstrings)."""
    missing, checked = _missing_sections()
    print(f"{checked} public callables checked for Args: / Returns:")
    assert checked >= 200, checked  # the walk really covers the API
    assert not missing, f"public names / methods without their Google-style sections: {missing}"
