"""`destroy` holds the task's run lock for its whole work (Terraform's state lock): a
live run of the task makes it refuse before anything is shown, asked or removed, so
neither its infrastructure nor its checkpoint goes from under the run. `init` does not
take it: it brings the infrastructure to the configuration (what a reload of the
running task then uses) and never touches the checkpoint."""

from __future__ import annotations

import signal

import pytest

from tests.services import wait_until
from tests.workspace import Run, Workspace

pytestmark = pytest.mark.timeout(120)


def _live_run(ws: Workspace) -> Run:
    """Task t streaming without end (a checkpoint every 10 envelopes), once a
    checkpoint of it is stored."""
    ws.counter_task("t", "dstream-file", 'path = "out.jsonl"', count=0, checkpoint_every=10,
                    interval=20)  # fmt: skip
    run = Run(ws, "run", "t")
    wait_until("a stored checkpoint", lambda: run.says("") and _stored(ws))
    return run


def _stored(ws: Workspace) -> bool:
    """Whether task t has a stored checkpoint (`state show`)."""
    code, doc, err = ws.run_json("state", "show", "t")
    assert code == 0, err
    return bool(doc["stored"])


@pytest.mark.parametrize("state", ["--drop-state", "--keep-state"])
def test_destroy_refuses_while_a_run_holds_the_task(ws: Workspace, state: str) -> None:
    run = _live_run(ws)
    try:
        refused = ws.run("destroy", "t", "--auto-approve", state)
        assert refused.returncode == 1, refused.stderr
        assert "task 't' is already running (pid " in refused.stderr
        assert "its state in file " in refused.stderr and "is locked" in refused.stderr
        assert "destroy" not in refused.stdout  # no provider was asked
        assert "dropped" not in refused.stderr and "kept" not in refused.stderr
        assert run.says("")  # the run goes on
    finally:
        run.signal(signal.SIGINT)
    assert run.wait() == 130, run.stderr()  # stopped by SIGINT
    assert _stored(ws)  # the run's checkpoint is still there


def test_destroy_drops_the_state_once_the_run_has_ended(ws: Workspace) -> None:
    run = _live_run(ws)
    run.signal(signal.SIGINT)
    assert run.wait() == 130, run.stderr()  # stopped by SIGINT
    done = ws.run("destroy", "t", "--auto-approve", "--drop-state")
    assert done.returncode == 0, done.stderr
    assert 'state of task "t": checkpoint dropped (--drop-state)' in done.stderr
    assert not _stored(ws)


def test_init_is_not_refused_by_a_live_run(ws: Workspace) -> None:
    run = _live_run(ws)
    try:
        done = ws.run("init", "t")
        assert done.returncode == 0, done.stderr
        assert run.says("")
    finally:
        run.signal(signal.SIGINT)
    assert run.wait() == 130, run.stderr()  # stopped by SIGINT
