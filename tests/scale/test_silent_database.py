"""A standby run and an agent whose PostgreSQL went silent (a proxy that forwards nothing
while every socket stays open: no error, no answer) still obey the signals: one ends
them (each call on the database is bounded, and the call in flight failing is no failure
of a stopped run), a second one at once, and what the database answers after a stop
starts nothing — a standby stopped while its take-over was in flight gives the lease
back without starting a provider; an agent stopped while cut off does not join the
agents again. And an agent's second signal forces its tasks' stop, as `run`'s does."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import psycopg
import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import TASK, Database, Host, config, streaming
from tests.scale.freezer import FreezableProxy, freezable_proxy
from tests.scale.test_faults import stubborn_output
from tests.services import PostgresServer, wait_until
from tests.workspace import executable

# The output a standby would start: it leaves a mark first (a describe probe aside).
MARKING_OUTPUT = """#!/bin/sh
[ "$DSTREAM_DESCRIBE" = 1 ] || touch started
exec dstream-file "$@"
"""


@pytest.fixture
def proxy(pg_server: PostgresServer) -> Iterator[FreezableProxy]:
    with freezable_proxy(pg_server.port) as made:
        yield made


def held_by(db: Database, who: Host) -> bool:
    lease = db.lease()
    return lease is not None and lease.expires_in > 0 and lease.pid == who.pid


def deliver(host: Host, sig: int) -> None:
    """Send `sig` and wait until the process took it (no longer pending), so that a
    second signal is a second delivery, not merged into the first."""
    host.signal(sig)
    bit = 1 << (sig - 1)

    def taken() -> bool:
        try:
            status = Path(f"/proc/{host.pid}/status").read_text()
        except OSError:
            return True  # it ended
        pending = ("SigPnd", "ShdPnd")
        masks = [line.split()[1] for line in status.splitlines() if line[:6] in pending]
        return not any(int(mask, 16) & bit for mask in masks)

    wait_until(f"pid {host.pid} to take signal {sig}", taken)


def standby_pair(
    tmp_path: Path, pg_server: PostgresServer, proxy: FreezableProxy, table: str
) -> tuple[Host, Host]:
    """A holder connected directly, a standby through the proxy (its output marks)."""
    holder = Host(tmp_path, "a", config(pg_server.dsn, table, 6, 1))
    marking = executable(tmp_path / "marking-output", MARKING_OUTPUT)
    standby = Host(tmp_path, "b", config(proxy.dsn(), table, 6, 1, output=str(marking)))
    return holder, standby


def start_waiting(db: Database, holder: Host, standby: Host, proxy: FreezableProxy) -> None:
    """The holder streams; the standby waits; the database goes silent for it, in the
    middle of an attempt to take the task."""
    holder.start("run", TASK, "--json")
    wait_until("the holder to take the lease", lambda: held_by(db, holder))
    standby.run_standby()
    wait_until("the standby to wait", lambda: "taking over when it is free" in standby.stderr())
    proxy.freeze()
    wait_until("an attempt of the standby to be held", proxy.holding)


def test_a_second_signal_ends_a_standby_waiting_on_a_silent_database(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    tmp_path: Path,
) -> None:
    holder, standby = standby_pair(tmp_path, pg_server, proxy, table)
    db = database(pg_server.dsn)
    try:
        start_waiting(db, holder, standby, proxy)
        deliver(standby, signal.SIGINT)
        deliver(standby, signal.SIGTERM)  # forces: the database is still silent
        assert standby.wait() == ExitCode.INTERRUPTED, standby.stderr()
        summary = standby.summary()["tasks"][0]
        assert (summary["outcome"], summary["stopped_by"]) == ("interrupted", "SIGINT")
        assert not (standby.root / "started").exists()
    finally:
        proxy.thaw()
        for each in (holder, standby):
            each.stop()


def test_a_standby_stopped_while_taking_over_starts_nothing_and_gives_the_lease_back(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    tmp_path: Path,
) -> None:
    holder, standby = standby_pair(tmp_path, pg_server, proxy, table)
    db = database(pg_server.dsn)
    try:
        start_waiting(db, holder, standby, proxy)
        holder.signal(signal.SIGTERM)  # the task is free when the database answers again
        assert holder.wait() == ExitCode.TERMINATED, holder.stderr()
        deliver(standby, signal.SIGTERM)
        proxy.thaw()
        assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
        assert not (standby.root / "started").exists(), standby.stderr()
        summary = standby.summary()["tasks"][0]
        assert (summary["outcome"], summary["stopped_by"]) == ("interrupted", "SIGTERM")
        lease = db.lease()
        assert lease is not None and lease.expires_in <= 0, lease  # nobody holds it
    finally:
        proxy.thaw()
        for each in (holder, standby):
            each.stop()


AGENT_TTL = 6.0


def agent_on(tmp_path: Path, proxy: FreezableProxy, table: str) -> Host:
    return Host(tmp_path, "agent", config(proxy.dsn(), table, AGENT_TTL, 1))


def test_a_second_signal_ends_an_agent_cut_off_from_its_database(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    tmp_path: Path,
) -> None:
    agent = agent_on(tmp_path, proxy, table)
    db = database(pg_server.dsn)
    try:
        agent.start("agent", "--json")
        wait_until("the agent to take the task", lambda: held_by(db, agent))
        proxy.freeze()
        wait_until("a statement of the agent to be held", proxy.holding)
        deliver(agent, signal.SIGINT)
        deliver(agent, signal.SIGTERM)
        assert agent.wait() == ExitCode.INTERRUPTED, agent.stderr()
    finally:
        proxy.thaw()
        agent.stop()


def registration_expired(dsn: str, table: str, owner: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT expires_at <= now() FROM {table}_agents WHERE agent = %s", (owner,)
        ).fetchone()
    return bool(row and row[0])


def test_an_agent_told_to_stop_while_cut_off_does_not_join_again(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    tmp_path: Path,
) -> None:
    agent = agent_on(tmp_path, proxy, table)
    db = database(pg_server.dsn)
    try:
        agent.start("agent", "--json")
        lease = wait_until("the agent to take the task", lambda: held_by(db, agent) and db.lease())
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
    finally:
        proxy.thaw()
        agent.stop()


def test_a_second_signal_forces_the_stop_of_an_agents_tasks(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], tmp_path: Path
) -> None:
    # Its output ignores the end of its stdin and SIGTERM, and stop_grace is long: only
    # a forced stop (its kill) ends it before the grace.
    output = stubborn_output(tmp_path)
    text = config(pg_server.dsn, table, AGENT_TTL, 1, stop_grace="10m", output=output)
    agent = Host(tmp_path, "agent", text)
    db = database(pg_server.dsn)
    try:
        agent.start("agent", "--json")
        wait_until("the agent to stream", lambda: held_by(db, agent) and streaming(db, 0))
        deliver(agent, signal.SIGINT)
        deliver(agent, signal.SIGTERM)
        assert agent.wait() == ExitCode.INTERRUPTED, agent.stderr()
    finally:
        agent.stop()


def test_one_signal_ends_a_standby_waiting_on_a_silent_database(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    tmp_path: Path,
) -> None:
    """Each call on the database is bounded (state/session.py): the attempt in flight
    when the signal came fails, which is no failure of the run: it was stopped."""
    holder, standby = standby_pair(tmp_path, pg_server, proxy, table)
    db = database(pg_server.dsn)
    try:
        start_waiting(db, holder, standby, proxy)
        deliver(standby, signal.SIGTERM)
        assert standby.wait() == ExitCode.TERMINATED, standby.stderr()
        summary = standby.summary()["tasks"][0]
        assert (summary["outcome"], summary["stopped_by"]) == ("interrupted", "SIGTERM")
    finally:
        proxy.thaw()
        for each in (holder, standby):
            each.stop()


def test_one_signal_ends_an_agent_cut_off_from_its_database(
    pg_server: PostgresServer,
    proxy: FreezableProxy,
    table: str,
    database: Callable[..., Database],
    tmp_path: Path,
) -> None:
    agent = agent_on(tmp_path, proxy, table)
    db = database(pg_server.dsn)
    try:
        agent.start("agent", "--json")
        wait_until("the agent to take the task", lambda: held_by(db, agent))
        proxy.freeze()
        wait_until("a statement of the agent to be held", proxy.holding)
        deliver(agent, signal.SIGTERM)
        assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    finally:
        proxy.thaw()
        agent.stop()
