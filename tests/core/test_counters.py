"""The pump's counters are listed once, in the Rust core (`_core.COUNTERS`); everything
else that names them is derived from that list or checked against it here: the binding's
Counters class, the stub, the runtime's sums, the metrics, the summary and the docs."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import dstream
from dstream import _core
from dstream.runtime import metrics, monitor

PACKAGE = Path(dstream.__file__).parent
DOCS = Path(__file__).resolve().parents[2] / "docs"
NAMES = [name for name, _meaning in _core.COUNTERS]


def _counters_of_a_run() -> _core.Counters:
    """A real pump over real pipes: two data frames in, two out."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(in_w, b'{"data":1,"metadata":{"TableName":"t"}}\n{"checkpoint":1}\n')
        os.close(in_w)
        result = _core.Pump(in_r, out_w, _core.PumpOptions()).run()
    finally:
        for fd in (in_r, out_w, out_r):
            os.close(fd)
    assert result.outcome == "eof"
    return result.counters


def test_the_list_is_well_formed() -> None:
    assert NAMES and len(set(NAMES)) == len(NAMES)
    assert all(name.isidentifier() and meaning for name, meaning in _core.COUNTERS)


def test_counters_have_one_attribute_per_name_and_as_dict_all_of_them() -> None:
    counters = _counters_of_a_run()
    as_dict = counters.as_dict()
    assert list(as_dict) == [*NAMES, "tables"]
    assert all(getattr(counters, name) == as_dict[name] for name in NAMES)
    assert (counters.frames, counters.data_frames, counters.checkpoint_frames) == (2, 1, 1)
    assert all(f"{name}=" in repr(counters) for name in NAMES)


def test_the_stub_declares_every_counter() -> None:
    tree = ast.parse((PACKAGE / "_core.pyi").read_text())
    stub = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Counters")
    declared = [
        n.target.id
        for n in stub.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    assert declared == [*NAMES, "tables"]


def test_the_runtime_sums_every_counter_over_restarts() -> None:
    assert list(monitor.SUMMED) == NAMES
    one = {name: 1 for name in NAMES} | {"tables": {"t": 1}}
    assert monitor.add_counters(one, one) == {name: 2 for name in NAMES} | {"tables": {"t": 2}}


def _counter_keys_read(source: str) -> set[str]:
    """String keys read from a counters dict: `c.get("x")`, `c["x"]`, `counters.get(...)`,
    `summary.counters.get(...)` (a rename in the core shows up here)."""

    def is_counters(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in ("c", "counters")) or (
            isinstance(node, ast.Attribute) and node.attr == "counters"
        )

    keys = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and is_counters(node.func.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            keys.add(node.args[0].value)
        elif (
            isinstance(node, ast.Subscript)
            and is_counters(node.value)
            and isinstance(node.slice, ast.Constant)
        ):
            keys.add(node.slice.value)
    return keys


def test_metrics_summary_and_progress_read_only_counters_the_core_has() -> None:
    assert set(metrics.KINDS) | set(metrics.POLICIES) <= set(NAMES)
    readers = ["runtime/summary.py", "runtime/progress.py", "runtime/metrics.py",
               "runtime/legacy.py", "runtime/pipeline.py", "runtime/ending.py",
               "cli/run.py"]  # fmt: skip
    read = set().union(*(_counter_keys_read((PACKAGE / p).read_text()) for p in readers))
    assert "data_frames" in read  # the scan finds what it looks for
    assert read <= {*NAMES, "tables"}


def test_the_docs_list_every_counter_with_its_meaning() -> None:
    text = (DOCS / "operations.md").read_text()
    section = text.split("### Counters", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|$", section, re.MULTILINE)
    assert rows == list(_core.COUNTERS)
