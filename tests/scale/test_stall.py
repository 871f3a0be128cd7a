"""A state database that stops answering on an established connection: a blackholed
network (a proxy that forwards nothing and keeps its sockets open, as a frozen VM or
a hung pooler would) or a stalled server.

- No call waits for ever: every exchange on a session is cut after
  session.statement_bound (the peer's kernel still acknowledges, so no TCP timer
  fires). A standby or an agent cut off that way and told to stop (one SIGTERM) ends
  while the network is still frozen; before, it hung until the network came back.
- A take-over answered past the local deadline of the lease it took (the standby's
  network stalled while the holder's lease ran out) is not run on: rolled back, and
  taken again at once. Before, the standby started its providers on it and failed at
  once (`lease deadline passed locally`), exit 1.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from dstream.state.session import StateUnreachable, statement_bound
from tests.scale.cluster import Database, Host, config, streaming
from tests.scale.freezer import FreezableProxy, freezable_proxy
from tests.scale.test_fencing import agent_config
from tests.services import PostgresServer, wait_until

# The text of a take-over's statement (state/lease.py LeaseTable.acquire): the proxy
# freezes when a standby sends it.
TAKE_OVER = b"ON CONFLICT (task) DO UPDATE SET owner"


@pytest.fixture
def proxy(pg_server: PostgresServer) -> Iterator[FreezableProxy]:
    with freezable_proxy(pg_server.port) as made:
        yield made


def said_by(host: Host) -> str:
    """What the host printed: its --json document, then its log."""
    return (host.root / f"stdout.{host.runs}").read_text() + host.stderr()


def assert_stops_while_frozen(host: Host, proxy: FreezableProxy) -> int:
    """One SIGTERM to a host cut off by the frozen proxy: it must end while the proxy
    stays frozen. Its exit code. (One: a second one forces, and gives the wait up by
    itself, runtime/signals.py; the first is seen only once the call returns.)"""
    assert proxy.holding(), "nothing of the host is stuck in the proxy: no stall to test"
    host.signal(signal.SIGTERM)
    code = host.wait()  # a hang is a TimeoutExpired here, the proxy still frozen
    assert proxy.frozen
    said = said_by(host)
    assert "Traceback" not in said and "error ignored" not in said, said
    assert code in (1, 143), said  # the call's failure, or the stop (runtime/signals.py)
    return code


@pytest.mark.timeout(180)
def test_a_standby_cut_off_by_a_blackhole_stops_on_sigterm(
    pg_server: PostgresServer, proxy: FreezableProxy, table: str, tmp_path: Path
) -> None:
    holder = Host(tmp_path, "holder", config(pg_server.dsn, table, 6, 1))
    standby = Host(tmp_path, "standby", config(proxy.dsn(), table, 6, 1))
    db = Database(pg_server.dsn, table)
    try:
        holder.run_standby()
        wait_until("the holder to take the lease", db.lease)
        standby.run_standby()
        wait_until("the standby to wait", lambda: "taking over when it is free" in standby.stderr())
        proxy.freeze(on=TAKE_OVER)
        wait_until("a take-over try of the standby to hang", proxy.holding)
        code = assert_stops_while_frozen(standby, proxy)
        said = said_by(standby)
        print(f"\nstandby cut off, SIGTERM: exit {code}\n{said[-900:]}")
        if code == 1:  # not seen as stopped: then it says the database did not answer
            assert standby.summary()["error"] == "StateUnreachable", said
    finally:
        proxy.thaw()
        standby.stop()
        holder.stop()
        db.close()


@pytest.mark.timeout(180)
def test_an_agent_cut_off_by_a_blackhole_stops_on_sigterm(
    pg_server: PostgresServer, proxy: FreezableProxy, table: str, tmp_path: Path
) -> None:
    agent = Host(tmp_path, "agent", agent_config(proxy.dsn(), table))
    db = Database(pg_server.dsn, table, "t1")
    try:
        agent.start("agent")
        wait_until("the agent to store a checkpoint", db.checkpoint)
        proxy.freeze()
        wait_until("the agent's calls to hang", proxy.holding)
        code = assert_stops_while_frozen(agent, proxy)
        print(f"\nagent cut off, SIGTERM: exit {code}\n{said_by(agent)[-900:]}")
    finally:
        proxy.thaw()
        agent.stop()
        db.close()


def test_a_call_on_a_blackholed_session_is_cut_after_its_bound(
    proxy: FreezableProxy, table: str
) -> None:
    """In process: a checkpoint write and a take-over on a frozen network raise
    StateUnreachable (the store's patience, then the keeper's retry, each bounded)
    instead of waiting for the thaw."""
    settings = LeaseSettings(ttl=3.0, renew_interval=0.5)
    store = PostgresStore(proxy.dsn(), table, lease=settings, owner="cut-off")
    try:
        proxy.freeze()
        with pytest.raises(StateUnreachable) as cut:
            store.put("x", {"seq": 1})
        assert f"within {statement_bound(settings.ttl):g}s" in cut.value.reason
        with pytest.raises(StateUnreachable):
            store.try_hold("x")
    finally:
        proxy.thaw()
        store.close()


# -- a take-over answered late ------------------------------------------------------------
TTL = 3.0  # statement_bound 2 s = the local deadline of a lease taken (two thirds)


def expired(db: Database) -> bool:
    lease = db.lease()
    return lease is not None and lease.expires_in <= 0


@pytest.mark.timeout(180)
def test_a_take_over_answered_past_its_deadline_is_not_run_on(
    pg_server: PostgresServer, proxy: FreezableProxy, table: str, tmp_path: Path
) -> None:
    """The holder dies; the standby's network stalls while its take-over is in flight
    (it is cut after 2 s and sent again on a new session) and comes back before that
    session's connect timeout: the answer comes past the lease's deadline. The standby
    gives it back, takes the task again at once and streams: no provider is started on
    the late lease, no `lease deadline passed`, no exit 1."""
    holder = Host(tmp_path, "holder", config(pg_server.dsn, table, TTL, 0.5))
    standby = Host(tmp_path, "standby", config(proxy.dsn(), table, TTL, 0.5))
    db = Database(pg_server.dsn, table)
    try:
        holder.run_standby()
        wait_until("the holder to take the lease", db.lease)
        wait_until("it to stream", lambda: streaming(db, 0))
        standby.run_standby()
        wait_until("the standby to wait", lambda: "taking over when it is free" in standby.stderr())
        holder.signal(signal.SIGKILL)  # its lease runs out within the TTL
        proxy.freeze(on=TAKE_OVER)
        wait_until("a take-over try of the standby to hang", proxy.holding)
        asked = time.monotonic()
        # Thawed once the holder's lease expired, after the try is cut (2 s) and before
        # the session the standby opens again gives up connecting (2 s more): the
        # answer comes about 3 s after the ask, past the 2 s a lease is trusted.
        wait_until("the holder's lease to expire", lambda: expired(db))
        time.sleep(max(0.0, asked + statement_bound(TTL) + 0.8 - time.monotonic()))
        proxy.thaw()
        since = db.checkpoint() or 0
        wait_until("the standby to stream", lambda: streaming(db, since))
        stderr = standby.stderr()
        assert "answered the take-over of its lease" in stderr, stderr  # it was late
        assert "lease deadline passed" not in stderr, stderr
        assert standby.proc is not None and standby.proc.poll() is None, stderr
        lease = db.lease()
        assert lease is not None and lease.pid == standby.pid
        standby.signal(signal.SIGTERM)
        assert standby.wait() == 143, standby.stderr()
    finally:
        proxy.thaw()
        standby.stop()
        holder.stop()
        db.close()
