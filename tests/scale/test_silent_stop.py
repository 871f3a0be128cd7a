"""What a stopped `dstream run` or agent still does on a state database gone silent (a
proxy that forwards nothing while every socket stays open), and what it says about it.

After a stop, a call that cannot matter is not made: an agent whose registration has
expired does not leave the registry (the others counted it out already), and a run that
found the database silent, or left a task behind, records no history (a new session
would only wait out its connect timeout). An agent's tasks drain as soon as it is told
to stop, not after the call on the database its main loop is waiting in. And a task left
behind by a forced stop keeps what it did in its summary: its counters, its duration,
the last checkpoint stored, and why it was left behind."""

from __future__ import annotations

import signal
import threading

import psycopg
import pytest

from dstream.errors import DstreamError, ExitCode
from dstream.state.lease import LeaseSettings
from dstream.state.postgres import PostgresStore
from tests.relay import FreezableProxy
from tests.scale.cluster import (
    Database,
    Host,
    Hosts,
    config,
    ends_while_silent,
    held_by,
    registration_expired,
    streaming,
)
from tests.services import PostgresServer, wait_until

# The bytes of a checkpoint write's fence (state/lease.py, LeaseTable.fence): freezing
# on them holds a write, with the run's lease, until the thaw.
FENCE = b"SET renewed_at = renewed_at"
# The bytes of an agent's heartbeat (state/agents.py, AgentTable.heartbeat).
HEARTBEAT = b'_agents" SET expires_at'
# The default lease: a call on the silent database is cut after 5 s, its new session's
# connect times out after 5 s more, so whatever waits on it is still waiting when the
# stop was forced 3 s ago (left behind), and its lease's deadline is 7 s away at least.
TTL = 15.0
RENEW = 3.0
# A run's wait for its committer (the write held) lasts up to its stop_grace: longer than
# the 3 s after a forced stop, the task is left behind.
LONG_GRACE = "30s"


def _run_frozen_in_a_write(
    db: Database, proxy: FreezableProxy, hosts: Hosts, table: str, *args: str, grace: str = "1s"
) -> Host:
    """`dstream run t ARGS` (stop_grace `grace`) through the proxy, streaming, then frozen
    in a checkpoint write."""
    host = hosts("a", config(proxy.dsn(), table, TTL, RENEW, stop_grace=grace))
    host.start("run", "t", *args)
    wait_until("the run to store checkpoints", lambda: held_by(db, host) and streaming(db, 0))
    proxy.freeze(on=FENCE)
    wait_until("a checkpoint write to wait on the proxy", proxy.holding)
    return host


@pytest.mark.timeout(180)
def test_a_task_left_behind_keeps_its_counters_and_says_why(
    db: Database, proxy: FreezableProxy, hosts: Hosts, table: str
) -> None:
    host = _run_frozen_in_a_write(db, proxy, hosts, table, "--json", grace=LONG_GRACE)
    code = ends_while_silent(host, proxy, (signal.SIGTERM, signal.SIGTERM))
    assert code == ExitCode.TERMINATED, host.stderr()
    task = host.summary()["tasks"][0]
    assert (task["outcome"], task["stopped_by"]) == ("interrupted", "SIGTERM"), task
    assert task["error"]["error"] == "LeftBehind", task
    assert task["counters"]["data_frames"] > 0, task  # it streamed: not "before streaming"
    assert task["duration_seconds"] > 0, task
    assert task["checkpoints_acknowledged"] > 0, task
    assert task["last_checkpoint"] == {"seq": db.checkpoint()}, task  # what is stored
    # The forced stop opens no session for the history: it would wait on the silence.
    assert "could not record the run" not in host.stderr(), host.stderr()
    assert "not recorded in the task's history" in host.stderr(), host.stderr()


@pytest.mark.timeout(180)
def test_the_summary_of_a_task_left_behind_says_what_it_did_and_why(
    db: Database, proxy: FreezableProxy, hosts: Hosts, table: str
) -> None:
    host = _run_frozen_in_a_write(db, proxy, hosts, table, grace=LONG_GRACE)
    code = ends_while_silent(host, proxy, (signal.SIGTERM, signal.SIGTERM))
    assert code == ExitCode.TERMINATED, host.stderr()
    lines = host.stderr().splitlines()
    head = next(line for line in lines if line.startswith("task t: "))
    assert head.startswith("task t: interrupted by SIGTERM after "), lines
    assert any(line.startswith("  frames ") for line in lines), lines
    assert any(
        "note" in line and "had not ended 3s after the stop was forced" in line for line in lines
    ), lines


