"""A task left behind by a forced stop (its thread still waits on the state 3 s after
the second signal: runtime/signals.py, `left_behind`) is recorded in its history from
its run's start, when its providers were started, not from when its pump began to
stream (a task whose providers never attached had no such moment at all).

On the file state the only wait of a task's thread is the lock every write of the
task's state takes for a moment (state/file.py, `_locked`): the test holds that lock
from outside, so the run's checkpoint writes wait on it, with the task's thread behind
them, and the history's write too until the test lets go. Which writes wait is read
from /proc/locks (the kernel's list of held and awaited locks), not guessed by time."""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

import orjson
import pytest

from dstream.errors import ExitCode
from tests.services import wait_until
from tests.workspace import Run, Workspace

# Notes when it started (before its handshake, which it delays by a second), then
# writes an envelope and a checkpoint every 20 ms until SIGTERM.
INPUT = r"""
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open("input_started", "w") as f:
    f.write(repr(time.time()))
time.sleep(1.0)
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
i = 0
while True:
    i += 1
    print('{"data":%d,"metadata":{}}' % i, flush=True)
    print('{"checkpoint":{"seq":%d}}' % i, flush=True)
    time.sleep(0.02)
"""

# Acknowledges every checkpoint; exits at the end of its stdin.
OUTPUT = r"""
import sys
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
for line in sys.stdin.buffer:
    if line.startswith(b'{"checkpoint"'):
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
"""


def _waiters(lock: Path) -> int:
    """How many waits for a lock on `lock` the kernel lists: the lines of /proc/locks
    such as `1: -> FLOCK  ADVISORY  WRITE 1006 fe:00:10012085 0 EOF` (MAJOR:MINOR:INODE)."""
    inode = os.stat(lock).st_ino
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[1] == "->" and fields[6].rsplit(":", 1)[-1] == str(inode):
            count += 1
    return count


def _stored(ws: Workspace, run: Run) -> bool:
    """Whether the run stored a checkpoint by now (it must still run)."""
    assert run.proc.poll() is None, run.stderr()
    return (ws.root / "state" / "t.json").exists()


@pytest.mark.timeout(120)
def test_a_task_left_behind_is_recorded_from_its_start(ws: Workspace) -> None:
    ws.python_script("input.py", INPUT)
    ws.python_script("output.py", OUTPUT)
    # A long stop_grace: the task's thread waits for its checkpoint writer that long.
    ws.task("./input.py", "./output.py", state=True, settings='stop_grace = "5m"')
    run = Run(ws, "run", "t", "--json")
    lock = ws.root / "state" / ".t.lock"
    held = -1
    try:
        wait_until("a checkpoint to be stored", lambda: _stored(ws, run))
        held = os.open(lock, os.O_RDWR)
        fcntl.flock(held, fcntl.LOCK_EX)
        wait_until("a checkpoint write to wait for the lock", lambda: _waiters(lock) >= 1)
        run.signal(signal.SIGTERM)
        wait_until("the run to say it stops", lambda: run.says("stopping"))
        run.signal(signal.SIGTERM)  # forced: 3 s later the task's thread is left behind
        # The writer, and the history's write of the task left behind.
        wait_until("the history's write to wait for the lock", lambda: _waiters(lock) >= 2)
    finally:
        if held >= 0:
            os.close(held)  # the waiting writes go through
    assert run.wait() == ExitCode.TERMINATED, run.stderr()
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    assert task["error"]["error"] == "LeftBehind", task
    done = ws.run("runs", "t", "--json")
    assert done.returncode == 0, done.stderr
    runs = orjson.loads(done.stdout_bytes)["runs"]
    assert [r["result"] for r in runs] == ["interrupted"], runs  # recorded once
    input_started = float(ws.read_text("input_started"))
    # From the run's start, before its input began (and a second before it streamed).
    assert runs[0]["started_at"] <= input_started <= runs[0]["ended_at"], runs
