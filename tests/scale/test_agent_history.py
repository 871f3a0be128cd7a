"""What `dstream agent` records in the history (`dstream runs`): one row per holding of a
task's lease — from the agent starting the task to its end, its hand-over or the
agent's stop — with the fields `dstream run` records (runtime/history.py). A task run
to its end is `completed`; one handed over to another agent (released at a rebalance,
or its lease lost while the agent was paused) is `handed over` (exit 0: not a failure,
as the agent counts it) on the giving agent, and the taker records its own run after
it; a task a signal stopped is `interrupted` with the signal's code. The
record keeps the run path's rules: on a database that went silent no record waits, and
a second signal cuts one in flight (the run may be missing: a warning says so)."""

from __future__ import annotations

import re
import signal
import time
from typing import Any, Callable

import psycopg
import pytest

from dstream.errors import ExitCode
from tests.relay import FreezableProxy
from tests.scale.cluster import (
    Database,
    Hosts,
    config,
    counter,
    deliver,
    ends_while_silent,
    held_by,
    project,
    released,
    streaming,
)
from tests.services import PostgresServer, wait_until
from tests.workspace import task_runs

# The text of the history's append (state/history.py, RunTable.add): the proxy freezes
# on it, so the record, not a checkpoint write, is what waits on the silence.
RUN_INSERT = b'_runs" (task, run) VALUES'
# The bytes of a checkpoint write's fence (state/lease.py, LeaseTable.fence).
FENCE = b"SET renewed_at = renewed_at"
# The default lease: a call on the silent database is cut after 5 s, so a task's last
# checkpoint write is still waiting when the stop comes.
TTL = 15.0
RENEW = 3.0


