"""Rolling a changed configuration out to agents, as a StatefulSet's RollingUpdate does
(`kubectl apply`): a new agent started while agents of the old configuration live is
refused to join, and waits, holding no task and answering /healthz (so the rollout
goes on to the next pod), instead of exiting 1 (a crash loop that stalled the rollout
for good); once the old agents are gone it joins and takes the tasks."""

from __future__ import annotations

import re
import signal
import time

import pytest

from dstream.errors import ExitCode
from tests.runtime.conftest import scrape
from tests.scale.cluster import Host, Hosts, counter, project
from tests.scale.test_agents import assignment, pid_of
from tests.services import PostgresServer, wait_until

TASKS = ("r1", "r2", "r3")


def config(dsn: str, table: str, commit_interval: str) -> str:
    """Another `commit_interval` is another configuration with the same inputs: a new
    agent's changed input would refuse the stored checkpoints (test_agent_input_changed.py)."""
    tasks = (counter(name, commit_interval=commit_interval) for name in TASKS)
    return project(dsn, table, *tasks)


def held_by(dsn: str, table: str, agents: list[Host]) -> bool:
    """Every task is held, and by `agents` only."""
    now = assignment(dsn, table)
    pids = {agent.pid for agent in agents}
    return len(now) == len(TASKS) and all(pid_of(owner) in pids for owner, _ in now.values())


@pytest.mark.timeout(150)
def test_a_new_agent_waits_for_the_old_ones_instead_of_exiting(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    old = [hosts(name, config(dsn, table, "200ms")) for name in ("a", "b")]
    for agent in old:
        agent.start("agent")
    wait_until("the old agents to hold every task", lambda: held_by(dsn, table, old))

    new = hosts("c", config(dsn, table, "300ms"))  # a changed configuration
    new.start("agent", "--metrics-addr", "127.0.0.1:0")
    wait_until("the new agent to be refused", lambda: "waits to join" in new.stderr())
    found = re.search(r"metrics on http://(\S+)/metrics", new.stderr())
    assert found, new.stderr()
    time.sleep(3)  # several renewal intervals: it keeps waiting, it does not exit
    assert new.proc is not None and new.proc.poll() is None, new.stderr()
    assert held_by(dsn, table, old)  # it took nothing
    assert scrape(found[1], "/healthz")[0] == 200  # alive: the rollout goes on
    assert new.stderr().count("waits to join") == 1, new.stderr()  # said once

    for agent in old:  # the rollout replaces them
        agent.signal(signal.SIGTERM)
        assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    wait_until("the new agent to take every task", lambda: held_by(dsn, table, [new]))
    assert "joined with configuration" in new.stderr(), new.stderr()
    new.signal(signal.SIGTERM)
    assert new.wait() == ExitCode.TERMINATED, new.stderr()
