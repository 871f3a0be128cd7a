"""A task's run in its history (`dstream runs`), recorded by the run itself, on the store
that holds the task (runtime/runner.py): by the task's thread as its run ends, before its
lock or lease goes; by the main thread for a task stopped while it waited (a standby
stopped before it took over: recorded as interrupted) or left behind by a forced stop.
The record is an append of a finished run that touches no checkpoint: not fenced by the
task's lease (a run that lost its lease is the failed run an operator looks for). After
a forced stop the store makes no write that waits past the forced stop's deadline
(runtime/signals.py; state/base.py, `add_run`). Recording never changes the run's
outcome: a store that cannot take it is said in the log, once per task."""

from __future__ import annotations

import threading
import time

from dstream import logs
from dstream.errors import DstreamError
from dstream.state.base import Unanswered

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.runtime.result import RunSummary
    from dstream.state.base import StateStore


def entry(summary: RunSummary, by: str) -> dict[str, object]:
    """What the history keeps of a run: from its own start to its own end (one that lost
    its lease ended when it lost it: runner.py, `_ended_at`; a task left behind by a
    forced stop ends with dstream, now), and `by` whom (the store's owner:
    an agent's name, or host:pid)."""
    from dstream.runtime.summary import exit_code_of  # after the stream only (issue 22)

    return {
        "started_at": summary.started_at,
        "ended_at": time.time() if summary.ended_at is None else summary.ended_at,
        "envelopes": summary.counters.get("data_frames", 0),
        "result": "interrupted" if summary.stopped_by is not None else summary.outcome,
        "exit_code": int(exit_code_of(summary)),
        "attempts": summary.attempts,
        "by": by,
    }


def record_run(store: StateStore, summary: RunSummary, *, until: Optional[float]) -> None:
    """The run of `summary` in its task's history, unless the task never ran: removed
    by a reload while a standby run waited for it (attempts 0: not recorded); one
    stopped while it waited is recorded as interrupted. `until`: the deadline of the
    process's forced stop (monotonic; StopSignals.deadline), None while none was forced:
    the store makes no write that waits past it (the postgres state none at all; the
    file state tries the task's lock until then) and raises Unanswered instead, as on a
    database that did not answer its last call."""
    if not summary.attempts:
        return
    try:
        store.add_run(summary.task, entry(summary, store.owner), until=until)
    except Unanswered as exc:
        logs.log.warning(
            "the run is not recorded in the task's history: %s", exc.one_line(),
            task=summary.task,
        )  # fmt: skip
    except DstreamError as exc:
        logs.log.warning(
            "could not record the run in the task's history: %s", exc.one_line(),
            task=summary.task,
        )  # fmt: skip


class OneRecord:
    """The one record of one run (a `dstream run` task's, an agent's holding of a task):
    made by whoever asks first — the run's thread as its run ends, or the main thread for
    a run left behind by a forced stop — also when a thread left behind ends after all."""

    def __init__(self) -> None:
        self._taken = threading.Lock()  # by whoever records the run
        # Set by the run's thread once its record is made or given up: a thread alive
        # without it when the process ends (after a forced stop) takes that record with it.
        self._settled = threading.Event()

    def record(self, store: StateStore, summary: RunSummary, *, until: Optional[float]) -> None:
        """Record the run (record_run), unless it was recorded, or is being recorded."""
        if self._taken.acquire(blocking=False):
            record_run(store, summary, until=until)

    def settle(self) -> None:
        """The run's thread is done with its record: made, given up, or never to be made."""
        self._settled.set()

    def warn_if_unsettled(self, task: str) -> None:
        """When the process ends with the run's thread alive: `may_be_missing`, unless
        that thread settled its record."""
        if not self._settled.is_set():
            may_be_missing(task)


def may_be_missing(task: str) -> None:
    """Say that the record of `task`'s run was cut by a forced stop: whether the store
    took it is not known."""
    logs.log.warning(
        "the run may be missing from the history: the stop was forced while it "
        "was being recorded", task=task,
    )  # fmt: skip
