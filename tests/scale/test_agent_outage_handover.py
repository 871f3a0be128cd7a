"""A task an agent runs that ends because the state database cannot be reached (an
outage: its checkpoint cannot be stored, its lease not renewed) is handed over, not
failed: docs/scaling.md says agents drop their tasks in an outage and take them back once
the database answers. Counted as a failure it made the agent exit 1 at its later SIGTERM,
or not, by which of the task's calls met the outage first (a CI run of
tests/scale/test_agent_rejoin.py failed so)."""

from __future__ import annotations

from typing import Any, cast

from dstream.runtime.agent import _Running, _settled
from dstream.runtime.pipeline import RunSummary
from dstream.state.session import StateUnreachable


def _ended(error: Exception, *, signum: int | None = None) -> RunSummary:
    running = _Running(task=cast(Any, None))
    if signum is not None:
        running.stop.drain(signum)
    summary = RunSummary(task="t", outcome="failed", error=error)
    return _settled(running, summary)


def test_a_task_ended_by_an_unreachable_state_database_is_handed_over() -> None:
    summary = _ended(StateUnreachable("could not connect to the state database db/s"))
    assert summary.outcome == "handed over", summary
    assert summary.error is None


def test_a_task_that_failed_otherwise_still_failed() -> None:
    summary = _ended(RuntimeError("the provider crashed"))
    assert summary.outcome == "failed", summary