def _owners(dsn: str, table: str) -> dict[str, int]:
    """Each task whose lease is live, and the pid of the agent holding it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f"{table}_lease",)).fetchone() == (None,):
            return {}
        rows = conn.execute(
            f"SELECT task, owner FROM {table}_lease WHERE expires_at > now()"
        ).fetchall()
    return {str(task): int(str(owner).split(":")[1]) for task, owner in rows}


def _results(runs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(run["result"], run["exit_code"]) for run in runs]


@pytest.mark.timeout(120)
def test_an_agent_records_a_task_it_ran_to_its_end(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    began = time.time()
    agent = hosts("a", project(pg_server.dsn, table, counter("once", interval=2, max_count=50)))
    once = database(pg_server.dsn, "once")
    agent.start("agent", "--json")
    # Its run ended: it gives the lease up once the run is recorded.
    wait_until("the task to end and its lease to go", lambda: released(once))
    agent.signal(signal.SIGTERM)
    assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    runs = task_runs(agent.root, "once")
    assert _results(runs) == [("completed", 0)], runs
    assert runs[0]["envelopes"] == 50 and runs[0]["attempts"] == 1, runs
    assert began <= runs[0]["started_at"] <= runs[0]["ended_at"] <= time.time(), runs
    assert "history" not in agent.stderr(), agent.stderr()


@pytest.mark.timeout(120)
def test_a_task_handed_over_is_recorded_by_the_agent_giving_it_and_the_one_taking_it(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    text = project(dsn, table, counter("h1"), counter("h2"))
    first, second = hosts("first", text), hosts("second", text)
    first.start("agent", "--json")
    wait_until(
        "the first agent to take both tasks",
        lambda: _owners(dsn, table) == {"h1": first.pid, "h2": first.pid},
    )
    second.start("agent", "--json")  # the target is one each: the first releases one

    def moved() -> list[str]:
        owners = _owners(dsn, table)
        theirs = [task for task, pid in owners.items() if pid == second.pid]
        return theirs if len(owners) == 2 and len(theirs) == 1 else []

    (task,) = wait_until("one task to move to the second agent", moved)
    kept = "h2" if task == "h1" else "h1"
    # Its lease taken is not its run begun: a stop between the two releases the lease
    # and runs nothing (agent.py, _balance), so nothing is recorded.
    wait_until("the second agent to start the task's providers", second.provider_pids)
    for agent in (first, second):
        agent.signal(signal.SIGTERM)
    for agent in (first, second):
        assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    runs = task_runs(first.root, task)
    # The giver's holding, then the taker's, stopped by the SIGTERM.
    assert _results(runs) == [("handed over", 0), ("interrupted", 143)], runs
    assert runs[0]["ended_at"] <= runs[1]["started_at"], runs
    # by whom: each agent's name (its lease's holder, host:pid:ticks@boot/pidns:random)
    assert [run["by"].split(":")[1] for run in runs] == [str(first.pid), str(second.pid)]
    assert _results(task_runs(first.root, kept)) == [("interrupted", 143)]
    said = re.search(
        rf"task {task}: stopped \(released\) on agent (\S+): handed over, not failed",
        first.stderr(),
    )
    assert said and said[1].split(":")[1] == str(first.pid), first.stderr()  # host:pid:...


@pytest.mark.timeout(120)
def test_an_agent_paused_past_its_lease_records_the_task_it_lost_as_handed_over(
    pg_server: PostgresServer, table: str, database: Callable[..., Database], hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    text = project(dsn, table, counter("p"))
    paused, other = hosts("paused", text), hosts("other", text)
    lease = database(dsn, "p")
    paused.start("agent", "--json")
    wait_until("the first agent to stream", lambda: held_by(lease, paused) and streaming(lease, 0))
    other.start("agent", "--json")
    paused.signal(signal.SIGSTOP)
    wait_until("the other agent to take the task over", lambda: held_by(lease, other))
    time.sleep(2)  # paused on while the other runs it
    paused.signal(signal.SIGCONT)
    # Resumed, it stops its task (its lease and registration lost: recorded, unfenced),
    # then joins again.
    wait_until("the paused agent to join again", lambda: "joined again" in paused.stderr())
    for agent in (paused, other):
        agent.signal(signal.SIGTERM)
    for agent in (paused, other):
        assert agent.wait() == ExitCode.TERMINATED, agent.stderr()
    runs = task_runs(other.root, "p")
    assert _results(runs) == [("handed over", 0), ("interrupted", 143)], runs
    # The paused run ended when it lost its lease (its local deadline: it forwarded
    # nothing after it), not when it resumed to find it lost: never two holders at once.
    assert runs[0]["ended_at"] <= runs[1]["started_at"], runs
    assert "handed over, not failed" in paused.stderr(), paused.stderr()
    assert "history" not in paused.stderr(), paused.stderr()


@pytest.mark.timeout(120)
def test_a_stopped_agent_records_every_task_it_stopped(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    dsn = pg_server.dsn
    agent = hosts("a", project(dsn, table, counter("s1"), counter("s2")))
    agent.start("agent", "--json")
    wait_until("the agent to take both tasks", lambda: len(_owners(dsn, table)) == 2)
    # Their leases taken is not their runs begun (a stop between releases, records none)
    wait_until("both tasks' providers", lambda: len(agent.provider_pids()) == 4)
    agent.signal(signal.SIGINT)
    assert agent.wait() == ExitCode.INTERRUPTED, agent.stderr()
    for task in ("s1", "s2"):
        runs = task_runs(agent.root, task)
        assert _results(runs) == [("interrupted", 130)], (task, runs)
        assert runs[0]["started_at"] <= runs[0]["ended_at"], runs
    assert "history" not in agent.stderr(), agent.stderr()


@pytest.mark.timeout(180)
def test_an_agent_stopped_on_a_silent_database_records_no_history(
    table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> None:
    agent = hosts("agent", config(proxy.dsn(), table, TTL, RENEW))
    agent.start("agent", "--json")
    wait_until("the agent to stream", lambda: held_by(db, agent) and streaming(db, 0))
    proxy.freeze(on=FENCE)
    wait_until("a checkpoint write to wait on the proxy", proxy.holding)
    assert ends_while_silent(agent, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    err = agent.stderr()
    assert "could not record the run" not in err, err  # no new session was tried
    assert "not recorded in the task's history" in err, err


@pytest.mark.timeout(180)
def test_a_second_signal_cuts_the_record_of_an_agents_task(
    table: str, db: Database, proxy: FreezableProxy, hosts: Hosts
) -> None:
    agent = hosts("agent", config(proxy.dsn(), table, TTL, RENEW))
    agent.start("agent", "--json")
    wait_until("the agent to stream", lambda: held_by(db, agent) and streaming(db, 0))
    proxy.freeze(on=RUN_INSERT)
    deliver(agent, signal.SIGTERM)
    wait_until("the history's record to wait on the proxy", proxy.holding)
    assert ends_while_silent(agent, proxy, (signal.SIGTERM,)) == ExitCode.TERMINATED
    said = agent.stderr()
    missing = "task t: the run may be missing from the history: the stop was forced "
    assert missing + "while it was being recorded" in said, said
