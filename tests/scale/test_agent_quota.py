"""Every live agent ends with floor or ceil of tasks / agents, as a Kafka Connect worker
does: an agent that joins is never left idle while another holds more than its share.
Aiming every agent at ceil(tasks / agents) left one with nothing whenever the others'
ceilings covered every task (5 tasks on 4 agents: 2, 1, 2, 0 for good)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Optional

import pytest

from tests.scale.cluster import Host, Hosts, counter, project
from tests.scale.test_agents import Assignment, assignment, pid_of
from tests.services import PostgresServer, wait_until

# Bounds the wait for the tasks to settle: a few renewal intervals (1 s) and drains.
SETTLE = 30.0


def _shares(dsn: str, table: str, agents: list[Host], tasks: int) -> Optional[list[int]]:
    """How many tasks each agent holds, in the agents' order, once every task is held."""
    now = assignment(dsn, table)
    counts = Counter(pid_of(owner) for owner, _ in now.values())
    return [counts[agent.pid] for agent in agents] if len(now) == tasks else None


def settle_shares(dsn: str, table: str, agents: list[Host], tasks: int, wanted: list[int]) -> None:
    """Wait until the agents hold `wanted` tasks between them (in any order); on a
    timeout, say what they hold."""
    try:
        wait_until(
            f"the agents to hold {wanted} tasks",
            lambda: sorted(_shares(dsn, table, agents, tasks) or []) == sorted(wanted),
            timeout=SETTLE,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; they hold {_shares(dsn, table, agents, tasks)}") from None


def start_in_turn(
    dsn: str, table: str, agents: list[Host], tasks: int, steps: list[list[int]]
) -> None:
    """Start the agents one after the other, each once it joined and the agents started
    so far hold `steps[n]` between them."""
    for n, agent in enumerate(agents):
        agent.start("agent")
        wait_until(f"agent {agent.name} to join", lambda a=agent: "joined with" in a.stderr())
        settle_shares(dsn, table, agents[: n + 1], tasks, steps[n])


def _stable(dsn: str, table: str, seconds: float) -> Assignment:
    """The assignment, once unchanged for `seconds` (several renewal intervals)."""
    before = assignment(dsn, table)
    time.sleep(seconds)
    assert assignment(dsn, table) == before, "a task moved once the agents had settled"
    return before


@pytest.mark.timeout(180)
def test_an_agent_that_joins_gets_its_share_of_five_tasks(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    text = project(dsn, table, *(counter(f"t{n}") for n in range(1, 6)))
    agents = [hosts(name, text) for name in ("a", "c", "e", "d")]
    start_in_turn(dsn, table, agents[:3], 5, [[5], [3, 2], [2, 2, 1]])
    before = _stable(dsn, table, 3)
    agents[3].start("agent")  # d joins: one of the agents holding two releases one to it
    settle_shares(dsn, table, agents, 5, [2, 1, 1, 1])
    after = _stable(dsn, table, 3)
    assert sum(before[task] != after[task] for task in before) == 1, (before, after)


@pytest.mark.timeout(180)
def test_three_agents_divide_four_tasks_two_one_one(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    text = project(dsn, table, *(counter(f"f{n}") for n in range(1, 5)))
    agents = [hosts(name, text) for name in ("a", "b", "c")]
    start_in_turn(dsn, table, agents, 4, [[4], [2, 2], [2, 1, 1]])
    _stable(dsn, table, 3)
