"""A task left behind by a forced stop (its thread still waits 3 s after the second
signal: runtime/signals.py, `left_behind`) does not keep the process: after a forced stop
the store makes no write that can wait, and the record of its run is one.

On the file state the only wait of a task's thread is the lock every write of the
task's state takes for a moment (state/file.py, `_locked`): the test holds that lock
from outside, so the run's checkpoint writes wait on it, with the task's thread behind
them. The history's record of the task left behind would wait on it too: it tries for a
moment and says the run is not recorded instead, and the process ends while the lock is
still held. Which writes wait is read from /proc/locks (the kernel's list of held and
awaited locks), not guessed by time."""

from __future__ import annotations

import fcntl
import os
import signal

import orjson
import pytest

from dstream.errors import ExitCode
from tests.providers import ACK_OUTPUT, ticking_input
from tests.services import lock_waiters, wait_until
from tests.workspace import Run, Workspace

# Writes an envelope and a checkpoint every 20 ms until SIGTERM.
INPUT = ticking_input()


def _stored(ws: Workspace, run: Run) -> bool:
    """Whether the run stored a checkpoint by now (it must still run)."""
    assert run.proc.poll() is None, run.stderr()
    return (ws.root / "state" / "t.json").exists()


@pytest.mark.timeout(120)
def test_a_task_left_behind_ends_the_run_while_its_write_waits_on_the_lock(
    ws: Workspace,
) -> None:
    ws.python_script("input.py", INPUT)
    ws.python_script("output.py", ACK_OUTPUT)
    # A long stop_grace: the task's thread waits for its checkpoint writer that long.
    ws.task("./input.py", "./output.py", state=True, settings='stop_grace = "5m"')
    run = Run(ws, "run", "t", "--json")
    lock = ws.root / "state" / ".t.lock"
    held = -1
    try:
        wait_until("a checkpoint to be stored", lambda: _stored(ws, run))
        held = os.open(lock, os.O_RDWR)
        fcntl.flock(held, fcntl.LOCK_EX)
        wait_until("a checkpoint write to wait for the lock", lambda: lock_waiters(lock) >= 1)
        run.signal(signal.SIGTERM)
        wait_until("the run to say it stops", lambda: run.says("stopping"))
        run.signal(signal.SIGTERM)  # forced: 3 s later the task's thread is left behind
        # The process ends while the lock is still held (a hang fails here).
        code = run.wait()
    finally:
        if held >= 0:
            os.close(held)
        run.kill()
    assert code == ExitCode.TERMINATED, run.stderr()
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    assert task["error"]["error"] == "LeftBehind", task
    said = run.stderr()
    not_recorded = (
        "task t: the run is not recorded in the task's history: the state file's lock is "
        "held by a write still in flight ("  # and the hint
    )
    assert not_recorded in said, said
    done = ws.run("runs", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout_bytes)["runs"] == [], done.stdout
