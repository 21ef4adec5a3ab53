"""The package's structure, enforced: layers (import-linter), no import cycles, no private name imported
across modules, no reach into another object's ``_attributes``, and the wheel's layout.

- ``lint-imports`` checks the contracts in ``pyproject.toml`` (``[tool.importlinter]``): ``cli`` over
  ``evaluation`` over ``retrievers`` / ``rerank`` over ``stores`` over the base modules, and no cycle
  between the siblings of any package.
- The cycle test repeats the acyclic check on the module graph itself (grimp, import-linter's graph
  library; lazy function-level imports count), so a cycle is reported as the modules it runs through.
- The private-name and private-attribute tests walk the source with ``ast``: a name starting with one
  underscore belongs to its module (or its object); another module that needs it needs it public.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "langchain_embcompare"
# the repo's chains/ folder is installed as langchain_embcompare.chains (pyproject's package-dir)
SOURCE_DIRS = {PACKAGE: ROOT / PACKAGE, f"{PACKAGE}.chains": ROOT / "chains"}

# Reaches into an object's `_attribute` that are allowed, each with its reason:
# (file relative to the repo, the expression as ast.unparse writes it) -> why.
ALLOWED_REACHES: dict[tuple[str, str], str] = {
    # efficientnet-pytorch's EfficientNet has no public API for its stem/blocks/head: the backbone
    # runs its forward pass layer by layer to take the pooled features (the same attributes its own
    # extract_features uses).
    ("langchain_embcompare/media/image_backbones.py", "model._swish"): "efficientnet-pytorch internals (third party, no public API)",
    ("langchain_embcompare/media/image_backbones.py", "model._blocks"): "efficientnet-pytorch internals (third party, no public API)",
    ("langchain_embcompare/media/image_backbones.py", "block._swish"): "efficientnet-pytorch internals (third party, no public API)",
    ("langchain_embcompare/media/image_backbones.py", "model._conv_head"): "efficientnet-pytorch internals (third party, no public API)",
    ("langchain_embcompare/media/image_backbones.py", "model._fc"): "efficientnet-pytorch internals (third party, no public API)",
}
# namedtuple's public methods are spelled with a leading underscore (to keep clear of field names)
NAMEDTUPLE_METHODS = {"_replace", "_asdict", "_make"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules() -> list[tuple[str, Path, bool]]:
    """(dotted module name, file, is a package __init__) for every module of the package."""
    out = []
    for prefix, folder in SOURCE_DIRS.items():
        for f in sorted(folder.rglob("*.py")):
            rel = f.relative_to(folder).with_suffix("").parts
            is_init = rel[-1] == "__init__"
            parts = rel[:-1] if is_init else rel
            if prefix == PACKAGE and parts[:1] == ("chains",):
                continue
            out.append((".".join((prefix, *parts)), f, is_init))
    return out


def _resolve(node: ast.ImportFrom, module: str, is_init: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_init else module.split(".")[:-1]
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_lint_imports_keeps_every_contract() -> None:
    """`lint-imports` (import-linter) passes: the layers and acyclic contracts of pyproject.toml hold."""
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = proc.stdout + proc.stderr
    assert "Contracts: " in report, report
    assert proc.returncode == 0, report
    assert "0 broken" in report, report


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each with more than one module or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    found.append(sorted(comp))
    return found


def test_strongly_connected_finds_a_cycle() -> None:
    """The cycle finder itself: a three-module loop and a self-import are found, a chain is not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert sorted(_strongly_connected(graph)) == [["a", "b", "c"], ["e"]]
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_between_modules() -> None:
    """No two modules of the package import each other, directly or through others (lazy imports count)."""
    g = grimp.build_graph(PACKAGE)
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    cycles = _strongly_connected(graph)
    assert len(graph) > 100, f"only {len(graph)} modules found: is the package installed?"
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_imported_across_modules() -> None:
    """No module imports another module's `_private` name (`from m import _x`, or `m._x` on an imported module)."""
    names = {m for m, _, _ in _modules()}
    found = []
    for module, path, is_init in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound_modules: set[str] = set()  # local dotted names that stand for a package module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _resolve(node, module, is_init)
                if source.split(".")[0] not in (PACKAGE, "chains"):
                    continue
                for a in node.names:
                    if _is_private(a.name):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {source} import {a.name}")
                    elif f"{source}.{a.name}" in names:
                        bound_modules.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in (PACKAGE, "chains"):
                        bound_modules.add(a.asname or a.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and _dotted(node.value) in bound_modules:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, f"{len(found)} private names used across modules:\n" + "\n".join(found)


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _own_private_names(cls: ast.ClassDef) -> set[str]:
    """The private names a class defines for itself: its methods, class-level names and ``self._x`` assignments."""
    own = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_private(node.name):
            own.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name) and _is_private(target.id):
                    own.add(target.id)
                elif (isinstance(target, ast.Attribute) and _is_private(target.attr)
                      and isinstance(target.value, ast.Name) and target.value.id == "self"):
                    own.add(target.attr)
    return own


