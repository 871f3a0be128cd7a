"""A run not recorded in its history (Unanswered: a forced stop, a silent database)
says what that changes: nothing else. Its hint claimed "the next run resumes from the
last stored checkpoint all the same", also for a task with none stored, whose summary
said right below it that resume is not possible."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from dstream.state.base import Unanswered
from dstream.state.file import FileStore


def test_the_hint_of_an_unrecorded_run_claims_no_stored_checkpoint(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "state"))
    store.add_run("t", {"started_at": 1.0, "ended_at": 2.0, "envelopes": 0}, forced=True)
    assert store.get("t") is None  # no checkpoint stored
    held = os.open(tmp_path / "state" / ".t.lock", os.O_RDWR)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # a write in flight, as far as the store knows
        with pytest.raises(Unanswered) as refused:
            store.add_run("t", {"started_at": 3.0, "ended_at": 4.0, "envelopes": 0}, forced=True)
    finally:
        os.close(held)
    hint = refused.value.hint
    assert hint and "checkpoint" in hint  # it says what is not affected
    assert "resumes from" not in hint and "stored checkpoint" not in hint, hint
