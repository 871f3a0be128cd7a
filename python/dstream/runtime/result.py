"""What one run of a task did: the record a run returns, summed over restarts and
reloads, rendered by runtime/summary.py and kept in the run history."""

from __future__ import annotations

import time

from dstream.errors import DstreamError
from dstream.protocol.values import Fragment
from dstream.records import field, record
from dstream.runtime.process import exit_signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.runtime.monitor import CounterDict


@record
class RunSummary:
    task: str
    # completed | failed | interrupted | removed (by a reload) | stopped (by --fail-fast)
    # | handed over (by an agent, to the others: runtime/agent.py)
    outcome: str = "running"
    counters: CounterDict = field(default_factory=dict)
    # Wall-clock times of the task's run (all its attempts and reloads), for its history.
    started_at: float = field(default_factory=time.time)
    ended_at: Optional[float] = None  # None: not ended yet
    duration: float = 0.0
    checkpoints_acknowledged: int = 0
    # The last checkpoint this run stored (the exact JSON text of the value); None: it
    # stored none.
    last_checkpoint: Optional[bytes] = None
    # The one its last attempt resumed from (None: none, or not read): what stays stored
    # when the run stores none (`stored_checkpoint`).
    resumed: Optional[bytes] = None
    exit_codes: dict[str, Optional[int]] = field(default_factory=dict)
    attempts: int = 1
    error: Optional[DstreamError] = None
    # False when no checkpoint is stored (runner._judge_resumable) or the output does not
    # acknowledge checkpoints (`withheld`: legacy.py says why)
    resumable: bool = True
    withheld: bool = False
    notes: list[str] = field(default_factory=list)  # what the user should know, not errors
    stopped_by: Optional[int] = None  # the signal (SIGINT/SIGTERM) that stopped the run
    # The task whose failure stopped this one (--fail-fast): no signal did, the run's
    # outcome is then "stopped" and its error a StoppedByFailure (runtime/verdict.py).
    stopped_by_task: Optional[str] = None
    reloads: int = 0  # restarts with a new definition after SIGHUP (totals include them)
    # Its stream started (an attempt's input shook hands and its pump ran), even if no
    # frame came: a quiet source streams too (summary.py counts it; not shown).
    streamed: bool = False
    # It failed before any stop was asked for (its output left the stream, a frame was
    # invalid): a signal during its teardown does not make it "interrupted" (not shown).
    failed_unasked: bool = False
    # False: its state was temporary (the built-in demo's), so what it stored did not
    # outlive the run (not in --json: "resumable" is false then).
    state_kept: bool = True

    @property
    def stored_checkpoint(self) -> Optional[bytes]:
        return stored_checkpoint(self, self.resumed)

    def to_dict(self) -> dict[str, object]:
        stored = self.stored_checkpoint
        frames = self.counters.get("frames", 0)
        return {
            "task": self.task,
            "outcome": self.outcome,
            "counters": self.counters,
            "duration_seconds": round(self.duration, 3),
            "frames_per_second": round(frames / self.duration, 1) if self.duration else None,
            "checkpoints_acknowledged": self.checkpoints_acknowledged,
            "last_checkpoint": (
                None if self.last_checkpoint is None else Fragment(self.last_checkpoint)
            ),
            "stored_checkpoint": None if stored is None else Fragment(stored),
            "exit_codes": self.exit_codes,
            # the signal that ended each provider (a negative exit code), else null
            "exit_signals": {role: exit_signal(code) for role, code in self.exit_codes.items()},
            "attempts": self.attempts,
            "resumable": self.resumable,
            "error": self.error.to_dict() if self.error else None,
            "notes": self.notes,
            "stopped_by": _signal_name(self.stopped_by),
            "stopped_by_task": self.stopped_by_task,
            "reloads": self.reloads,
        }


def stored_checkpoint(summary: RunSummary, resumed: Optional[bytes]) -> Optional[bytes]:
    """The task's checkpoint stored, as a run of it knows it at its end: the last one it
    stored, else the one it `resumed` from; None: none is stored (or the run never read
    it: stopped before it could)."""
    return summary.last_checkpoint if summary.last_checkpoint is not None else resumed


def _signal_name(signum: Optional[int]) -> Optional[str]:
    import signal

    return None if signum is None else signal.Signals(signum).name
