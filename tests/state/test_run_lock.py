"""One run of a task at a time (the state lock), for every backend: a second holder is
refused at once with who holds it, other tasks are free, and a holder that dies
releases it without anybody cleaning up."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import orjson
import psycopg
import pytest

from dstream.config.model import StateSpec
from dstream.errors import DstreamError, LockLost
from dstream.state import StateStore, open_store
from dstream.state.lease import LeaseFenced
from tests.services import wait_until
from tests.state.conftest import spec_dict
from tests.workspace import Workspace

# A holder in another process: takes the lock, says so, then waits to be killed.
HOLDER = """
import sys, time, orjson
from dstream.config.model import StateSpec
from dstream.state import open_store
from dstream.state.lease import LeaseFenced
store = open_store(StateSpec(**orjson.loads(sys.argv[1])), ".")
with store.hold_run(sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_run_of_a_task_is_refused_and_other_tasks_are_free(
    spec: StateSpec, tmp_path: Path
) -> None:
    # Two stores on one state, as two dstream processes (or machines) would open it.
    with open_store(spec, str(tmp_path)) as first, open_store(spec, str(tmp_path)) as second:
        with first.hold_run("orders"):
            refused = pytest.raises(DstreamError, match="task 'orders' is already running")
            with refused as err, second.hold_run("orders"):
                pass
            assert err.value.hint and re.search("stop (it|the run)", err.value.hint)
            with second.hold_run("payments"):
                pass
        with second.hold_run("orders"):  # released when the first run ended
            pass


def test_the_lock_of_a_killed_holder_is_released(spec: StateSpec, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, orjson.dumps(spec_dict(spec)).decode(), "orders"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with open_store(spec, str(tmp_path)) as store:
            with pytest.raises(DstreamError, match="already running"), store.hold_run("orders"):
                pass
            # the lock file, or the lease, names the holder
            named = pytest.raises(DstreamError, match=f":{holder.pid}:|pid {holder.pid} on ")
            with named, store.hold_run("orders"):
                pass
            holder.kill()
            holder.wait()
            # the kernel drops a dead process's flock at once; a dead holder's lease
            # expires after its TTL
            deadline = time.monotonic() + spec.lease_ttl + 10
            while True:
                try:
                    with store.hold_run("orders"):
                        break
                except DstreamError:
                    assert time.monotonic() < deadline, "the lock outlived its holder"
                    time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()


def drop_sessions(dsn: str) -> None:
    """What a server restart or an idle-connection reaper does to every other session."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database()"
        )


def expire_lease(spec: StateSpec, task: str) -> None:
    """What the TTL does to the lease of a run that could not renew it (paused,
    partitioned): it ends, and another run may take the task. A minute in the past, not
    now(): a renewal whose transaction began just before this one waits for the row and
    then compares it with its own earlier now(), which an expiry of now() is still after
    (the renewal won, and the takeover failed, under CI's load)."""
    assert spec.dsn
    with psycopg.connect(spec.dsn, autocommit=True) as admin:
        admin.execute(
            f"UPDATE {spec.table}_lease SET expires_at = now() - interval '1 minute'"
            " WHERE task = %s",
            (task,),
        )


def stored(store: StateStore) -> bool:
    """Whether a checkpoint of task "t" is stored."""
    return store.get("t") is not None


def taken_over(
    ws: Workspace, spec: StateSpec, base: Path, ready: Callable[[StateStore], bool] = stored
) -> tuple[bytes, bytes, subprocess.Popen[bytes]]:
    """`run t --json` in `ws`, whose lease ends (expire_lease) once another store sees it
    `ready` (by default: it stored a checkpoint) and then takes the task over: the run's
    stdout, stderr and process."""
    run = ws.popen("run", "t", "--json")
    try:
        with open_store(spec, str(base)) as other:
            wait_until("the run to be ready to lose its lease", lambda: ready(other), 20)
            expire_lease(spec, "t")
            with other.hold_run("t"):
                out, err = run.communicate(timeout=30)
    finally:
        run.kill()
        run.wait()
    return out, err, run


def test_a_postgres_run_keeps_its_lease_across_a_lost_session(pg_spec: StateSpec) -> None:
    assert pg_spec.dsn
    with open_store(pg_spec, ".") as store, open_store(pg_spec, ".") as other:
        with store.hold_run("orders"):
            store.put("orders", 1)
            drop_sessions(pg_spec.dsn)
            store.put("orders", 2)  # reconnects; the lease is a row, not the session
            time.sleep(pg_spec.lease_ttl + 0.5)  # the renewals carry it past its first TTL
            store.put("orders", 3)
            with pytest.raises(DstreamError, match="already running"), other.hold_run("orders"):
                pass
        record = other.get("orders")
        assert record is not None and record.checkpoint == 3
        with other.hold_run("orders"):  # released at the end of the run, not expired
            pass


def test_a_postgres_run_whose_lease_was_taken_over_stores_nothing(pg_spec: StateSpec) -> None:
    """The fencing epoch: a write of the old holder is refused in its transaction."""
    with open_store(pg_spec, ".") as store, open_store(pg_spec, ".") as other:
        with store.hold_run("orders"):
            store.put("orders", 1)
            expire_lease(pg_spec, "orders")
            with other.hold_run("orders"):  # a second run takes over
                assert other.lease_epoch("orders") == 2
                with pytest.raises(LeaseFenced, match="'orders' lost its lease") as err:
                    store.put("orders", 2)
                assert err.value.hint and "two runs" in err.value.hint
                other.put("orders", 3)
                with pytest.raises(LockLost):  # and stays refused
                    store.put("orders", 4)
        record = other.get("orders")
        assert record is not None and record.checkpoint == 3  # 2 and 4 were never written


def test_one_store_does_not_take_a_run_lock_twice(spec: StateSpec, tmp_path: Path) -> None:
    refused = pytest.raises(DstreamError, match="already running")
    with open_store(spec, str(tmp_path)) as store, store.hold_run("orders"):
        second = store.hold_run("orders")
        with refused, second:
            pass


def test_a_dstream_run_that_lost_its_postgres_lease_stops_without_a_restart(
    pg_spec: StateSpec, tmp_path: Path
) -> None:
    """End to end: the run's lease ends and a second run takes the task over; the first
    run stops (its renewal or its next store is refused by the epoch), and its restart
    policy does not try again."""
    assert pg_spec.dsn
    ws = Workspace(tmp_path)
    state = f"""state {{
      backend = "postgres"
      dsn = "{pg_spec.dsn}"
      table = "{pg_spec.table}"
      lease_ttl = "3s"
      lease_renew_interval = "500ms"
    }}"""
    settings = """commit_interval = "3s"  # the gap for the second run to start in
      restart {
        attempts = 3
        backoff = "100ms"
      }"""
    ws.counter_task(
        "t",
        "dstream-file",
        'path = "out.jsonl"',
        count=0,
        checkpoint_every=1,
        interval=20,
        state=state,
        settings=settings,
    )
    out, err, run = taken_over(ws, pg_spec, tmp_path)
    assert run.returncode == 1, err
    summary = orjson.loads(out)["tasks"][0]
    assert summary["outcome"] == "failed" and summary["attempts"] == 1, summary
    # the database's refusal of the epoch, not the local deadline (the lease was renewed
    # in time; it was ended on the database)
    assert summary["error"]["error"] == "LeaseFenced", summary
    assert "task 't' lost its lease" in summary["error"]["message"], summary
    with open_store(pg_spec, str(tmp_path)) as store:  # nothing stored after the loss
        record = store.get("t")
        assert record is not None and record.checkpoint == summary["last_checkpoint"]


def test_a_postgres_task_that_lost_its_lease_does_not_stop_the_others(pg_spec: StateSpec) -> None:
    assert pg_spec.dsn
    with open_store(pg_spec, ".") as store, open_store(pg_spec, ".") as other:
        with store.hold_run("orders"), store.hold_run("payments"):
            expire_lease(pg_spec, "orders")
            with other.hold_run("orders"):
                store.put("payments", 1)
                with pytest.raises(LockLost, match="'orders' lost its lease"):
                    store.put("orders", 1)
                refused = pytest.raises(DstreamError, match="already running")
                with refused, other.hold_run("payments"):
                    pass
        record = other.get("payments")
        assert record is not None and record.checkpoint == 1
        assert other.get("orders") is None
