"""The layers in pyproject.toml hold: import-linter runs in the suite, catches an upward
import when one is planted, and no module reaches itself through others."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analytics", "dashboard", "sample_data")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # import-linter is in the test extra, installed beside this interpreter.
    tool = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(tool), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_import_contracts_are_kept():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.fixture
def copy_of_the_code(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(root: Path, module: str, line: str) -> None:
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        # The store may not know about the screens built on it.
        ("analytics.data.store", "from analytics.views import therapist", "Layers"),
        # Models may not reach up into the snapshot that serves them.
        ("analytics.models.features", "import analytics.serving.snapshot", "Layers"),
        ("analytics.clinical", "import streamlit", "Analytics never imports the UI"),
        ("sample_data.generator", "import analytics.settings", "generator stands alone"),
    ],
)
def test_a_planted_import_breaks_a_contract(copy_of_the_code, module, line, expected):
    clean = _lint_imports(copy_of_the_code)
    assert clean.returncode == 0, clean.stdout
    _plant(copy_of_the_code, module, line)
    proc = _lint_imports(copy_of_the_code)
    assert proc.returncode == 1, proc.stdout
    broken = [ln for ln in proc.stdout.splitlines() if ln.endswith(" BROKEN")]
    assert any(expected in ln for ln in broken), proc.stdout
    assert module in proc.stdout  # the report names the offending importer


def _cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan, iteratively)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & set(modules)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in modules:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(group)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle(copy_of_the_code, monkeypatch):
    _plant(copy_of_the_code, "analytics.settings", "import analytics.clinical")
    monkeypatch.syspath_prepend(str(copy_of_the_code))
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        monkeypatch.delitem(sys.modules, name)
    graph = grimp.build_graph(*PACKAGES)
    assert {"analytics.settings", "analytics.clinical"} in _cycles(graph)


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the first import of each block inside a function, skipping
    ``if TYPE_CHECKING:`` blocks, which never run."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            return
        body_lists = [getattr(node, f, None) for f in ("body", "orelse", "finalbody", "handlers")]
        for body in body_lists:
            if not isinstance(body, list):
                continue
            previous_was_import = False
            for child in body:
                is_import = isinstance(child, (ast.Import, ast.ImportFrom))
                if is_import and in_function and not previous_was_import:
                    found.append((child.lineno, lines[child.lineno - 1]))
                previous_was_import = is_import
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                visit(child, inner)

    visit(tree, False)
    return [
        (n, text)
        for n, text in found
        if "#" not in text and not lines[n - 2].strip().startswith("#")
    ]


def test_every_function_level_import_says_why():
    """An import inside a function hides a dependency from the contract's reader; it is
    allowed where a heavy dependency justifies it, with a comment saying so."""
    unexplained = [
        f"{path.relative_to(ROOT)}:{n}: {text.strip()}"
        for package in ("analytics", "dashboard")
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, text in _function_level_imports(path)
    ]
    assert unexplained == []


def test_private_modules_are_used_only_inside_their_package():
    """A package's public surface is its __init__; an underscore module is an
    implementation detail that only its own package may import."""
    graph = grimp.build_graph(*PACKAGES)
    leaks = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")]
            if not private:
                continue
            package = ".".join(parts[: private[0]])
            if importer != package and not importer.startswith(package + "."):
                leaks.append(f"{importer} -> {imported}")
    assert leaks == []
