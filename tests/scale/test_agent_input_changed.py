"""An agent compares a task's input with the digest stored beside its checkpoint, as
`dstream run` does, when it takes the task and before any provider starts: a changed
input fails that task (exit 2, the agent's hint) and writes nothing; `agent
--resume-changed TASK` accepts the change once and remembers the new input. A task an
agent starts with no digest stored records it, so a later `run` compares with it."""

from __future__ import annotations

import signal

import pytest

from dstream.errors import ExitCode
from dstream.runtime.retaking import ENDED_COOLDOWN
from tests.scale.cluster import TASK, Database, Host, Hosts, counter, project
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream

CHANGED = 'checkpoint_every = 10\n      tables = ["other"]\n'


def changed(host: Host) -> None:
    """The task's input reads another table from now on."""
    path = host.root / "dstream.hcl"
    text = path.read_text()
    assert "checkpoint_every = 10\n" in text
    path.write_text(text.replace("checkpoint_every = 10\n", CHANGED))


def said(agent: Host) -> str:
    return (agent.root / f"stdout.{agent.runs}").read_text() + agent.stderr()


def failed_on_agent(host: Host) -> bool:
    return f"task {TASK}: failed on agent" in host.stderr()


def lines(host: Host) -> int:
    path = host.root / f"out_{TASK}.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.timeout(180)
def test_an_agent_refuses_a_checkpoint_another_input_wrote_until_told(
    pg_server: PostgresServer, table: str, hosts: Hosts, db: Database
) -> None:
    host = hosts("a", project(pg_server.dsn, table, counter(TASK, interval=1, max_count=30)))
    done = dstream("run", TASK, cwd=host.root)
    assert done.returncode == ExitCode.OK, done.stderr
    stored, written = db.checkpoint(), lines(host)
    changed(host)
    refused = dstream("run", TASK, cwd=host.root)
    assert refused.returncode == ExitCode.USAGE, refused.stderr
    assert "configuration changed since its checkpoint was stored" in refused.stderr

    host.start("agent", "--json")
    wait_until("the task to fail on the agent", lambda: failed_on_agent(host))
    failure = next(line for line in host.stderr().splitlines() if "failed on agent" in line)
    assert "configuration changed since its checkpoint was stored" in failure, failure
    # What an agent's user does, not `run`'s flags.
    assert f"dstream state reset {TASK}" in failure, failure
    assert f"dstream agent --resume-changed {TASK}" in failure, failure
    assert "--reset-state" not in failure, failure
    host.signal(signal.SIGTERM)
    assert host.wait() == ExitCode.USAGE, said(host)
    [task] = host.summary()["tasks"]
    assert task["outcome"] == "failed" and task["exit_code"] == ExitCode.USAGE, task
    assert (db.checkpoint(), lines(host)) == (stored, written)  # nothing ran
    again = dstream("run", TASK, cwd=host.root)  # the old digest is still the stored one
    assert again.returncode == ExitCode.USAGE, again.stderr

    host.start("agent", "--resume-changed", TASK)
    wait_until("the accepted task to complete", lambda: f"task {TASK}: completed" in host.stderr())
    assert "resuming from it anyway (--resume-changed)" in host.stderr(), host.stderr()
    host.signal(signal.SIGTERM)
    assert host.wait() == ExitCode.TERMINATED, said(host)
    resumed = dstream("run", TASK, cwd=host.root)  # the new input was remembered
    assert resumed.returncode == ExitCode.OK, resumed.stderr


@pytest.mark.timeout(180)
def test_the_state_reset_an_agents_refusal_advises_starts_the_task_over(
    pg_server: PostgresServer, table: str, hosts: Hosts, db: Database
) -> None:
    host = hosts("a", project(pg_server.dsn, table, counter(TASK, interval=1, max_count=30)))
    done = dstream("run", TASK, cwd=host.root)
    assert done.returncode == ExitCode.OK, done.stderr
    changed(host)
    host.start("agent")
    wait_until("the task to fail on the agent", lambda: failed_on_agent(host))
    # While the agent runs: the failed task's lease is free during its cool-down.
    reset = dstream("state", "reset", TASK, cwd=host.root)
    assert reset.returncode == ExitCode.OK, reset.stderr
    wait_until(
        "the agent to take the task again, from the beginning",
        lambda: f"task {TASK}: completed" in host.stderr(),
        timeout=ENDED_COOLDOWN + 30,
    )
    assert "first_seq=1 " in host.stderr(), host.stderr()
    assert lines(host) == 60  # both runs' 30 envelopes: the second started over
    host.signal(signal.SIGTERM)
    assert host.wait() == ExitCode.USAGE, said(host)  # the refused run counts
    assert dstream("run", TASK, cwd=host.root).returncode == ExitCode.OK


@pytest.mark.timeout(120)
def test_an_agent_remembers_the_input_of_a_task_it_starts_with_none_stored(
    pg_server: PostgresServer, table: str, hosts: Hosts, db: Database
) -> None:
    host = hosts("a", project(pg_server.dsn, table, counter(TASK, interval=1, max_count=30)))
    host.start("agent")
    wait_until("the task to complete", lambda: f"task {TASK}: completed" in host.stderr())
    host.signal(signal.SIGTERM)
    assert host.wait() == ExitCode.TERMINATED, said(host)
    assert db.checkpoint() is not None
    changed(host)
    refused = dstream("run", TASK, cwd=host.root)
    assert refused.returncode == ExitCode.USAGE, refused.stderr
    assert "configuration changed since its checkpoint was stored" in refused.stderr


def test_resume_changed_names_a_task_of_the_configuration(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    host = hosts("a", project(pg_server.dsn, table, counter(TASK)))
    done = dstream("agent", "--resume-changed", "typo", cwd=host.root)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "typo" in done.stderr and "Traceback" not in done.stderr, done.stderr
