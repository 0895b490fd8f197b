"""The package is layered without cycles: data flows options → problem → run → result → store →
report, and no module imports from a layer above its own.

Three checks: every module imports on its own in a fresh interpreter, taken in layer order (a cycle
shows up as an ImportError from a partially initialised module); statically (ast), no
module-level import reaches a higher layer and no import hides inside a function unless it says
why with a ``# lazy: <reason>`` comment (an optional heavy dependency: matplotlib to draw,
duckdb, dask/distributed, rich...); and the graph of module-level imports between specgd's
modules has no cycle, within a layer as across layers.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import specgd

# Layer of each top-level part of the package, lowest first. ``options`` is the run option type
# and its checks, with which each layer declares the options it owns (``data/options.py``...);
# ``analysis`` holds pure measures (numpy only), used from the runner's tracked targets up to the
# report; ``results`` (the result type, its files and the store: pandas, pyarrow, DuckDB) needs no
# simulation and sits under the runner, which returns a result; ``config`` assembles the option
# table, reads a run's TOML into the runner's arguments and sits above both.
LAYERS = ["errors", "options", "analysis", "results", "data", "model", "loss", "optim", "runner",
          "config", "sweeps", "theory", "atlas", "report", "cli"]
# ``import specgd`` gives the public names, which reach up to the sweeps.
ROOT_RANK = LAYERS.index("sweeps")
# Modules placed on another layer than their folder's, with why.
PLACED = {
    # The elementwise activations and links with their Gaussian means (errors, JAX and NumPy only):
    # a problem names its activation and link, and draws its labels through the link.
    "specgd.model.activations": "data",
}

# Modules allowed function-level imports without a ``# lazy:`` reason: none. Every import inside a
# function says why it is there (an optional heavy dependency, or a layer above loaded on use).
UNMARKED: dict[str, str] = {}

SRC = Path(specgd.__file__).parent


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(specgd.__path__, "specgd.")]
    return sorted(names, key=lambda n: (_rank(n), n))


def _rank(name: str) -> int:
    parts = name.split(".")
    if name in PLACED:
        return LAYERS.index(PLACED[name])
    if len(parts) == 1:
        return ROOT_RANK
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else len(LAYERS)  # see the last test


def _path(name: str) -> Path:
    rel = Path(*name.split(".")[1:])
    package = SRC / rel / "__init__.py"
    return package if package.exists() else (SRC / rel).with_suffix(".py")


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test)


def _imports(tree: ast.AST, in_function: bool = False):
    """(node, in_function) for every executed import (``if TYPE_CHECKING:`` blocks skipped)."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _imports(node, inner)


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
    return [base]


def _marked(lines: list[str], node: ast.AST, import_lines: set[int]) -> bool:
    """``# lazy:`` on the import's lines or on the comment and import lines right above it."""
    if any("# lazy:" in lines[i - 1] for i in range(node.lineno, node.end_lineno + 1)):
        return True
    i = node.lineno - 1
    while i >= 1 and (i in import_lines or lines[i - 1].strip().startswith("#")):
        if "# lazy:" in lines[i - 1]:
            return True
        i -= 1
    return False


@pytest.mark.parametrize("name", _modules())
def test_no_import_from_a_higher_layer_or_unexplained_lazy_import(name):
    path = _path(name)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    upward, unmarked = [], []
    found = list(_imports(ast.parse(source)))
    import_lines = {i for node, _ in found for i in range(node.lineno, node.end_lineno + 1)}
    for node, in_function in found:
        for target in _targets(node, package):
            if target != "specgd" and not target.startswith("specgd."):
                continue
            if not in_function and name != "specgd" and _rank(target) > _rank(name):
                upward.append(f"line {node.lineno}: {target}")
        if in_function and name not in UNMARKED and not _marked(lines, node, import_lines):
            unmarked.append(f"line {node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not upward, f"{name} (layer {_rank(name)}) imports from a higher layer: {upward}"
    assert not unmarked, (f"{name}: imports inside functions without a '# lazy: <reason>' "
                          f"comment: {unmarked}")


def test_every_module_imports_in_a_fresh_interpreter_in_layer_order():
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as err:\n"
        "        sys.exit(f'{name}: {err}')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *_modules()], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_every_part_of_the_package_has_a_layer():
    parts = {n.split(".")[1] for n in _modules() if n.count(".") >= 1}
    assert parts <= set(LAYERS), sorted(parts - set(LAYERS))


def _module_imports(name: str) -> set[str]:
    """The specgd modules ``name`` imports at module level (``from pkg import sub`` naming a
    submodule counts as an import of that submodule; ``if TYPE_CHECKING:`` blocks skipped)."""
    path = _path(name)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    known = set(_modules()) | {"specgd"}
    out = set()
    for node, in_function in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if in_function:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _targets(node, package)[0].rstrip(".")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        out |= {t for t in targets if t in known and t != name}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules():
    graph = {name: _module_imports(name) for name in ["specgd", *_modules()]}
    assert _cycles(graph) == []
    # the check finds a cycle when there is one
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "specgd.report.experiments.e1_dynamics.claims" in graph["specgd.report.experiments.e1_dynamics"]
