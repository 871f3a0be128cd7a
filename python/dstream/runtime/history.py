"""A task's run in its history (`dstream runs`), recorded by the run itself, on the store
that holds the task (runtime/runner.py): by the task's thread as its run ends, before its
lock or lease goes, so that on the postgres state the write is fenced as its checkpoints
are; by the main thread for a task that never ran (stopped while a standby waited) or
that was left behind by a forced stop. Recording never changes the run's outcome: a
store that cannot take it is said in the log, once per task."""

from __future__ import annotations

import time

from dstream import logs
from dstream.errors import DstreamError
from dstream.state.base import Unanswered

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.runtime.result import RunSummary
    from dstream.state.base import StateStore


def entry(summary: RunSummary) -> dict[str, object]:
    """What the history keeps of a run: from its own start to its own end (a task left
    behind by a forced stop ends with dstream, now)."""
    from dstream.runtime.summary import exit_code_of  # after the stream only (issue 22)

    return {
        "started_at": summary.started_at,
        "ended_at": time.time() if summary.ended_at is None else summary.ended_at,
        "envelopes": summary.counters.get("data_frames", 0),
        "result": "interrupted" if summary.stopped_by is not None else summary.outcome,
        "exit_code": int(exit_code_of(summary)),
        "attempts": summary.attempts,
    }


def record_run(store: StateStore, summary: RunSummary, *, forced: bool) -> None:
    """The run of `summary` in its task's history, unless the task never ran (a reload
    removed it while a standby run waited: attempts 0). `forced`: the task's stop was
    forced. On a store whose calls go to a database server (the postgres state) a write
    could wait out its bound, which a forced stop must not (it ends at once:
    runtime/signals.py): not tried then; nor, by the store, on a database that did not
    answer its last call (Unanswered). The file state's history is a local write: always
    kept, also after a forced stop."""
    if not summary.attempts:
        return
    if forced and store.remote:
        _not_recorded(summary, "the stop was forced")
        return
    try:
        store.add_run(summary.task, entry(summary))
    except Unanswered as exc:
        _not_recorded(summary, exc.reason)
    except DstreamError as exc:
        logs.log.warning(
            "task %s: could not record the run in the task's history: %s", summary.task, exc
        )


def _not_recorded(summary: RunSummary, why: str) -> None:
    logs.log.warning(
        "task %s: the run is not recorded in the task's history: %s", summary.task, why
    )
