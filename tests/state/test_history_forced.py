"""After a forced stop the store makes no write of the history that can wait
(`add_run(..., forced=True)`, runtime/signals.py): the postgres state makes none at all,
the file state tries the task's lock for a moment and, held by a write still in flight,
says the run is not recorded (Unanswered) instead of waiting for it."""

from __future__ import annotations

import fcntl
import os
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
    store.add_run("t", _run(1), forced=True)  # the lock is free: recorded
    held = os.open(tmp_path / "state" / ".t.lock", os.O_RDWR)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # a write in flight, as far as the store knows
        with pytest.raises(Unanswered) as refused:
            store.add_run("t", _run(2), forced=True)
    finally:
        os.close(held)
    assert refused.value.reason == "the state file's lock is held by a write still in flight"
    assert refused.value.hint
    store.add_run("t", _run(3), forced=True)  # free again: its moment is over, one try does
    assert [run["envelopes"] for run in store.runs("t")] == [1, 3]


def test_the_postgres_state_records_nothing_after_a_forced_stop(pg_spec: StateSpec) -> None:
    with open_store(pg_spec, ".") as store:
        with pytest.raises(Unanswered) as refused:
            store.add_run("t", _run(1), forced=True)
        assert "the stop was forced" in refused.value.reason
        store.add_run("t", _run(2))
        assert [run["envelopes"] for run in store.runs("t")] == [2]
