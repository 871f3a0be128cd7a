"""Every error dstream raises says what to do: each construction of `DstreamError` or a
class derived from it, anywhere in the package (the SDK and the providers included:
their refusals reach the user through dstream), names a `hint`, and never the literal
None or "". Read from the source, so a raise on a path no test takes is held to it too.

A hint computed at run time (`hint=exc.hint`) is trusted here, and so is a class whose
own __init__ takes no hint and gives its base one; the evaluator's
`fail()` and the schema walk's `fail()` take a `str`, which mypy holds them to.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dstream

PACKAGE = Path(dstream.__file__).parent


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in PACKAGE.rglob("*.py")}


def _error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """DstreamError and every class derived from it, by name (bases followed by name)."""
    bases: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                bases.setdefault(node.name, set()).update(names)
    found = {"DstreamError"}
    while True:
        more = {name for name, of in bases.items() if of & found} - found
        if not more:
            return found
        found |= more


def _self_hinting(trees: dict[Path, ast.Module], classes: set[str]) -> set[str]:
    """Error classes whose own __init__ takes no hint and passes one to its base: every
    construction of them has the hint the class gives."""
    found = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ClassDef) and node.name in classes):
                continue
            init = next(
                (f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"),
                None,
            )
            if init is None or any(a.arg == "hint" for a in init.args.kwonlyargs + init.args.args):
                continue
            if any(
                isinstance(call, ast.Call)
                and ast.unparse(call.func) == "super().__init__"
                and any(k.arg == "hint" for k in call.keywords)
                for call in ast.walk(init)
            ):
                found.add(node.name)
    return found


def _called(node: ast.Call) -> str:
    return ast.unparse(node.func).rsplit(".", 1)[-1]


def test_every_error_names_a_hint() -> None:
    trees = _trees()
    classes = _error_classes(trees)
    assert {"ConfigError", "ProviderError", "UsageError"} <= classes, classes
    given = _self_hinting(trees, classes)
    silent = []
    for path, tree in sorted(trees.items()):
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node) in classes - given):
                continue
            hint = next((k.value for k in node.keywords if k.arg in ("hint", None)), None)
            if hint is None or (isinstance(hint, ast.Constant) and not hint.value):
                silent.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {_called(node)}")
    assert silent == []