@pytest.mark.timeout(180)
def test_a_run_stopped_on_a_silent_database_records_no_history(
    db: Database, proxy: FreezableProxy, hosts: Hosts, table: str
) -> None:
    host = _run_frozen_in_a_write(db, proxy, hosts, table, "--json")
    assert ends_while_silent(host, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    err = host.stderr()
    assert "could not record the run" not in err, err  # no new session was tried
    assert "not recorded in the task's history" in err, err


def _registered(dsn: str, table: str) -> str:
    """The one agent registered, or "" (none yet, or no registry yet)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f"{table}_agents",)).fetchone() == (None,):
            return ""
        row = conn.execute(f"SELECT agent FROM {table}_agents").fetchone()
    return str(row[0]) if row else ""


def _an_agent_holding_nothing(
    pg_server: PostgresServer, table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> tuple[Host, str]:
    """An agent, through the proxy, joined but holding no task: another run holds it
    (so no task's store may fail first). The agent and its name in the registry."""
    holder = hosts("holder", config(pg_server.dsn, table, 6, 1))
    holder.start("run", "t")
    wait_until("the holder to take the task", lambda: held_by(db, holder))
    agent = hosts("agent", config(proxy.dsn(), table, 6, 1))
    agent.start("agent", "--json")
    return agent, wait_until("the agent to join", lambda: _registered(pg_server.dsn, table))


@pytest.mark.timeout(180)
def test_an_agent_whose_registration_expired_does_not_leave_the_registry(
    pg_server: PostgresServer, table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> None:
    agent, owner = _an_agent_holding_nothing(pg_server, table, db, proxy, hosts)
    proxy.freeze()
    wait_until(
        "the registration to expire", lambda: registration_expired(pg_server.dsn, table, owner)
    )
    assert ends_while_silent(agent, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    # Leaving could only wait on the silence: the others counted it out already.
    assert "could not leave the registry" not in agent.stderr(), agent.stderr()
    assert "not leaving the registry: its registration expired" in agent.stderr()


@pytest.mark.timeout(180)
def test_an_agent_counts_its_registration_from_the_renewal_not_from_its_late_answer(
    pg_server: PostgresServer, table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> None:
    """The database renews a registration for TTL from when it runs the renewal: an
    agent that heard the answer late must not think it is registered for longer than
    the others count it."""
    agent, owner = _an_agent_holding_nothing(pg_server, table, db, proxy, hosts)
    proxy.freeze(on=HEARTBEAT, reply=True)  # the renewal runs; its answer waits
    wait_until("a renewal's answer to wait on the proxy", proxy.holding)
    wait_until(
        "the renewed registration to near its end",
        lambda: registration_expired(pg_server.dsn, table, owner, within=4.4),
    )
    proxy.thaw()  # the answer arrives 1.6 s late (a call is cut after 3 s)
    wait_until("the answer to reach the agent", lambda: not proxy.holding())
    proxy.freeze()
    wait_until(
        "the registration to expire", lambda: registration_expired(pg_server.dsn, table, owner)
    )
    assert ends_while_silent(agent, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    assert "not leaving the registry: its registration expired" in agent.stderr()


@pytest.mark.timeout(180)
def test_an_agent_drains_its_tasks_at_once_while_its_loop_waits_on_the_database(
    table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> None:
    agent = hosts("agent", config(proxy.dsn(), table, TTL, RENEW))
    agent.start("agent", "--json")
    wait_until("the agent to stream", lambda: held_by(db, agent) and streaming(db, 0))
    proxy.freeze(on=HEARTBEAT)  # its loop waits in the renewal of its registration
    wait_until("the heartbeat to wait on the proxy", proxy.holding)
    assert ends_while_silent(agent, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    lines = agent.stderr().splitlines()
    stopped = next(i for i, line in enumerate(lines) if "t/input: stop signal received" in line)
    # Drained on the signal, not when the lease's deadline (7 s away at least) or the
    # heartbeat's failure stopped it.
    late = [
        i
        for i, line in enumerate(lines)
        if "lease deadline passed" in line or "could not renew the agent" in line
    ]
    assert all(stopped < i for i in late), lines


@pytest.mark.timeout(120)
def test_closing_a_store_does_not_wait_for_a_write_the_silent_database_holds(
    proxy: FreezableProxy, table: str
) -> None:
    store = PostgresStore(proxy.dsn(), table, lease=LeaseSettings(ttl=6, renew_interval=1))
    outcome: list[BaseException] = []

    def write() -> None:
        try:
            store.put("t", {"seq": 2})
        except DstreamError as exc:  # the silence: cut, then no new session in time
            outcome.append(exc)

    with store.hold_run("t"):
        store.put("t", {"seq": 1})
        proxy.freeze(on=FENCE)
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        wait_until("the write to wait on the proxy", proxy.holding)
        store.close()
        # Closed while the write still waits (its cut is seconds away): the process's
        # exit closes that socket, a stopped run does not wait for it.
        assert writer.is_alive()
    writer.join()
    assert outcome, "the write went through a frozen proxy"
