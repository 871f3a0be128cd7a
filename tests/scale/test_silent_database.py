"""A standby run and an agent whose PostgreSQL went silent (a proxy that forwards nothing
while every socket stays open: no error, no answer) still obey the signals: one ends
them while the database is still silent (each call on the database is bounded, and the
call in flight failing is no failure of a stopped run; before, they hung until the
network came back), a second one at once, and what the database answers after a stop
starts nothing — a standby stopped while its take-over was in flight gives the lease
back without starting a provider; an agent stopped while cut off does not join the
agents again. And an agent's second signal forces its tasks' stop, as `run`'s does."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.relay import FreezableProxy
from tests.scale.cluster import (
    TAKE_OVER,
    Database,
    Host,
    Hosts,
    config,
    deliver,
    ends_while_silent,
    held_by,
    holder_and_standby,
    registration_expired,
    released,
    streaming,
)  # fmt: skip
from tests.scale.test_faults import stubborn_output
from tests.services import PostgresServer, wait_until
from tests.workspace import executable

# The output a standby would start: it leaves a mark first (a describe probe aside).
MARKING_OUTPUT = """#!/bin/sh
[ "$DSTREAM_DESCRIBE" = 1 ] || touch started
exec dstream-file "$@"
"""
AGENT_TTL = 6.0

# One signal ends the run, the stop it asks for (SIGTERM: 143); a second one while the
# first is being honoured forces the stop, and the run is stopped by the first (SIGINT:
# 130).
SIGNALS = pytest.mark.parametrize(
    ("signals", "code"),
    [
        pytest.param((signal.SIGTERM,), ExitCode.TERMINATED, id="one-signal"),
        pytest.param((signal.SIGINT, signal.SIGTERM), ExitCode.INTERRUPTED, id="second-signal"),
    ],
)


@pytest.fixture
def standby_pair(
    hosts: Hosts, pg_server: PostgresServer, proxy: FreezableProxy, table: str
) -> tuple[Host, Host]:
    """A holder connected directly, a standby through the proxy (its output marks)."""
    holder = hosts("a", config(pg_server.dsn, table, 6, 1))
    marking = executable(holder.root.parent / "marking-output", MARKING_OUTPUT)
    standby = hosts("b", config(proxy.dsn(), table, 6, 1, output=str(marking)))
    return holder, standby


def start_waiting(db: Database, holder: Host, standby: Host, proxy: FreezableProxy) -> None:
    """The holder streams; the standby waits; the database goes silent for it, in the
    middle of an attempt to take the task."""
    holder_and_standby(db, holder, standby, "--json")
    proxy.freeze(on=TAKE_OVER)
    wait_until("an attempt of the standby to be held", proxy.holding)


@SIGNALS
def test_signals_end_a_standby_waiting_on_a_silent_database(
    db: Database,
    proxy: FreezableProxy,
    standby_pair: tuple[Host, Host],
    signals: tuple[int, ...],
    code: int,
) -> None:
    holder, standby = standby_pair
    start_waiting(db, holder, standby, proxy)
    assert ends_while_silent(standby, proxy, signals) == code, standby.stderr()
    summary = standby.summary()["tasks"][0]
    stopped_by = signal.Signals(signals[0]).name
    assert (summary["outcome"], summary["stopped_by"]) == ("interrupted", stopped_by)
    assert not (standby.root / "started").exists()


def test_a_standby_stopped_while_taking_over_starts_nothing_and_gives_the_lease_back(
    db: Database, proxy: FreezableProxy, standby_pair: tuple[Host, Host]
) -> None:
    holder, standby = standby_pair
    start_waiting(db, holder, standby, proxy)
    holder.signal(signal.SIGTERM)  # the task is free when the database answers again
    assert holder.wait() == ExitCode.TERMINATED, holder.stderr()
    deliver(standby, signal.SIGTERM)
    proxy.thaw()
    assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
    assert not (standby.root / "started").exists(), standby.stderr()
    summary = standby.summary()["tasks"][0]
    assert (summary["outcome"], summary["stopped_by"]) == ("interrupted", "SIGTERM")
    assert released(db), db.lease()  # nobody holds it


@pytest.fixture
def agent(hosts: Hosts, proxy: FreezableProxy, table: str) -> Host:
    """An agent reaching the database through the proxy."""
    return hosts("agent", config(proxy.dsn(), table, AGENT_TTL, 1))


@SIGNALS
def test_signals_end_an_agent_cut_off_from_its_database(
    db: Database, proxy: FreezableProxy, agent: Host, signals: tuple[int, ...], code: int
) -> None:
    agent.start("agent", "--json")
    wait_until("the agent to stream", lambda: held_by(db, agent) and db.checkpoint())
    proxy.freeze()
    wait_until("a statement of the agent to be held", proxy.holding)
    assert ends_while_silent(agent, proxy, signals) == code, agent.stderr()


def test_an_agent_told_to_stop_while_cut_off_does_not_join_again(
    pg_server: PostgresServer, table: str, db: Database, proxy: FreezableProxy, agent: Host
) -> None:
    agent.start("agent", "--json")
    # Streaming (its checkpoint read and a new one stored), not only holding the lease:
    # a task cut off before it read its checkpoint fails (StateUnreachable), exit 1.
    wait_until("the agent to stream", lambda: held_by(db, agent) and db.checkpoint())
    lease = db.lease()
    assert lease is not None
    proxy.freeze()
    wait_until(
        "the others to count the agent out",
        lambda: registration_expired(pg_server.dsn, table, lease.owner),
    )
    deliver(agent, signal.SIGTERM)
    proxy.thaw()  # its registration has expired: a live agent would join again
    assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    assert "joined again" not in agent.stderr()
    after = db.lease()
    assert after is not None and after.epoch == lease.epoch, (lease, after)  # not taken


def test_a_second_signal_forces_the_stop_of_an_agents_tasks(
    pg_server: PostgresServer, table: str, db: Database, hosts: Hosts, tmp_path: Path
) -> None:
    # Its output ignores the end of its stdin and SIGTERM, and stop_grace is long: only
    # a forced stop (its kill) ends it before the grace.
    output = stubborn_output(tmp_path)
    agent = hosts(
        "agent", config(pg_server.dsn, table, AGENT_TTL, 1, stop_grace="10m", output=output)
    )
    agent.start("agent", "--json")
    wait_until("the agent to stream", lambda: held_by(db, agent) and streaming(db, 0))
    deliver(agent, signal.SIGINT)
    deliver(agent, signal.SIGTERM)
    assert agent.wait() == ExitCode.INTERRUPTED, agent.stderr()
