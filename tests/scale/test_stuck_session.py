"""A holder paused inside a transaction (SIGSTOP, a frozen VM, a debugger) keeps the row
locks of that transaction for as long as its session lives. A checkpoint write locks
its task's lease row (`fence`), so a holder paused mid-write blocked, before this was
fixed, every other holder that tried to take that task over: their lease keepers waited
on the row lock, holding the one connection their renewals need, until their own leases
passed their deadlines. One paused agent stopped the others' tasks (seen as a flaky
`tests/scale/test_agents.py`: "leases: {}").

Now a keeper waits on no row lock (`lock_timeout`): the task is "held by another" for
now and its renewals go on; and a session idle inside a transaction for half a TTL is
ended by the server (`idle_in_transaction_session_timeout`), so the paused holder's
locks go and its expired lease can be taken over.

In process, on the real PostgreSQL: the "paused" holder is a store whose fenced write is
held open in a thread, as a SIGSTOP between two of its statements would hold it.
"""

from __future__ import annotations

import threading
import time

from dstream.state.postgres import PostgresStore
from tests.scale.cluster import SETTINGS
from tests.services import PostgresServer, wait_until


def test_a_holder_paused_inside_a_write_stops_no_one_else(
    pg_server: PostgresServer, table: str
) -> None:
    paused = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="paused")
    other = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="other")
    try:
        assert paused.try_hold("x") > 0
        assert other.try_hold("y") > 0
        inside, resume = threading.Event(), threading.Event()

        def write_then_pause() -> None:
            conn = paused._conn  # the store's own session, as its writes use it
            assert conn is not None
            try:
                with paused._fenced(conn, "x"):  # the lease row of x is locked now
                    inside.set()
                    resume.wait(60)  # paused between two statements of the write
            except Exception:
                pass  # its session was ended under it: what the server should do

        pausing = threading.Thread(target=write_then_pause, daemon=True)
        pausing.start()
        assert inside.wait(10)
        paused._keeper.close()  # paused: it renews nothing more either

        # While x's lease runs out and its row stays locked, the other keeps renewing y
        # and takes x over once the paused session is gone. (Tried on a thread: before
        # the fix a try blocked on the row lock for as long as the pause lasted.)
        taken: list[int] = []

        def take_over() -> None:
            while not taken and not resume.is_set():
                epoch = other.try_hold("x")
                if epoch:
                    taken.append(epoch)
                time.sleep(0.05)

        threading.Thread(target=take_over, daemon=True).start()
        try:
            wait_until("x to be taken over", lambda: taken, 30)
        finally:
            resume.set()
        assert taken[0] > 1
        assert other._keeper.lost("y") is None, other._keeper.lost("y")
        assert other.lease_epoch("y") is not None
        pausing.join(10)
    finally:
        other.close()
        paused.close()


def test_a_keeper_waits_on_no_row_lock_while_it_has_leases_to_renew(
    pg_server: PostgresServer, table: str
) -> None:
    """The keeper's half: a row locked by a session the server does not end (not
    dstream's, so without its idle timeout) makes a take-over try answer 0 at once,
    and the keeper's own leases stay renewed meanwhile, for twice the TTL."""
    import psycopg

    other = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="other")
    try:
        assert other.try_hold("y") > 0
        lease_table = f"{table}_lease"
        with psycopg.connect(pg_server.dsn) as stranger:
            stranger.execute(
                f'INSERT INTO "{lease_table}" VALUES (%s, %s, 1, now(), now(), now(), %s)',
                ("x", "gone", ""),
            )
            stranger.commit()
            stranger.execute(f'SELECT * FROM "{lease_table}" WHERE task = %s FOR UPDATE', ("x",))
            tries: list[int] = []
            stop = threading.Event()

            def take_over() -> None:  # a try that waited on the lock would block here
                while not stop.is_set():
                    tries.append(other.try_hold("x"))
                    time.sleep(0.1)

            trying = threading.Thread(target=take_over, daemon=True)
            trying.start()
            stop.wait(2 * SETTINGS.ttl)
            stop.set()
            trying.join(5)  # a try that answers, answers within lock_timeout
            stranger.rollback()  # the lock goes: a try still blocked on it returns now
            trying.join(10)
        assert len(tries) > 2 and set(tries) == {0}  # held (locked) elsewhere all along
        assert other._keeper.lost("y") is None, other._keeper.lost("y")
        assert other.try_hold("x") > 0  # the lock gone, the expired lease is taken
    finally:
        other.close()


def test_every_state_session_has_its_limits(pg_server: PostgresServer, table: str) -> None:
    """The settings the two tests above rely on, as a session shows them: the store's
    session is ended when idle in a transaction for half the TTL, and the keeper's waits
    on a row lock are bounded."""
    store = PostgresStore(pg_server.dsn, table, lease=SETTINGS, owner="s")
    try:
        conn = store._conn
        assert conn is not None
        shown = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()
        assert shown is not None and shown[0] == f"{int(SETTINGS.ttl * 1000 / 2)}ms"
        keeper = store._keeper._connect()
        try:
            locks = keeper.execute("SHOW lock_timeout").fetchone()
            assert locks is not None and locks[0] != "0", locks
        finally:
            keeper.close()
    finally:
        store.close()
