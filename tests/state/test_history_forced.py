"""After a forced stop the store makes no write of the history that waits past the
forced stop's deadline (`add_run(..., until=deadline)`, runtime/signals.py): the
postgres state makes none at all, the file state tries the task's lock until that
deadline and, held by a write still in flight, says the run is not recorded
(Unanswered) instead of waiting for it. The deadline is the run's: the file state gave
itself one of its own (a second from its first write after the force)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from dstream.config.model import StateSpec
from dstream.state import open_store
from dstream.state.base import Unanswered
from dstream.state.file import FileStore


def _run(n: int) -> dict[str, object]:
    return {"started_at": 1000.0 + n, "ended_at": 1001.0 + n, "envelopes": n}


def test_the_file_state_gives_up_a_lock_a_write_in_flight_holds(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "state"))
    passed = time.monotonic()  # a deadline passed: one try
    store.add_run("t", _run(1), until=passed)  # the lock is free: recorded
    held = os.open(tmp_path / "state" / ".t.lock", os.O_RDWR)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # a write in flight, as far as the store knows
        with pytest.raises(Unanswered) as refused:
            store.add_run("t", _run(2), until=passed)
    finally:
        os.close(held)
    assert refused.value.reason == "the state file's lock is held by a write still in flight"
    assert refused.value.hint
    store.add_run("t", _run(3), until=passed)  # free again: one try does
    assert [run["envelopes"] for run in store.runs("t")] == [1, 3]


def test_the_file_state_tries_a_held_lock_until_the_deadline_it_is_given(
    tmp_path: Path,
) -> None:
    store = FileStore(str(tmp_path / "state"))
    store.add_run("t", _run(1))
    held = os.open(tmp_path / "state" / ".t.lock", os.O_RDWR)
    until = time.monotonic() + 1.5  # later than the second the file state gave itself
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(Unanswered):
            store.add_run("t", _run(2), until=until)
        gave_up = time.monotonic()
    finally:
        os.close(held)
    assert gave_up >= until  # not before the deadline it was given
    assert [run["envelopes"] for run in store.runs("t")] == [1]


def test_the_postgres_state_records_nothing_after_a_forced_stop(pg_spec: StateSpec) -> None:
    with open_store(pg_spec, ".") as store:
        with pytest.raises(Unanswered) as refused:  # however far its deadline is
            store.add_run("t", _run(1), until=time.monotonic() + 3600)
        assert "the stop was forced" in refused.value.reason
        store.add_run("t", _run(2))
        assert [run["envelopes"] for run in store.runs("t")] == [2]
