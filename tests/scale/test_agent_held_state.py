"""`dstream state set/reset TASK` (and `run TASK`) refused because an agent holds the
task: the hint must say what works under agents. A SIGTERM to the holder only hands the
task to another agent; removing the task from the agents' configuration and reloading
them (SIGHUP) releases it, and then the state command works."""

from __future__ import annotations

import signal

import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import TASK, Database, Hosts, counter, held_by, project, released
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream


@pytest.mark.timeout(120)
def test_a_task_an_agent_holds_is_refused_with_advice_that_works(
    pg_server: PostgresServer, table: str, hosts: Hosts, db: Database
) -> None:
    agent = hosts("a", project(pg_server.dsn, table, counter(TASK), counter("other")))
    agent.start("agent")
    wait_until("the agent to hold the task", lambda: held_by(db, agent))
    for command in (("state", "reset", TASK), ("run", TASK)):
        refused = dstream(*command, cwd=agent.root)
        assert refused.returncode == ExitCode.FAILURE, refused.stderr
        assert "is already running" in refused.stderr, refused.stderr
        assert "Ctrl-C" not in refused.stderr, refused.stderr  # a SIGTERM hands it over
        assert "stop every `dstream agent`" in refused.stderr, refused.stderr
        assert "reload them all (SIGHUP)" in refused.stderr, refused.stderr

    # The advice: the task out of the agents' configuration, and a reload.
    (agent.root / "dstream.hcl").write_text(project(pg_server.dsn, table, counter("other")))
    agent.signal(signal.SIGHUP)
    wait_until("the task to be released", lambda: released(db))
    done = dstream("state", "reset", TASK, "--force", cwd=agent.root)
    assert done.returncode == ExitCode.OK, done.stderr
    assert db.checkpoint() is None
    agent.signal(signal.SIGTERM)
    assert agent.wait() == ExitCode.TERMINATED, agent.stderr()


@pytest.mark.timeout(60)
def test_a_task_a_run_holds_is_refused_with_a_runs_advice(
    pg_server: PostgresServer, table: str, hosts: Hosts, db: Database
) -> None:
    host = hosts("a", project(pg_server.dsn, table, counter(TASK)))
    host.start("run", TASK)
    wait_until("the run to hold the task", lambda: held_by(db, host))
    refused = dstream("state", "reset", TASK, cwd=host.root)
    assert refused.returncode == ExitCode.FAILURE, refused.stderr
    assert "Ctrl-C / SIGTERM" in refused.stderr and "agent" not in refused.stderr, refused.stderr
