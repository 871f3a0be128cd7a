"""A provider's stderr line longer than 64 KiB is relayed as one line: the reader split
it into 64 KiB pieces, each shown as a line of its own (half a line, then the rest as if
it were a new one). A line over the relay's bound (pipes.MAX_STDERR_LINE) is cut once,
and says how many bytes were dropped; the line after it is whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dstream.runtime.pipes import MAX_STDERR_LINE
from tests.workspace import Workspace

# An input that writes one stderr line of SIZE bytes (BEGIN x... END), then "after".
PROVIDER = r"""
import os, sys
size = int(os.environ["SIZE"])
sys.stdin.readline()
sys.stderr.write("BEGIN" + "x" * (size - 8) + "END\nafter\n")
sys.stderr.flush()
print('{"status":"ready","protocol":1}', flush=True)
print('{"data":1}', flush=True)
"""


def _workspace(ws: Workspace, size: int) -> None:
    ws.python_script("in.py", PROVIDER)
    ws.script("out.sh", 'read -r command\necho \'{"status":"ready"}\'\ncat >/dev/null\n')
    ws.task("./in.py", "./out.sh", input_env={"SIZE": str(size)})


def _relayed(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("input: ")]


@pytest.mark.timeout(120)
def test_a_100_kib_stderr_line_is_relayed_as_one_line(ws: Workspace) -> None:
    size = 100 * 1024
    _workspace(ws, size)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr[-2000:]
    relayed = _relayed(done.stderr)
    assert [len(line) for line in relayed] == [len("input: ") + size, len("input: after")]
    assert relayed[0].startswith("input: BEGIN") and relayed[0].endswith("xEND")
    records = [json.loads(line) for line in ws.run("run", "t", "-f", "json").stderr.splitlines()]
    said = [r["msg"] for r in records if r.get("role") == "input"]
    assert [len(msg) for msg in said] == [size, len("after")], [m[:20] for m in said]


@pytest.mark.timeout(120)
def test_a_line_over_the_bound_is_cut_once_saying_how_much_was_dropped(ws: Workspace) -> None:
    size = MAX_STDERR_LINE + 5000
    _workspace(ws, size)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr[-2000:]
    relayed = _relayed(done.stderr)
    assert len(relayed) == 2 and relayed[1] == "input: after", [r[:40] for r in relayed]
    head, marker = (
        relayed[0][: len("input: ") + MAX_STDERR_LINE],
        relayed[0][len("input: ") + MAX_STDERR_LINE :],
    )
    assert head.startswith("input: BEGIN") and set(head[len("input: BEGIN") :]) == {"x"}
    assert (
        marker == f" [... 5000 more bytes dropped: stderr lines are cut at {MAX_STDERR_LINE} bytes]"
    )


def test_docs_give_the_bound() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    assert f"cut at {MAX_STDERR_LINE} bytes" in (docs / "operations.md").read_text()
