"""The oci package sits below the runtime: it imports nothing from `runtime`, `cli` or
`kit` (the runtime imports it to resolve provider_ref). Lazy imports inside functions
count too, so the source is read rather than the module imported."""

from __future__ import annotations

import ast
from pathlib import Path

import dstream.oci

ABOVE = ("dstream.runtime", "dstream.cli", "dstream.kit")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_oci_imports_nothing_from_the_layers_above_it() -> None:
    package = Path(dstream.oci.__file__).parent
    upward = [
        f"{path.name} imports {name}"
        for path in sorted(package.glob("*.py"))
        for name in imported_modules(path)
        if name.startswith(ABOVE)
    ]
    assert upward == []
