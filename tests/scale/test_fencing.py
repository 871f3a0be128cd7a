"""Fencing of a process that held a task's lease and lost it: it never writes the task's
checkpoint again, not even a write that was queued while it still held the lease.

The zombie: agent A reaches PostgreSQL through a proxy that is then frozen (a
blackhole: sockets open, nothing forwarded), so its writes and renewals hang; agent B
takes both tasks over when A's leases expire and stores newer checkpoints; then the
proxy thaws and A's queued writes arrive. Before the fix, a write queued for a task A
had since given up (its lease lost, then released) went through with no fence at all,
over B's newer checkpoint: the stored checkpoint moved backwards.

In process: a store that released or lost a task's lease refuses to write it (a lost
lease, as the runtime knows it), while a store that never held it (`dstream state set`
with no run) writes it unfenced.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from typing import Callable, Optional

import pytest

from dstream.errors import ExitCode
from dstream.state.lease import LeaseLost
from dstream.state.postgres import PostgresStore
from tests.relay import FreezableProxy
from tests.scale.cluster import SETTINGS, Database, Hosts, Sampler, counter, project
from tests.services import PostgresServer, wait_until

TASKS = ("t1", "t2")


def agent_config(dsn: str, table: str) -> str:
    return project(dsn, table, *(counter(n, interval=2, commit_interval="100ms") for n in TASKS))


def holder(db: Database) -> Optional[int]:
    """The pid of the holder of the task's live lease."""
    lease = db.lease()
    return lease.pid if lease is not None and lease.expires_in > 0 else None


@pytest.mark.timeout(240)
def test_a_cut_off_agent_never_writes_a_task_taken_over_after_the_thaw(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    hosts: Hosts,
) -> None:
    # The tables the agents would create, made now so the audit trigger has one to go on.
    PostgresStore(pg_server.dsn, table, lease=SETTINGS).close()
    dbs = [database(pg_server.dsn, task) for task in TASKS]
    dbs[0].audit_writes()  # every task's writes
    samplers = [Sampler(db) for db in dbs]
    zombie = hosts("zombie", agent_config(proxy.dsn(), table))
    other = hosts("other", agent_config(pg_server.dsn, table))
    try:
        zombie.start("agent")
        wait_until("the agent to hold both tasks", lambda: all(holder(db) for db in dbs))
        wait_until("it to store both", lambda: all(db.checkpoint() for db in dbs))
        proxy.freeze()
        at_freeze = [db.checkpoint() or 0 for db in dbs]
        other.start("agent")
        wait_until(
            "the other agent to take both tasks over",
            lambda: all(holder(db) == other.pid for db in dbs),
        )
        wait_until(
            "the other agent to store both past the zombie's checkpoints",
            lambda: all((db.checkpoint() or 0) > at + 100 for db, at in zip(dbs, at_freeze)),
        )
        proxy.thaw()  # the zombie's queued writes arrive now
        zombie.signal(signal.SIGTERM)
        zombie.wait()  # from here on it can write nothing more
        other.signal(signal.SIGTERM)
        assert other.wait() == ExitCode.TERMINATED, other.stderr()
    finally:
        for sampler in samplers:
            sampler.close()
    pids = {"zombie": zombie.pid, "other": other.pid}
    for db, sampler in zip(dbs, samplers):
        writes = db.writes()
        foreign = [w for w in writes if not w.owner or int(w.owner.split(":")[1]) != pids[w.writer]]
        assert not foreign, f"{db.task}: written by a host that did not hold the lease: {foreign}"
        assert not sampler.backwards, (
            f"{db.task}: its checkpoint moved backwards: {sampler.backwards}"
        )


# -- in process ---------------------------------------------------------------------------
@pytest.fixture
def store(pg_server: PostgresServer, table: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="holder")
    yield opened
    opened.close()


def test_a_store_refuses_a_write_after_it_released_the_lease(store: PostgresStore) -> None:
    assert store.try_hold("x") > 0
    store.put("x", {"seq": 1})
    store.release("x")
    with pytest.raises(LeaseLost) as refused:
        store.put("x", {"seq": 0})
    assert "released" in refused.value.reason
    store.add_run("x", {"started_at": 1.0, "ended_at": 2.0})  # an append: not fenced
    record = store.get("x")
    assert record is not None and record.raw == b'{"seq":1}'


def test_a_store_refuses_a_write_after_its_lease_was_lost_and_released(
    store: PostgresStore, pg_server: PostgresServer, table: str
) -> None:
    """The zombie's case in process: the lease lost on the local deadline (renewals
    stop: the keeper is closed), another store takes it over, the loser releases it; a
    write of the loser after that is refused with the loss, not sent unfenced."""
    assert store.try_hold("x") > 0
    store.put("x", {"seq": 5})
    store._keeper.close()  # no renewal any more: the local deadline passes
    wait_until("the lease to be lost locally", lambda: store._keeper.lost("x"))
    other = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="other")
    try:
        wait_until("the other store to take it over", lambda: other.try_hold("x"))
        other.put("x", {"seq": 9})
        store.release("x")
        with pytest.raises(LeaseLost):
            store.put("x", {"seq": 6})
        record = other.get("x")
        assert record is not None and record.raw == b'{"seq":9}'
    finally:
        other.close()


def test_a_write_begun_under_an_earlier_holding_is_refused_under_a_later_one(
    store: PostgresStore, pg_server: PostgresServer, table: str
) -> None:
    """A write that waited (for the connection) while the store released the task and
    took it again must not be stored under the new epoch: it belongs to the old run."""
    assert store.try_hold("x") > 0
    with store._lock:  # the store's connection busy: the write below waits for it
        refused: list[BaseException] = []

        def write() -> None:
            try:
                store.put("x", {"seq": 3})
            except LeaseLost as exc:
                refused.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        wait_until("the write to wait for the connection", lambda: waiting_in(writer, "_run"))
        store.release("x")
        assert store.try_hold("x") > 0
    writer.join(30)
    assert refused, "a write begun under the released lease was stored under the new one"
    assert store.get("x") is None


def waiting_in(thread: threading.Thread, function: str) -> bool:
    """Whether `thread` is inside `function` now (a write past its start)."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def test_a_store_that_never_held_the_lease_writes_unfenced(
    store: PostgresStore, pg_server: PostgresServer, table: str
) -> None:
    """`dstream state set` with no run: no lease, no fence, as documented."""
    other = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="other")
    try:
        assert other.try_hold("x") > 0
        store.put("x", {"seq": 7})
        record = store.get("x")
        assert record is not None and record.raw == b'{"seq":7}'
    finally:
        other.close()
