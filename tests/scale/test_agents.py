"""`dstream agent` on three "hosts" dividing twelve tasks through their leases:
balanced, sticky, bounded moves when an agent leaves and comes back, an agent whose
configuration differs refused (it waits, moving nothing), and an agent paused past its
registration: resumed, it hands its tasks over (not failures: a later SIGTERM ends it
with 143) and joins again; finding agents of another configuration instead, it stops
its tasks and ends with the refusal rather than dividing the tasks with them."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import psycopg

from dstream.errors import ExitCode
from tests.scale.cluster import Host, counter, project
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream

TASKS = [f"t{n:02d}" for n in range(1, 13)]
Assignment = dict[str, tuple[str, int]]  # task -> (owner, epoch)


# The leases' TTL: what this test shows is which tasks move, not how a starved agent
# loses its leases (test_failover.py, test_stall.py). Twelve tasks' providers starting
# at once beside other test workers on two cores have starved an agent past the default
# 6 s (4 s trusted unrenewed): a task moved that had no need to.
TTL = 9.0


def config(dsn: str, table: str, commit_interval: str = "500ms") -> str:
    """The agents' configuration; another `commit_interval` is another configuration
    with the same inputs (a changed input would refuse the stored checkpoints instead:
    test_agent_input_changed.py)."""
    tasks = (counter(name, interval=50, commit_interval=commit_interval) for name in TASKS)
    return project(dsn, table, *tasks, ttl=TTL)


def assignment(dsn: str, table: str) -> Assignment:
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            rows = conn.execute(
                f"SELECT task, owner, epoch FROM {table}_lease WHERE expires_at > now()"
            ).fetchall()
        except psycopg.errors.UndefinedTable:  # no agent got that far yet
            return {}
    return {task: (owner, int(epoch)) for task, owner, epoch in rows}


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])


def spread(dsn: str, table: str, agents: list[Host], each: int) -> Optional[Assignment]:
    """The assignment once every task is held and each agent holds `each`, else None."""
    now = assignment(dsn, table)
    counts = Counter(pid_of(owner) for owner, _ in now.values())
    wanted = {agent.pid: each for agent in agents}
    return now if len(now) == len(TASKS) and dict(counts) == wanted else None


def settle(
    what: str, dsn: str, table: str, agents: list[Host], each: int, hosts: list[Host]
) -> Assignment:
    """`spread` once true; on a timeout the message also holds the leases and the end of
    every host's log, so a failure says what the agents were doing (their directories
    do not outlive pytest's last three runs)."""
    try:
        found = wait_until(what, lambda: spread(dsn, table, agents, each))
    except AssertionError as exc:
        logs = "".join(
            f"\n--- {host.name} (pid {host.pid}):\n{host.stderr()[-3000:]}"
            for host in hosts
            if host.proc is not None
        )
        raise AssertionError(f"{exc}; leases: {assignment(dsn, table)}{logs}") from None
    return found


def moved(before: Assignment, after: Assignment) -> set[str]:
    return {task for task in TASKS if before.get(task) != after.get(task)}


def test_three_agents_divide_twelve_tasks_and_move_only_what_they_must(
    pg_server: PostgresServer, table: str, tmp_path: Path
) -> None:
    began = int(time.time())  # whole seconds: `since` is shown to the second
    dsn = pg_server.dsn
    text = config(dsn, table)
    agents = [Host(tmp_path, name, text) for name in ("a", "b", "c")]
    odd = Host(tmp_path, "d", config(dsn, table, commit_interval="400ms"))
    hosts = [*agents, odd]
    try:
        for agent in agents:
            agent.start("agent")
        first = settle("4 tasks on each agent", dsn, table, agents, 4, hosts)

        leaving = agents[2]
        leaving.signal(signal.SIGKILL)
        leaving.wait()
        stay = agents[:2]
        second = settle("6 tasks on each agent left", dsn, table, stay, 6, hosts)
        theirs = {task for task, (owner, _) in first.items() if pid_of(owner) == leaving.pid}
        assert moved(first, second) == theirs  # its four moved, the other eight did not

        leaving.start("agent")  # it comes back (a new process)
        third = settle("4 tasks on each agent again", dsn, table, agents, 4, hosts)
        assert len(moved(second, third)) <= 4
        status = dstream("status", "t01", cwd=agents[0].root)
        shown = re.search(
            rf"t01: run by {re.escape(third['t01'][0])} since (\S+) \(lease epoch", status.stdout
        )
        assert shown, status
        since = datetime.strptime(shown[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert began <= since.timestamp() <= time.time(), (shown[1], began)

        odd.start("agent")  # refused: it waits, holding nothing (test_agent_rollout.py)
        wait_until("the odd agent to wait", lambda: "waits to join" in odd.stderr())
        assert "live agents run another one" in odd.stderr()
        assert spread(dsn, table, agents, 4) == third  # the refused agent moved nothing
        odd.signal(signal.SIGTERM)
        assert odd.wait() == ExitCode.TERMINATED, odd.stderr()

        # One pauses past its registration's TTL: the others count it out and take its
        # tasks. Resumed, it stops its tasks, joins again and gets its share back.
        paused, others = agents[2], agents[:2]
        paused.signal(signal.SIGSTOP)
        out = settle("its tasks to move to the others", dsn, table, others, 6, hosts)
        assert moved(third, out) == {t for t, (o, _) in third.items() if pid_of(o) == paused.pid}
        paused.signal(signal.SIGCONT)
        back = settle("it to take its share again", dsn, table, agents, 4, hosts)
        assert len(moved(out, back)) <= 4
        # The tasks it stopped on losing its membership were handed over, as at a
        # rebalance: not failures. So a SIGTERM now ends it with 143, not 1.
        paused.signal(signal.SIGTERM)
        assert paused.wait() == ExitCode.TERMINATED, paused.stderr()
        said = [line for line in paused.stderr().splitlines() if "registration expired" in line]
        assert said and "taken over" in said[0], paused.stderr()
        paused.start("agent")
        third = settle("4 tasks on each agent again", dsn, table, agents, 4, hosts)

        # It pauses again; meanwhile the others are replaced by agents of another
        # configuration (a roll-out).
        paused.signal(signal.SIGSTOP)
        settle("its tasks to move to the others", dsn, table, others, 6, hosts)
        for agent in others:
            agent.signal(signal.SIGTERM)
        for agent in others:
            assert agent.wait() == ExitCode.TERMINATED, agent.stderr()  # drained, 143
        odd.start("agent")
        taken = settle("the new agent to take every task", dsn, table, [odd], 12, hosts)
        # Resumed, it lost its membership: it stops its tasks and may not join again.
        paused.signal(signal.SIGCONT)
        assert paused.wait() == 1, paused.stderr()
        assert "joining again was refused" in paused.stderr(), paused.stderr()
        assert "live agents run another one" in paused.stderr(), paused.stderr()
        assert assignment(dsn, table) == taken  # it took nothing back

        odd.signal(signal.SIGTERM)
        assert odd.wait() == ExitCode.TERMINATED, odd.stderr()
        assert assignment(dsn, table) == {}  # every lease released at once, none expired
    finally:
        for host in hosts:
            host.stop()