def _reaches(tree: ast.AST, own: frozenset[str] = frozenset()) -> list[ast.Attribute]:
    """``x._attr`` nodes outside ``self`` / ``cls``, except a class's own private names used inside that
    class's body (an alternate constructor filling a new instance, or ``other._x`` of the same class):
    privacy is per class, as in Python's name mangling."""
    found = []
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.ClassDef):
            found += _reaches(child, own | _own_private_names(child))
            continue
        if isinstance(child, ast.Attribute) and _is_private(child.attr):
            is_self = isinstance(child.value, ast.Name) and child.value.id in ("self", "cls")
            if not is_self and child.attr not in NAMEDTUPLE_METHODS and child.attr not in own:
                found.append(child)
        found += _reaches(child, own)
    return found


def test_reach_rule_allows_a_class_its_own_privates_only() -> None:
    """The rule itself: a classmethod filling a new instance of its class passes; another class's private does not."""
    code = (
        "class A:\n"
        "    def __init__(self): self._x = 1\n"
        "    @classmethod\n"
        "    def load(cls):\n"
        "        a = cls(); a._x = 2; return a\n"
        "class B:\n"
        "    def f(self, a): return a._x + self._y + a.__dict__['k']\n"
    )
    assert [ast.unparse(n) for n in _reaches(ast.parse(code))] == ["a._x"]


def test_no_reach_into_another_objects_private_attributes() -> None:
    """`obj._attr` appears only on `self` / `cls` or inside the class that owns `_attr` (dunders and
    namedtuple methods aside, and the allow-list with its reasons)."""
    found = []
    used = set()
    for _, path, _ in _modules():
        rel = str(path.relative_to(ROOT))
        for node in _reaches(ast.parse(path.read_text(encoding="utf-8"))):
            key = (rel, ast.unparse(node))
            if key in ALLOWED_REACHES:
                used.add(key)
                continue
            found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not found, f"{len(found)} reaches into other objects' private attributes:\n" + "\n".join(found)
    stale = sorted(set(ALLOWED_REACHES) - used)
    assert not stale, f"allow-list entries no longer in the code (remove them): {stale}"


def _package_imports(path: Path, module: str, is_init: bool) -> set[str]:
    """Modules of the package (or ``langchain_embcompare.chains``) that one file imports, lazily or not."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(node, module, is_init)
            out |= {source} if source.split(".")[0] == PACKAGE else set()
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
    return out


def test_chains_sit_beside_demo_and_have_no_cycle() -> None:
    """langchain_embcompare.chains (the repo's chains/ folder; grimp and lint-imports do not see mapped
    folders): it imports neither cli nor demo, nothing but cli imports it, and its modules form no cycle."""
    chains = f"{PACKAGE}.chains"
    graph: dict[str, set[str]] = {}
    for module, path, is_init in _modules():
        imported = _package_imports(path, module, is_init)
        if module == chains or module.startswith(chains + "."):
            above = {m for m in imported if m.split(".")[1] in ("cli", "demo")}
            assert not above, f"{module} imports from a layer above it: {sorted(above)}"
            graph[module] = {m for m in imported if m.startswith(chains + ".")}
        elif module != f"{PACKAGE}.cli":
            into = {m for m in imported if m == chains or m.startswith(chains + ".")}
            assert not into, f"{module} imports {sorted(into)}: only cli sits above chains"
    assert len(graph) >= 5, sorted(graph)
    assert _strongly_connected({m: {d for d in ds if d != f"{chains}"} for m, ds in graph.items()}) == []


def _package_folders() -> set[str]:
    out = set()
    for prefix, folder in SOURCE_DIRS.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            if prefix == PACKAGE and parts[:1] == ("chains",):
                continue
            out.add(".".join((prefix, *parts)))
    return out


def test_pyproject_lists_every_package_and_maps_chains() -> None:
    """pyproject's explicit package list names every package folder; chains/ installs as langchain_embcompare.chains."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(cfg["packages"])
    assert _package_folders() <= listed, f"package folders missing from pyproject's packages: {sorted(_package_folders() - listed)}"
    assert not any(p == "chains" or p.startswith("chains.") for p in listed)
    assert cfg["package-dir"] == {f"{PACKAGE}.chains": "chains"}


def test_installed_package_imports_chains_inside_the_library() -> None:
    """The installed (editable) package resolves langchain_embcompare.chains to the repo's chains/ folder."""
    code = (
        "import langchain_embcompare.chains as c, langchain_embcompare.chains.rag as r; "
        "print(c.__file__); print(callable(c.build_rag_chain) and r.build_rag_chain is c.build_rag_chain)"
    )
    # run from a folder without a chains/ in it: the import must come from the install, not the cwd
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    file, same = proc.stdout.split()
    assert Path(file) == ROOT / "chains" / "__init__.py"
    assert same == "True"
    proc = subprocess.run([sys.executable, "-c", "import chains"], cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "No module named 'chains'" in proc.stderr


def test_wheel_installs_chains_inside_the_package(tmp_path: Path) -> None:
    """The built wheel has langchain_embcompare/chains/*.py and no top-level chains package."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / PACKAGE, src / PACKAGE, ignore=ignore)
    shutil.copytree(ROOT / "chains", src / "chains", ignore=ignore)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheel"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {PACKAGE}, tops
    chains = sorted(n for n in names if n.startswith(f"{PACKAGE}/chains/"))
    assert chains == [f"{PACKAGE}/chains/{f.name}" for f in sorted((ROOT / "chains").glob("*.py"))]
    assert f"{PACKAGE}/data/demo/corpus.jsonl" in names  # package data still ships
