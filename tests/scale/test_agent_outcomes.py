"""What an agent says of its tasks' runs: several runs of one task (a failed one, then
one a SIGTERM stopped) are runs of one task in its last line, which names the task that
failed and never mentions --fail-fast (an agent has none)."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from dstream.runtime.agent import ENDED_COOLDOWN
from tests.scale.cluster import Host, Hosts, counter, project
from tests.services import PostgresServer, wait_until
from tests.workspace import executable

# An output that fails on its first start only (it leaves a mark), then is dstream-file.
FAILS_ONCE = """#!/bin/sh
if [ ! -e failed-once ]; then
  touch failed-once
  echo 'the sink is not ready yet' >&2
  exit 1
fi
exec {file} "$@"
"""

ONCE = """\
task "once" {
  commit_interval = "200ms"
  stop_grace = "1s"
  input  { provider_path = "dstream-counter"  config { interval = 20  max_count = 0  checkpoint_every = 10 } }
  output { provider_path = "./fails-once"     config { path = "out_once.jsonl" } }
}
"""  # noqa: E501


def fails_once(directory: Path) -> None:
    found = shutil.which("dstream-file")
    assert found, "dstream-file is not on PATH (pip install -e . puts it there)"
    executable(directory / "fails-once", FAILS_ONCE.format(file=found))


def said(agent: Host) -> str:
    return (agent.root / f"stdout.{agent.runs}").read_text() + agent.stderr()


@pytest.mark.timeout(ENDED_COOLDOWN + 90)
def test_an_agents_last_line_counts_tasks_not_runs_and_names_the_failed_one(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    agent = hosts("a", project(pg_server.dsn, table, ONCE, counter("steady")))
    fails_once(agent.root)
    agent.start("agent")
    # Its second run (after the cool-down) streams: then a SIGTERM interrupts it.
    wait_until(
        "the task's second run to stream",
        lambda: (
            (agent.root / "out_once.jsonl").exists()
            and (agent.root / "out_once.jsonl").stat().st_size > 0
        ),
        timeout=ENDED_COOLDOWN + 30,
    )
    agent.signal(signal.SIGTERM)
    assert agent.wait() == ExitCode.FAILURE, said(agent)  # the failed run wins over 143
    last = said(agent).strip().splitlines()[-1]
    assert "--fail-fast" not in last, last
    assert last == "1 of 2 tasks failed: once in 1 of its 2 runs (exit code 1); its error is above"
