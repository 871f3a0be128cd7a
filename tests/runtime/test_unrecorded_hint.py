"""A run not recorded in its history (Unanswered: its record met the task's lock, held
by a write still in flight, after the forced stop's deadline) says so, through the
code that records it (runtime/history.py, `record_run`): a warning naming the task,
why, and what that changes: nothing else. Its hint claimed "the next run resumes from
the last stored checkpoint all the same", also for a task with none stored, whose
summary said right below it that resume is not possible."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path

import pytest

from dstream.runtime.history import record_run
from dstream.runtime.result import RunSummary
from dstream.state.file import FileStore

NOT_RECORDED = (
    "dstream: [warning] task t: the run is not recorded in the task's history: the state "
    "file's lock is held by a write still in flight ("  # then the hint, in parentheses
)


def test_a_run_whose_history_could_not_be_recorded_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = FileStore(str(tmp_path / "state"))
    summary = RunSummary(
        task="t", outcome="interrupted", started_at=1.0, ended_at=2.0, stopped_by=signal.SIGTERM
    )
    (tmp_path / "state").mkdir(mode=0o700)
    held = os.open(tmp_path / "state" / ".t.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # a write in flight, as far as the store knows
        record_run(store, summary, until=time.monotonic())  # the deadline has passed
    finally:
        os.close(held)
    said = capsys.readouterr().err
    assert said.startswith(NOT_RECORDED) and said.count("\n") == 1, said  # one warning
    hint = said[len(NOT_RECORDED) :]
    assert "checkpoint" in hint, said  # what is not affected
    assert "resumes from" not in hint and "stored checkpoint" not in hint, said
    assert store.get("t") is None  # no checkpoint stored, indeed
    assert store.runs("t") == []  # and the run is not recorded, as it says
