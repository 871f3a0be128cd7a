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
from pathlib import Path

import psycopg
import pytest

from dstream.state.lease import LeaseLost, LeaseSettings
from dstream.state.postgres import PostgresStore
from tests.scale.cluster import Host
from tests.scale.freezer import FreezableProxy, freezable_proxy
from tests.services import PostgresServer, wait_until

TASKS = ("t1", "t2")
STATE = """state {{
  backend = "postgres"
  dsn = "{dsn}"
  table = "{table}"
  lease_ttl = "6s"
  lease_renew_interval = "1s"
}}
"""
TASK = """task "{name}" {{
  commit_interval = "100ms"
  stop_grace = "1s"
  input  {{ provider_path = "dstream-counter"  config {{ interval = 2  max_count = 0  checkpoint_every = 10 }} }}
  output {{ provider_path = "dstream-file"     config {{ path = "out_{name}.jsonl" }} }}
}}
"""  # noqa: E501
SETTINGS = LeaseSettings(ttl=3.0, renew_interval=0.5)


def agent_config(dsn: str, table: str) -> str:
    return STATE.format(dsn=dsn, table=table) + "".join(TASK.format(name=n) for n in TASKS)


class Writes:
    """Every checkpoint write to the table, recorded by a trigger inside the writer's
    transaction: who wrote it (its application_name: the Host's name), the task, the
    seq, and the lease's owner at that moment; and every seq a sampler saw stored."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.conn = psycopg.connect(dsn, autocommit=True)
        t = table
        # The tables the agents would create, made now so the trigger has one to go on.
        PostgresStore(dsn, table, lease=SETTINGS).close()
        self.conn.execute(
            f"CREATE TABLE {t}_audit (writer text, task text, seq bigint, owner text)"
        )
        self.conn.execute(
            f"CREATE FUNCTION {t}_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" INSERT INTO {t}_audit SELECT current_setting('application_name'), NEW.task,"
            f" (NEW.checkpoint::jsonb ->> 'seq')::bigint, (SELECT owner FROM {t}_lease l"
            f" WHERE l.task = NEW.task); RETURN NEW; END $$"
        )
        self.conn.execute(
            f"CREATE TRIGGER {t}_audit AFTER INSERT OR UPDATE ON {t}"
            f" FOR EACH ROW EXECUTE FUNCTION {t}_audit()"
        )
        self.backwards: list[tuple[str, int, int]] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        last: dict[str, int] = {}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.wait(0.01):
                for task, seq in conn.execute(
                    f"SELECT task, (checkpoint::jsonb ->> 'seq')::bigint FROM {self.table}"
                ).fetchall():
                    if task in last and seq < last[task]:
                        self.backwards.append((task, last[task], seq))
                    last[task] = seq

    def holders(self) -> dict[str, int]:
        """task -> pid of its live lease's holder."""
        rows = self.conn.execute(
            f"SELECT task, owner FROM {self.table}_lease WHERE expires_at > now()"
        ).fetchall()
        return {task: int(owner.split(":")[1]) for task, owner in rows}

    def stored(self) -> dict[str, int]:
        rows = self.conn.execute(
            f"SELECT task, (checkpoint::jsonb ->> 'seq')::bigint FROM {self.table}"
        ).fetchall()
        return {task: int(seq) for task, seq in rows}

    def audit(self) -> list[tuple[str, str, int, str]]:
        rows = self.conn.execute(f"SELECT * FROM {self.table}_audit").fetchall()
        return [(str(w), str(t), int(s), str(o or "")) for w, t, s, o in rows]

    def close(self) -> None:
        self._stop.set()
        self._sampler.join()
        self.conn.close()


@pytest.fixture
def proxy(pg_server: PostgresServer) -> Iterator[FreezableProxy]:
    with freezable_proxy(pg_server.port) as made:
        yield made


@pytest.mark.timeout(240)
def test_a_cut_off_agent_never_writes_a_task_taken_over_after_the_thaw(
    pg_server: PostgresServer, proxy: FreezableProxy, table: str, tmp_path: Path
) -> None:
    writes = Writes(pg_server.dsn, table)
    zombie = Host(tmp_path, "zombie", agent_config(proxy.dsn(), table))
    other = Host(tmp_path, "other", agent_config(pg_server.dsn, table))
    try:
        zombie.start("agent")
        wait_until("the agent to hold both tasks", lambda: len(writes.holders()) == 2)
        wait_until("it to store both", lambda: len(writes.stored()) == 2)
        proxy.freeze()
        at_freeze = writes.stored()
        other.start("agent")
        wait_until(
            "the other agent to take both tasks over",
            lambda: set(writes.holders().values()) == {other.pid},
        )
        wait_until(
            "the other agent to store both past the zombie's checkpoints",
            lambda: all(writes.stored().get(t, 0) > at_freeze[t] + 100 for t in TASKS),
        )
        proxy.thaw()  # the zombie's queued writes arrive now
        zombie.signal(signal.SIGTERM)
        zombie.wait()  # from here on it can write nothing more
        other.signal(signal.SIGTERM)
        assert other.wait() == 143, other.stderr()
        audit = writes.audit()
    finally:
        proxy.thaw()
        zombie.stop()
        other.stop()
        writes.close()
    pids = {"zombie": zombie.pid, "other": other.pid}
    foreign = [
        (writer, task, seq, owner)
        for writer, task, seq, owner in audit
        if int(owner.split(":")[1]) != pids[writer]
    ]
    print(f"\n{len(audit)} writes; the zombie's: {[w for w in audit if w[0] == 'zombie'][-3:]}")
    assert not foreign, f"checkpoints written by a host that did not hold the lease: {foreign}"
    assert not writes.backwards, f"a stored checkpoint moved backwards: {writes.backwards}"


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
    with pytest.raises(LeaseLost):
        store.add_run("x", {"started_at": 1.0, "ended_at": 2.0})
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
