"""Whether a run may start warm is decided once (cli/entry.py): `python -m
dstream.cli.app` is DSTREAM_WARM_START=0, the `dstream` console script is not. In a
project whose last console run kept a warm start's snapshot, the module's run starts as
always and the console script's starts warm; the runtime says at debug level when it
took over what a warm start started (runtime/warmplan.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workspace import CliResult, Workspace, dstream_argv, environ

WARM = "started by a warm start"
CONSOLE_SCRIPT = os.path.join(os.path.dirname(sys.executable), "dstream")

# An input a warm start may start (protocol 1) that counts its runs in its checkpoint.
INPUT = r"""
read -r command
n=$(( $(cat runs 2>/dev/null || echo 0) + 1 ))
echo "$n" > runs
printf '%s\n' '{"status":"ready","protocol":1}'
printf '{"data":%d}\n{"checkpoint":{"n":%d}}\n' "$n" "$n"
"""


def run(ws: Workspace, argv: list[str]) -> CliResult:
    """`argv` (a dstream command line) run in the workspace, logging at debug level."""
    env = {**ws.env, "DSTREAM_CACHE_DIR": str(ws.root / "cache"), "DSTREAM_LOG_LEVEL": "debug"}
    done = subprocess.run(
        argv, cwd=ws.root, env=environ(env), capture_output=True, timeout=60, check=False
    )
    result = CliResult(argv, done.returncode, done.stdout, done.stderr)
    assert result.returncode == 0, result.stderr
    return result


def snapshots(ws: Workspace) -> list[Path]:
    directory = ws.root / "cache" / "warm"
    return sorted(directory.iterdir()) if directory.exists() else []


def test_python_m_never_starts_warm_in_a_kept_project_and_the_console_script_does(
    ws: Workspace,
) -> None:
    if not os.access(CONSOLE_SCRIPT, os.X_OK):  # a broken install: no skip hides it
        pytest.fail(f"no dstream console script at {CONSOLE_SCRIPT}: pip install -e . installs it")
    ws.script("input.sh", INPUT)
    ws.shell_output_task("./input.sh", state=True)
    first = run(ws, [CONSOLE_SCRIPT, "run", "-q"])
    assert WARM not in first.stderr, first.stderr  # nothing was kept before it
    (kept,) = snapshots(ws)
    module = run(ws, dstream_argv("run", "-q"))
    assert WARM not in module.stderr, module.stderr
    assert snapshots(ws) == [kept], "the module's run keeps nothing and forgets nothing"
    console = run(ws, [CONSOLE_SCRIPT, "run", "-q"])
    assert WARM in console.stderr, console.stderr
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}, {"data": 3}]
