"""The wheel's tests run in a copy of the repository without the package's source
(scripts/test-wheel.sh: the committed tree without `python-source` of pyproject.toml),
so that nothing can import it. A test that reads a repository file the copy lacks fails
only there, in the release workflow, at collection when it reads at import: README.md
did. So every repository path a test names from the repository root must be committed
and outside the source directory.

The paths are read from the tests' code: `ROOT / "docs" / "cli.md"` where ROOT (or the
expression itself) is `Path(__file__)...parents[N]`, and names bound to such paths. A
path built at run time (from a loop's variable, a glob) is not seen; its directory is."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def source_directory() -> str:
    """Where the package's source is: what the suite leaves out (test-wheel.sh reads it
    from the same place)."""
    maturin = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maturin"]
    return str(maturin["python-source"])


def _file_expression(node: ast.expr) -> bool:
    """`Path(__file__)` followed by attributes, calls and subscripts only."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return (
                node.func.id == "Path"
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == "__file__"
            )
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


class _Paths(ast.NodeVisitor):
    """The repository paths one test module names."""

    def __init__(self, module: Path) -> None:
        self.module = module
        self.names: dict[str, Path] = {}
        self.found: set[Path] = set()

    def resolve(self, node: ast.expr) -> Optional[Path]:
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            left = self.resolve(node.left)
            right = node.right
            if (
                left is not None
                and isinstance(right, ast.Constant)
                and isinstance(right.value, str)
            ):
                return left / right.value
            return None
        if _file_expression(node):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                return self.resolve(node.func.value)  # .resolve(), .absolute(): the same place
            code = compile(ast.Expression(node), str(self.module), "eval")
            value = eval(code, {"Path": Path, "__file__": str(self.module)})
            return Path(value).resolve() if isinstance(value, Path) else None
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        path = self.resolve(node.value)
        if path is not None:
            self.names.update({t.id: path for t in node.targets if isinstance(t, ast.Name)})
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        path = self.resolve(node)
        if path is not None:
            self.found.add(path)
        else:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.names:
            self.found.add(self.names[node.id])


def named_paths() -> Iterator[tuple[Path, str]]:
    """(test module, repository path it names) for every test module."""
    for module in sorted(TESTS.rglob("*.py")):
        if module == Path(__file__).resolve():
            continue  # this module names the checkout's .git and an example of its own
        visitor = _Paths(module)
        visitor.visit(ast.parse(module.read_text(), str(module)))
        for path in sorted(visitor.found):
            if path.is_relative_to(ROOT) and path != ROOT:
                yield module, path.relative_to(ROOT).as_posix()


def _git(*args: str) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, check=True, timeout=60
    )
    return [line for line in done.stdout.decode().split("\0") if line]


def _under(paths: set[str], files: list[str]) -> set[str]:
    """Those of `paths` that are one of `files` or a directory holding one."""
    return {p for p in paths for f in files if f == p or f.startswith(p + "/")}


def test_every_repository_file_a_test_names_is_in_the_wheel_suite(tmp_path: Path) -> None:
    named = list(named_paths())
    assert any(p == "README.md" for _, p in named), "the scan finds nothing: is it broken?"
    source = source_directory()
    inside_source = [(m, p) for m, p in named if p == source or p.startswith(source + "/")]
    assert not inside_source, (
        f"tests read the package source the wheel suite lacks: {inside_source}"
    )
    paths = {p for _, p in named}
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        # Running in the wheel's suite itself: it is what scripts/test-wheel.sh wrote.
        lacking = {p for p in paths if not (ROOT / p).exists()}
    else:
        suite = tmp_path / "suite"
        subprocess.run(
            [str(ROOT / "scripts" / "test-wheel.sh"), "--suite-only", str(suite)],
            check=True, timeout=120, env={**os.environ, "DSTREAM_WHEEL_REF": "HEAD"},
        )  # fmt: skip
        committed = _under(paths, _git("ls-tree", "-r", "-z", "--name-only", "HEAD", "--"))
        tracked = _under(paths, _git("ls-files", "-z", "--"))  # committed with the change
        lacking = {p for p in committed if not (suite / p).exists()} | (paths - tracked)
    missing = sorted((m.relative_to(ROOT).as_posix(), p) for m, p in named if p in lacking)
    assert not missing, f"tests read repository files the wheel suite lacks: {missing}"


def test_the_scan_sees_the_ways_tests_name_paths(tmp_path: Path) -> None:
    """The forms in use: a root bound to a name, a path bound from it, an inline root."""
    module = TESTS / "wheel" / "example_module.py"  # never written: only its place counts
    code = (
        "ROOT = Path(__file__).resolve().parents[2]\n"
        "DOCS = ROOT / 'docs'\n"
        "A = (DOCS / 'cli.md').read_text()\n"
        "B = Path(__file__).parents[2] / 'examples'\n"
        "def f(where):\n    return where / 'bin' / 'python', ROOT / 'README.md'\n"
    )
    visitor = _Paths(module)
    visitor.visit(ast.parse(code))
    assert {p.relative_to(ROOT).as_posix() for p in visitor.found if p != ROOT} == {
        "docs", "docs/cli.md", "examples", "README.md",
    }  # fmt: skip
