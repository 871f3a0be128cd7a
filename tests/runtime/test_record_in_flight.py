"""A task's run is recorded in its history by the task's thread once its run ended
(runtime/runner.py, `work`): a signal from then on is no stop of that task. A stop
forced while that record still waits is not waited for past 3 s, and the run says the
record may be missing, rather than reporting the task as settled and nothing else.

On the file state the record waits on the lock every write of the task's state takes
(state/file.py, `_locked`): the test holds it from outside once the task streams (the
task stores no checkpoint, so nothing else of the run waits on it), the input ends, and
the record waits. Which writes wait is read from /proc/locks, not guessed by time."""

from __future__ import annotations

import fcntl
import os
import signal

import orjson
import pytest

from dstream.errors import ExitCode
from tests.services import lock_waiters, wait_until
from tests.workspace import Run, Workspace

# Writes an envelope every 20 ms (no checkpoint) until the file "end" exists, then exits.
INPUT = r"""
import os, sys, time
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
i = 0
while not os.path.exists("end"):
    i += 1
    print('{"data":%d,"metadata":{}}' % i, flush=True)
    if i == 1:
        open("streaming", "w").close()
    time.sleep(0.02)
"""

# Reads everything; exits at the end of its stdin.
OUTPUT = r"""
import sys
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
for line in sys.stdin.buffer:
    pass
"""


@pytest.mark.timeout(120)
def test_a_stop_forced_while_a_run_is_recorded_says_the_run_may_be_missing(
    ws: Workspace,
) -> None:
    ws.python_script("input.py", INPUT)
    ws.python_script("output.py", OUTPUT)
    ws.task("./input.py", "./output.py", state=True)
    run = Run(ws, "run", "t", "--json")
    lock = ws.root / "state" / ".t.lock"
    held = -1
    try:
        wait_until("the input to stream", lambda: (ws.root / "streaming").exists())
        held = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(held, fcntl.LOCK_EX)
        (ws.root / "end").touch()  # the task's run ends; its record waits on the lock
        wait_until("the history's record to wait for the lock", lambda: lock_waiters(lock) >= 1)
        run.signal(signal.SIGTERM)
        wait_until("the run to say it stops", lambda: run.says("stopping"))
        run.signal(signal.SIGTERM)  # forced while the record waits
        code = run.wait()  # the lock still held: the process ends without the record
    finally:
        if held >= 0:
            os.close(held)
        run.kill()
    said = run.stderr()
    # Its run ended before the signals, and keeps its outcome: the history is no part
    # of it (runtime/history.py).
    assert code == ExitCode.OK, said
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    assert task["outcome"] == "completed", task
    missing = "task t: the run may be missing from the history: the stop was forced "
    assert missing + "while it was being recorded" in said, said
    # Nothing was left to drain when the first signal came: the notice does not say so.
    assert "draining" not in said, said
    assert "stopping: every task had ended" in said, said
