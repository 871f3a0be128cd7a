"""Agents that join at about the same time (back from a database outage that expired
their registrations, or waiting agents of a new configuration once the last old one is
gone) each take their share: an agent waits one tick after any join, not only its
first, before it takes anything, so it counts the others. Before, the first to join
again took every task, counting itself alone, and released most of them a tick later.

And what a rolling replacement moves, as docs/scaling.md states it: each task moves at
most once per old agent stopped, plus once to the new agent started last."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import Host, Hosts, counter, project
from tests.scale.test_agent_quota import settle_shares, start_in_turn
from tests.scale.test_agents import assignment, pid_of
from tests.services import PostgresServer, running, start_postgres, wait_until

TASKS = [f"t{n}" for n in range(1, 6)]
# Seconds PostgreSQL stays down: past the agents' registrations (lease_ttl 6 s).
OUTAGE = 15.0


def config(dsn: str, table: str, commit_interval: str = "200ms") -> str:
    """Another `commit_interval` is another configuration with the same inputs."""
    tasks = (counter(name, commit_interval=commit_interval) for name in TASKS)
    return project(dsn, table, *tasks)


class Watch:
    """Samples the leases in the background: the most tasks each agent (pid) held at
    once."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.most: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            try:
                now = assignment(self.dsn, self.table)
            except psycopg.Error:
                continue  # the database is down: the next sample sees it back
            with self._lock:
                for pid, held in Counter(pid_of(owner) for owner, _ in now.values()).items():
                    self.most[pid] = max(self.most[pid], held)

    def reset(self) -> None:
        """Forget the most held so far."""
        with self._lock:
            self.most.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def watching(dsn: str, table: str) -> Iterator[Watch]:
    watch = Watch(dsn, table)
    try:
        yield watch
    finally:
        watch.close()


def epochs(dsn: str, table: str) -> dict[str, int]:
    """The epoch of every task's lease, live or not: each take of the task adds one."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(f"SELECT task, epoch FROM {table}_lease").fetchall()
    return {str(task): int(epoch) for task, epoch in rows}


def _logs(agents: list[Host]) -> str:
    return "".join(f"\n--- {agent.name}:\n{agent.stderr()[-3000:]}" for agent in agents)


@pytest.mark.timeout(240)
def test_agents_back_from_a_database_outage_take_their_shares_at_once(
    table: str, tmp_path: Path
) -> None:
    with running("PostgreSQL", start_postgres) as server:
        dsn = server.dsn
        text = config(dsn, table)
        agents = [Host(tmp_path, name, text) for name in ("a", "c", "e")]
        try:
            start_in_turn(dsn, table, agents, len(TASKS), [[5], [3, 2], [2, 2, 1]])
            with watching(dsn, table) as watch:
                server.halt()
                time.sleep(OUTAGE)
                watch.reset()
                server.serve()
                wait_until(
                    "every agent to join again",
                    lambda: all("joined again" in a.stderr() for a in agents),
                )
                settle_shares(dsn, table, agents, len(TASKS), [2, 2, 1])
            most = {agent.name: watch.most[agent.pid] for agent in agents}
            # None held more than its share (2) on its way back.
            assert max(most.values()) <= 2, f"{most}{_logs(agents)}"
            for agent in agents:
                agent.signal(signal.SIGTERM)
            for agent in agents:
                assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
        finally:
            for agent in agents:
                agent.stop()


@pytest.mark.timeout(240)
def test_a_rolling_replacement_moves_each_task_at_most_once_per_old_agent_and_once_more(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    old = [hosts(name, config(dsn, table)) for name in ("a", "b", "c")]
    new = [hosts(f"{name}2", config(dsn, table, "300ms")) for name in ("a", "b", "c")]
    start_in_turn(dsn, table, old, len(TASKS), [[5], [3, 2], [2, 2, 1]])
    before = epochs(dsn, table)
    with watching(dsn, table) as watch:
        # One at a time, as a StatefulSet does, the next once the old agents left took
        # every task back (the most moves) and the new agent waits (it is ready).
        for n, (leaving, coming) in enumerate(zip(old, new)):
            leaving.signal(signal.SIGTERM)
            assert leaving.wait() == ExitCode.TERMINATED, leaving.stderr()
            coming.start("agent")
            if n < len(old) - 1:  # the last one finds no old agent left: it joins
                wait_until("it to wait", lambda a=coming: "waits to join" in a.stderr())
                settle_shares(dsn, table, old[n + 1 :], len(TASKS), [[3, 2], [5]][n])
        settle_shares(dsn, table, new, len(TASKS), [2, 2, 1])
        most = {agent.name: watch.most[agent.pid] for agent in new}
    after = epochs(dsn, table)
    takes = {task: after[task] - before[task] for task in TASKS}
    print(f"\nrolling replacement: takes per task {takes}; most held by a new agent {most}")
    # The first new agents to join count each other: none took more than its share of
    # the two (3), to release it a tick later.
    assert max(most.values()) <= 3, f"{most}{_logs(new)}"
    # Once per old agent stopped (to an old one left, or to a new one after the last),
    # plus once to the new agent started last (it joined after the others took theirs).
    assert max(takes.values()) <= len(old) + 1, f"{takes}{_logs([*old, *new])}"
