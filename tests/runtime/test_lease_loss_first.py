"""A run whose lease was lost, and whose checkpoint write failed meanwhile, ended by the
loss: that is its error, whichever came first. A holder paused past its lease finds its
write cut by the server (a session idle in a transaction is ended after half the TTL,
state/session.py) and its lease gone in the same moment; reported as the write's
failure, an agent counted the task `failed` (exit 1) rather than handed over.
`ending._settle` is given a stand-in for the run (a test double: only the fields it
reads), the errors in the order that showed the defect (tests/scale/test_agents.py)."""

from __future__ import annotations

from types import SimpleNamespace

from dstream.runtime import ending
from dstream.runtime.result import RunSummary
from dstream.state.lease import LeaseDeadlinePassed
from dstream.state.session import StateUnreachable


class _Provider:
    def close(self) -> None:
        pass


def test_a_lost_lease_is_the_runs_error_before_a_write_it_cut() -> None:
    cut = StateUnreachable("could not store the checkpoint: server closed the connection")
    lost = LeaseDeadlinePassed("task 't' lost its lease", stop_by=0.0)
    run = SimpleNamespace(
        providers=lambda: (_Provider(), _Provider()),
        errors=[cut, lost],
        summary=RunSummary(task="t"),
        stop=SimpleNamespace(requests=1),
    )
    ending._settle(run, "stopped", torn=False)  # type: ignore[arg-type]
    assert run.summary.outcome == "failed"
    assert run.summary.error is lost
