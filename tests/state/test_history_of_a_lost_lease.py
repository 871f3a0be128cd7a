"""A run records each task's run in its history on the store that holds the task, as the
task's run ends (runtime/history.py). The record is an append of a finished run that
touches no checkpoint, so on the postgres state it is not fenced: a run whose lease
another run took over (LeaseFenced) is recorded as failed, the run an operator looks
for; one that held its lease to the end records its run."""

from __future__ import annotations

from pathlib import Path

import orjson

from dstream.config.model import StateSpec
from dstream.state import open_store
from dstream.state.base import StateStore
from tests.state.test_run_lock import taken_over
from tests.workspace import Workspace

NEVER = 10**9  # envelopes between checkpoints: none is stored in a test's time


def _counter(ws: Workspace, spec: StateSpec, count: int, checkpoint_every: int = 1) -> None:
    """Task "t": `count` envelopes (0: no end) of dstream-counter into out.jsonl, a
    checkpoint every `checkpoint_every`, on the postgres state `spec` with a short
    lease."""
    ws.counter_task(
        "t",
        "dstream-file",
        'path = "out.jsonl"',
        count=count,
        checkpoint_every=checkpoint_every,
        interval=20,
        state=f"""state {{
          backend = "postgres"
          dsn = "{spec.dsn}"
          table = "{spec.table}"
          lease_ttl = "3s"
          lease_renew_interval = "500ms"
        }}""",
        settings='commit_interval = "3s"  # the gap for the other run to take it in',
    )


def test_a_run_that_lost_its_lease_is_recorded_as_failed(
    pg_spec: StateSpec, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path)
    _counter(ws, pg_spec, 0)
    out, err, run = taken_over(ws, pg_spec, tmp_path)
    assert run.returncode == 1, err
    summary = orjson.loads(out)["tasks"][0]
    error = summary["error"]
    assert error["error"] == "LeaseFenced", out
    assert "task 't' lost its lease" in error["message"], error
    assert summary["resumable"] is True, summary  # its checkpoints were stored
    assert "history" not in err.decode(), err
    with open_store(pg_spec, str(tmp_path)) as store:
        runs = store.runs("t")
    assert [(r["result"], r["exit_code"]) for r in runs] == [("failed", 1)], runs


def test_a_run_that_lost_its_lease_with_nothing_stored_is_not_resumable(
    pg_spec: StateSpec, tmp_path: Path
) -> None:
    """Lost before its first checkpoint: the next run starts over, and the summary says
    so (`resumable`: false) rather than promising a resume."""
    ws = Workspace(tmp_path)
    _counter(ws, pg_spec, 0, checkpoint_every=NEVER)

    def streaming(other: StateStore) -> bool:
        """Its task streams (a lease taken is not yet a run begun: one lost before, in
        the run's start-up, ends the command with its error, no task summary)."""
        out = ws.root / "out.jsonl"
        return other.held_elsewhere("t") and out.exists() and out.stat().st_size > 0

    out, err, run = taken_over(ws, pg_spec, tmp_path, streaming)
    assert run.returncode == 1, err
    summary = orjson.loads(out)["tasks"][0]
    assert summary["error"]["error"] == "LeaseFenced", summary
    assert "task 't' lost its lease" in summary["error"]["message"], summary
    assert summary["last_checkpoint"] is None, summary
    assert summary["resumable"] is False, summary
    assert "or from the start if none was stored" in summary["error"]["hint"], summary
    with open_store(pg_spec, str(tmp_path)) as store:
        assert store.get("t") is None
        runs = store.runs("t")
    assert [(r["result"], r["exit_code"]) for r in runs] == [("failed", 1)], runs


def test_a_run_that_held_its_lease_to_the_end_records_its_run(
    pg_spec: StateSpec, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path)
    _counter(ws, pg_spec, 5)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert "history" not in done.stderr, done.stderr
    with open_store(pg_spec, str(tmp_path)) as store:
        runs = store.runs("t")
    recorded = [(r["result"], r["envelopes"], r["exit_code"]) for r in runs]
    assert recorded == [("completed", 5, 0)], runs
