"""A task stopped before it streamed (a --standby run stopped while it waits, a task
stopped while it waits out its restart backoff) says whether the next run resumes as
the store has it: with no checkpoint stored it "starts again" and is `"resumable":
false` (it said "resumes from the last stored checkpoint" and `"resumable": true`,
as if one were stored). A task stopped in its backoff says it calls the restart off:
no input is running whose output could be drained."""

from __future__ import annotations

import signal
import subprocess

import orjson
import pytest

from dstream.errors import ExitCode
from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import Run, Workspace

# An input that writes one frame, then waits to be stopped (no checkpoint ever).
QUIET_INPUT = """
read -r command
echo '{"status":"ready"}'
echo '{"data":1}'
exec sleep 300
"""

# An input that fails before its handshake: the task waits out its backoff.
FAILING_INPUT = "exit 3\n"

RESUMES = "resumes from the last stored checkpoint"
STARTS_AGAIN = "starts again: no checkpoint is stored to resume from"


@pytest.mark.timeout(120)
def test_a_standby_stopped_while_it_waits_says_no_checkpoint_is_stored(ws: Workspace) -> None:
    ws.script("input.sh", QUIET_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True)
    holder = ws.popen("run", "t", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("the holder to stream", lambda: ws.read_text("out.jsonl") != "")
        standby = Run(ws, "run", "t", "--standby", "--json")
        try:
            wait_until("the standby to wait", lambda: standby.says("already running"))
            standby.signal(signal.SIGTERM)
            assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
        finally:
            standby.kill()
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=60)
    [task] = orjson.loads(ws.read_text("stdout"))["tasks"]
    assert (task["outcome"], task["resumable"]) == ("interrupted", False)


def _stopped_in_backoff(ws: Workspace) -> Run:
    """Task t, its input failing before its handshake, restarted after a long backoff,
    stopped by SIGINT while it waits it out."""
    ws.script("input.sh", FAILING_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True, restart=(2, "60s"))
    run = Run(ws, "run", "t")
    try:
        wait_until("the backoff", lambda: run.says("restarting in"))
        run.signal(signal.SIGINT)
        assert run.wait() == ExitCode.INTERRUPTED, run.stderr()
    finally:
        run.kill()
    return run


@pytest.mark.timeout(120)
def test_a_task_stopped_in_its_backoff_says_no_checkpoint_is_stored(ws: Workspace) -> None:
    run = _stopped_in_backoff(ws)
    text = run.stderr()
    assert text.rstrip().splitlines()[-1] == f"stopped by SIGINT: `dstream run t` {STARTS_AGAIN}"
    assert "dstream: stopping: calling off the restart the task waits for" in text
    assert "draining what the inputs already wrote" not in text


@pytest.mark.timeout(120)
def test_a_task_stopped_in_its_backoff_resumes_what_is_stored(ws: Workspace) -> None:
    ws.task("./input.sh", "./output.sh", state=True)  # (the state directory, for `state set`)
    ws.run("state", "set", "t", '{"offset":7}')
    run = _stopped_in_backoff(ws)
    assert run.stderr().rstrip().splitlines()[-1] == f"stopped by SIGINT: `dstream run t` {RESUMES}"
