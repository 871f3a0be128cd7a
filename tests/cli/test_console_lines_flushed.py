"""An output's lines on dstream's stdout (dstream-console's) are written before the
checkpoint acknowledged after them is stored (docs/cli.md): not left in dstream's own
stdout buffer, where a kill -9 lost them for good (the next run resumes after them)
and a pipe's reader saw nothing of a slow stream until a buffer's worth had piled up.
A stdout that cannot take them fails the run before that checkpoint is stored. Python's
stdout is block-buffered here, as under a service manager (not PYTHONUNBUFFERED)."""

from __future__ import annotations

import errno
import os
import re
import select
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from dstream.cli.boundary import STDOUT_LOST, stdout_unwritable
from tests.cli import scenarios
from tests.cli.test_closed_streams import closed, no_crash
from tests.providers import ticking_input
from tests.services import wait_until
from tests.workspace import CliResult, Workspace, environ, task_runs


def _slow_console(ws: Workspace, count: int = 0) -> None:
    ws.counter_task("t", "dstream-console", "", count=count, checkpoint_every=1, interval=300)


def _stored(ws: Workspace) -> int:
    """The seq of the checkpoint task t has stored (0: none)."""
    shown = ws.run("state", "show", "t").stdout.strip()
    return int(orjson.loads(shown)["seq"]) if shown.startswith("{") else 0


def _seqs(text: bytes) -> list[int]:
    return [int(seq) for seq in re.findall(rb"^\[seq (\d+)\]", text, re.MULTILINE)]


def test_a_kill_9_loses_no_line_whose_checkpoint_was_stored(ws: Workspace) -> None:
    _slow_console(ws)
    env = environ(ws.env, without="PYTHONUNBUFFERED")
    with open(ws.root / "out.txt", "wb") as out, open(ws.root / "err.txt", "wb") as err:
        proc = subprocess.Popen(
            ws.command("run", "t"), cwd=ws.root, env=env, stdout=out, stderr=err
        )
    try:
        wait_until("three checkpoints stored", lambda: _stored(ws) >= 3, timeout=60)
    finally:
        proc.kill()
        proc.wait()
    stored = _stored(ws)  # what the next run resumes after
    assert stored >= 3
    shown = _seqs((ws.root / "out.txt").read_bytes())
    assert shown[:stored] == list(range(1, stored + 1)), (stored, shown)


def test_a_slow_streams_lines_reach_a_pipe_as_their_checkpoints_are_stored(
    ws: Workspace,
) -> None:
    _slow_console(ws)
    env = environ(ws.env, without="PYTHONUNBUFFERED")
    proc = subprocess.Popen(
        ws.command("run", "t"), cwd=ws.root, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        # dstream's stdout buffer (4 KiB on a pipe) of ~64-byte lines, three a second,
        # would take 20 s to fill.
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "no line reached the pipe within 10 s"
        first = os.read(proc.stdout.fileno(), 1 << 16)
        assert _seqs(first)[:1] == [1], first
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


@pytest.mark.parametrize("how", ["closed", "full disk", "reader left"])
def test_a_stdout_that_takes_no_line_fails_the_run_before_a_checkpoint_is_stored(
    ws: Workspace, tmp_path: Path, how: str
) -> None:
    """50 short lines fit dstream's stdout buffer: the first store's flush is where the
    stdout fails, not the exit's, after 50 checkpoints stored and `completed` said."""
    ws.counter_task("t", "dstream-console", "", count=50, checkpoint_every=1, interval=0)
    env = environ(ws.env, without="PYTHONUNBUFFERED")
    done: CliResult
    if how == "closed":
        done = closed(ws, ">&-", "run", "t")
    elif how == "full disk":
        done = closed(ws, ">/dev/full", "run", "t")
    else:
        done = scenarios.into_a_pipe_nobody_reads(ws, "run", "t", env=env)
    no_crash(done, tmp_path)
    assert done.returncode == 1, done.stderr
    reason = "cannot write stdout" if how == "full disk" else STDOUT_LOST.removeprefix("error: ")
    assert done.stderr.count(reason) == 1, done.stderr
    assert "executed successfully" not in done.stderr and "completed" not in done.stderr
    assert _stored(ws) == 0
    (run,) = task_runs(ws.root, "t")
    assert (run["result"], run["exit_code"]) == ("failed", 1), run


# Task b's input: its one line and checkpoint come once task a's input was stopped
# (the file `a-stopped`), that is once task a failed on the stdout both print to.
AFTER_A = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
i=0
while [ ! -e a-stopped ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
echo '{"data":{"n":1},"metadata":{"TableName":"t"}}'
echo '{"checkpoint":{"seq":1}}'
"""


def test_every_task_says_why_the_stdout_they_print_to_failed(ws: Workspace, tmp_path: Path) -> None:
    """Task a's line meets the full disk first, and stdout goes to /dev/null then (no
    second failure at the exit); task b's line comes after. It was written there, and
    b failed with a closed stdout or a reader gone ("stdout is closed or its reader
    left"), which it was not: both say the disk is full."""
    ws.python_script("ticking.py", ticking_input(stopping="a-stopped"))
    ws.script("after_a.sh", AFTER_A)
    ws.config(
        """
        state { path = "state" }
        task "a" {
          input  { provider_path = "./ticking.py" }
          output { provider_path = "dstream-console" }
        }
        task "b" {
          input  { provider_path = "./after_a.sh" }
          output { provider_path = "dstream-console" }
        }
        """
    )
    done = closed(ws, ">/dev/full", "run", "a", "b")
    no_crash(done, tmp_path)
    assert done.returncode == 1, done.stderr
    full = stdout_unwritable(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    for task in "ab":
        assert f'error: task "{task}": {full.removeprefix("error: ")}\n' in done.stderr, done.stderr
    assert STDOUT_LOST.removeprefix("error: ") not in done.stderr, done.stderr
