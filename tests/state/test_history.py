"""Run history (`dstream runs`) and the input configuration a checkpoint came from
(`run` refusing a changed input), for every backend: the postgres one keeps them in
tables beside its state table, written under the task's lease when a run holds it."""

from __future__ import annotations

import psycopg
import pytest

from dstream.config.model import StateSpec
from dstream.errors import LockLost
from dstream.state import StateStore, open_store
from dstream.state.base import RUN_HISTORY


def _run(n: int) -> dict[str, object]:
    return {"started_at": 1000.0 + n, "ended_at": 1001.5 + n, "envelopes": n,
            "result": "completed", "exit_code": 0}  # fmt: skip


def test_a_task_without_runs_has_an_empty_history(store: StateStore) -> None:
    assert store.runs("t") == []
    assert store.input_hash("t") is None


def test_runs_come_back_oldest_first_per_task(store: StateStore) -> None:
    store.add_run("t", _run(1))
    store.add_run("other", _run(7))
    store.add_run("t", {**_run(2), "result": "failed", "exit_code": 1})
    assert store.runs("t") == [_run(1), {**_run(2), "result": "failed", "exit_code": 1}]
    assert store.runs("other") == [_run(7)]


def test_the_history_keeps_the_last_run_history_runs(store: StateStore) -> None:
    for n in range(RUN_HISTORY + 3):
        store.add_run("t", _run(n))
    kept = store.runs("t")
    assert len(kept) == RUN_HISTORY
    assert [r["envelopes"] for r in kept] == list(range(3, RUN_HISTORY + 3))


def test_the_history_is_shared_by_two_stores_on_one_state(spec: StateSpec, tmp_path: str) -> None:
    with open_store(spec, str(tmp_path)) as first, open_store(spec, str(tmp_path)) as second:
        first.add_run("t", _run(1))
        assert second.runs("t") == [_run(1)]


def test_the_input_hash_is_kept_per_task_and_replaced(store: StateStore) -> None:
    store.set_input_hash("t", "blake2b:aa")
    store.set_input_hash("u", "blake2b:bb")
    store.set_input_hash("t", "blake2b:cc")
    assert (store.input_hash("t"), store.input_hash("u")) == ("blake2b:cc", "blake2b:bb")


def test_a_run_that_lost_its_lease_records_no_input_hash(pg_spec: StateSpec) -> None:
    """The writes are fenced like the checkpoint's: once another holder took the task
    over, this store's lease epoch is stale and nothing it writes lands."""
    with open_store(pg_spec, ".") as store, store.hold_run("t"):
        store.set_input_hash("t", "blake2b:mine")
        assert pg_spec.dsn
        with psycopg.connect(pg_spec.dsn, autocommit=True) as conn:  # a takeover
            conn.execute(f"UPDATE {pg_spec.table}_lease SET epoch = epoch + 1")
        with pytest.raises(LockLost):
            store.set_input_hash("t", "blake2b:stale")
        with pytest.raises(LockLost):
            store.add_run("t", _run(1))
    with open_store(pg_spec, ".") as other:
        assert other.input_hash("t") == "blake2b:mine"
        assert other.runs("t") == []


def test_postgres_history_tables_are_plain_sql(pg_spec: StateSpec) -> None:
    with open_store(pg_spec, ".") as store:
        store.add_run("t", _run(4))
        store.set_input_hash("t", "blake2b:dd")
    assert pg_spec.dsn
    with psycopg.connect(pg_spec.dsn) as conn:
        runs = conn.execute(f"SELECT task, run->>'envelopes' FROM {pg_spec.table}_runs").fetchall()
        hashes = conn.execute(f"SELECT task, input_hash FROM {pg_spec.table}_input").fetchall()
    assert runs == [("t", "4")] and hashes == [("t", "blake2b:dd")]
