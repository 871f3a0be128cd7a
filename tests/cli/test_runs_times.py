"""`dstream runs`: each task's history record carries its own start and end, not the
run's (a task that failed early ended then; a standby run's task started when it took
over, not when the run began waiting)."""

from __future__ import annotations

import subprocess
from typing import Any

import orjson
import pytest

from tests.services import wait_until
from tests.workspace import Run, Workspace

# Five envelopes, then exit 1: the task fails at once.
FAILING_INPUT = r"""
import sys
sys.stdin.buffer.readline()
print('{"status":"ready"}', flush=True)
for i in range(5):
    print('{"data":%d,"metadata":{}}' % i, flush=True)
sys.exit(1)
"""

# Waits until no run holds task "bad" (dstream lets its run lock go once that task's
# run ended, docs/delivery.md), notes when it saw that in `free_at`, then ends.
WAITS_FOR_BAD = r"""
import fcntl, os, sys, time
sys.stdin.buffer.readline()
print('{"status":"ready"}', flush=True)
while True:
    fd = os.open("state/.bad.run.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
    except BlockingIOError:
        time.sleep(0.02)
    finally:
        os.close(fd)
with open("free_at", "w") as f:
    f.write(repr(time.time()))
print('{"data":"done","metadata":{}}', flush=True)
"""

# Creates `streaming`, then ends once the file `go` exists.
WAITS_FOR_GO = r"""
import os, sys, time
sys.stdin.buffer.readline()
print('{"status":"ready"}', flush=True)
open("streaming", "w").close()
while not os.path.exists("go"):
    time.sleep(0.02)
print('{"data":"done","metadata":{}}', flush=True)
"""

# Reads its input to the end.
OUTPUT = r"""
import sys
sys.stdin.buffer.readline()
print('{"status":"ready"}', flush=True)
for _ in sys.stdin.buffer:
    pass
"""


def _history(ws: Workspace) -> list[dict[str, Any]]:
    done = ws.run("runs", "--json")
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, Any]] = orjson.loads(done.stdout_bytes)["runs"]
    return runs


@pytest.mark.timeout(120)
def test_a_task_that_failed_early_is_recorded_with_its_own_end(ws: Workspace) -> None:
    """`bad` fails at once; `long` ends only after bad's run let its lock go. Each
    record's end is its task's: bad's before long's."""
    ws.python_script("bad.py", FAILING_INPUT)
    ws.python_script("long.py", WAITS_FOR_BAD)
    ws.python_script("output.py", OUTPUT)
    ws.config(
        """
        state { path = "state" }
        task "bad" {
          input { provider_path = "./bad.py" }
          output { provider_path = "./output.py" }
        }
        task "long" {
          input { provider_path = "./long.py" }
          output { provider_path = "./output.py" }
        }
        """
    )
    done = ws.run("run", "--all")
    assert done.returncode == 1, done.stderr
    runs = {r["task"]: r for r in _history(ws)}
    bad, long = runs["bad"], runs["long"]
    assert (bad["result"], long["result"]) == ("failed", "completed"), runs
    free_at = float(ws.read_text("free_at"))
    assert bad["started_at"] <= bad["ended_at"] <= free_at < long["ended_at"], runs
    assert long["started_at"] <= free_at, runs


@pytest.mark.timeout(120)
def test_a_standby_task_is_recorded_from_when_it_took_over(ws: Workspace) -> None:
    """A standby run waits while the first run holds the task; the record of its run
    starts after the first one's ended, not when it began to wait."""
    ws.python_script("input.py", WAITS_FOR_GO)
    ws.python_script("output.py", OUTPUT)
    ws.task("./input.py", "./output.py", state=True)
    first = ws.popen("run", "t", stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wait_until("the first run's input", lambda: (ws.root / "streaming").exists())
    standby = Run(ws, "run", "t", "--standby")
    try:
        wait_until("the standby run to wait", lambda: standby.says("standby:"))
        (ws.root / "go").touch()
        assert first.wait(timeout=60) == 0
        assert standby.wait() == 0, standby.stderr()
    finally:
        standby.kill()
        if first.poll() is None:
            first.kill()
    earlier, later = _history(ws)
    assert earlier["ended_at"] <= later["started_at"] <= later["ended_at"], (earlier, later)
