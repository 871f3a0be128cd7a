"""`dstream agent` on SIGHUP re-reads its configuration, as `dstream run` does: one that
does not load is reported and the running one kept; unchanged, nothing moves; changed,
the agent hands its tasks over and joins again with it — alone, it takes them back at
once; among agents still on the previous configuration, it waits (holding nothing) until
they run the new one too, so a reload of every agent in turn rolls the change out and
two configurations never divide the tasks."""

from __future__ import annotations

import signal
from collections import Counter
from typing import Optional

import psycopg

from dstream.errors import ExitCode
from tests.scale.cluster import Host, Hosts, counter, project
from tests.services import PostgresServer, wait_until

TASKS = ("r1", "r2")
Leases = dict[str, tuple[int, int]]  # task -> (holder's pid, epoch)


def config(dsn: str, table: str, r2_interval: int = 20) -> str:
    return project(dsn, table, counter("r1"), counter("r2", interval=r2_interval))


def query(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            return conn.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:  # no agent got that far yet
            return []


def leases(dsn: str, table: str) -> Leases:
    rows = query(dsn, f"SELECT task, owner, epoch FROM {table}_lease WHERE expires_at > now()")
    return {
        str(task): (int(str(owner).split(":")[1]), int(str(epoch))) for task, owner, epoch in rows
    }


def configurations(dsn: str, table: str) -> dict[int, str]:
    """The configuration hash each live agent (by pid) registered with."""
    rows = query(dsn, f"SELECT agent, config_hash FROM {table}_agents WHERE expires_at > now()")
    return {int(str(agent).split(":")[1]): str(digest) for agent, digest in rows}


def spread(dsn: str, table: str, counts: dict[int, int]) -> Optional[Leases]:
    """The leases once every task is held and each agent (pid) holds its count."""
    now = leases(dsn, table)
    held = Counter(pid for pid, _ in now.values())
    return now if len(now) == len(TASKS) and dict(held) == counts else None


def said(agent: Host, text: str) -> bool:
    """Whether the agent logged `text`; an agent that ended says no more (a failure then
    names its exit code rather than a timeout)."""
    assert agent.proc is not None
    return text in agent.stderr() or agent.proc.poll() is not None


def test_an_agent_reloads_its_configuration_on_sighup(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    agent = hosts("a", config(dsn, table))
    hcl = agent.root / "dstream.hcl"
    agent.start("agent")
    first = wait_until("the agent to take both tasks", lambda: spread(dsn, table, {agent.pid: 2}))
    digest = configurations(dsn, table)[agent.pid]

    agent.signal(signal.SIGHUP)  # nothing changed: nothing moves
    wait_until("the reload", lambda: said(agent, "no task changed"))
    assert agent.proc is not None and agent.proc.poll() is None, agent.stderr()
    assert leases(dsn, table) == first

    hcl.write_text(config(dsn, table) + 'task "broken" {\n')
    agent.signal(signal.SIGHUP)  # a configuration that does not load: the running one stays
    wait_until("the failed reload", lambda: said(agent, "reload failed"))
    assert agent.proc.poll() is None, agent.stderr()
    assert leases(dsn, table) == first
    assert configurations(dsn, table) == {agent.pid: digest}

    hcl.write_text(config(dsn, table, r2_interval=7))
    agent.signal(signal.SIGHUP)  # changed: handed over, taken again with the new one
    again = wait_until(
        "the agent to take both tasks with the new configuration",
        lambda: (
            (now := spread(dsn, table, {agent.pid: 2}))
            and all(now[t][1] > first[t][1] for t in TASKS)
            and now
        ),
    )
    assert configurations(dsn, table)[agent.pid] != digest
    wait_until("r2 to run with the new interval", lambda: said(agent, "interval_ms=7 "))
    # Its input changed, as the reload asked: resumed from its checkpoint, and said.
    assert "task r2: the input's configuration changed" in agent.stderr(), agent.stderr()
    assert "resuming from it anyway (SIGHUP reload)" in agent.stderr(), agent.stderr()
    assert agent.proc.poll() is None, agent.stderr()
    assert leases(dsn, table) == again

    agent.signal(signal.SIGTERM)  # the tasks it handed over are no failures
    assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    assert leases(dsn, table) == {}


def test_a_reload_of_every_agent_in_turn_rolls_a_change_out(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    agents = [hosts(name, config(dsn, table)) for name in ("a", "b")]
    first, second = agents
    for agent in agents:
        agent.start("agent")
    wait_until("one task on each agent", lambda: spread(dsn, table, {first.pid: 1, second.pid: 1}))
    old = configurations(dsn, table)[first.pid]

    (first.root / "dstream.hcl").write_text(config(dsn, table, r2_interval=7))
    first.signal(signal.SIGHUP)
    # The other agent runs the previous configuration: the reloaded one hands its task
    # over and waits, holding nothing, rather than divide the tasks with it.
    wait_until("the other agent to run both", lambda: spread(dsn, table, {second.pid: 2}))
    wait_until("the reloaded agent to wait", lambda: said(first, "waits to join"))
    assert first.proc is not None and first.proc.poll() is None, first.stderr()
    assert configurations(dsn, table) == {second.pid: old}

    (second.root / "dstream.hcl").write_text(config(dsn, table, r2_interval=7))
    second.signal(signal.SIGHUP)
    wait_until(
        "both agents to divide the tasks on the new configuration",
        lambda: (
            spread(dsn, table, {first.pid: 1, second.pid: 1})
            and len(set(configurations(dsn, table).values()) - {old}) == 1
            and len(configurations(dsn, table)) == 2
        ),
    )
    for agent in agents:
        agent.signal(signal.SIGTERM)
    for agent in agents:
        assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
