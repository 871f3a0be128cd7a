"""What an agent says of its tasks' runs: a run that fails is said at once, with its
hint, and `dstream_up` is 0 for the task while it does not run there; one that completes
is said too, with when the agent takes it again. Several runs of one task (a failed one,
then one a SIGTERM stopped) are runs of one task in its last line, which names the task
that failed and never mentions --fail-fast (an agent has none)."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from dstream.runtime.retaking import ENDED_COOLDOWN, cooldown
from tests.runtime.conftest import scrape
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
  input {
    provider_path = "dstream-counter"
    config {
      interval         = 20
      max_count        = 0
      checkpoint_every = 10
    }
  }
  output {
    provider_path = "./fails-once"
    config { path = "out_once.jsonl" }
  }
}
"""


BAD = """\
task "bad" {
  input {
    provider_path = "dstream-counter"
    config {
      interval  = 20
      max_count = 0
    }
  }
  output { provider_path = "./exit3" }
}
"""
EXIT3 = "#!/bin/sh\necho 'the sink refused the credentials' >&2\nexit 3\n"


@pytest.mark.timeout(120)
def test_an_agent_says_at_once_that_a_task_failed_or_completed(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    short = counter("short", interval=5, max_count=20)
    agent = hosts("a", project(pg_server.dsn, table, BAD, short, counter("steady")))
    executable(agent.root / "exit3", EXIT3)
    agent.start("agent", "--metrics-addr", "127.0.0.1:0")
    wait_until("the failure to be said", lambda: "task bad: failed on agent" in agent.stderr())
    wait_until("the completion to be said", lambda: "task short: completed" in agent.stderr())
    found = re.search(r"metrics on http://(\S+)/metrics", agent.stderr())
    assert found, agent.stderr()
    failed = next(line for line in agent.stderr().splitlines() if "task bad: failed" in line)
    assert failed.startswith("dstream: [error] "), failed
    assert "exited with code 3" in failed and "hint=" in failed, failed  # what, what to do
    assert f"again in {ENDED_COOLDOWN:.0f}s" in failed, failed  # when it is tried again
    done = next(line for line in agent.stderr().splitlines() if "task short: completed" in line)
    assert f"again in {ENDED_COOLDOWN:.0f}s" in done, done
    metrics = scrape(found[1])[1]
    assert 'dstream_up{task="bad"} 0.0' in metrics, metrics
    assert 'dstream_up{task="short"} 0.0' in metrics, metrics
    assert 'dstream_up{task="steady"} 1.0' in metrics, metrics
    # The agent itself works: a probe must not restart it (and move its other tasks).
    assert scrape(found[1], "/healthz")[0] == 200
    agent.signal(signal.SIGTERM)
    assert agent.wait() == ExitCode.FAILURE, said(agent)


def test_the_cool_down_after_failures_in_a_row_doubles_up_to_five_minutes() -> None:
    assert [cooldown(n) for n in range(7)] == [30, 30, 60, 120, 240, 300, 300]


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


ORIGINAL_OUTPUT = """\
task "legacy" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = 0
      max_count        = 5
      checkpoint_every = 2
    }}
  }}
  output {{
    provider_path = "{console}"
    config {{ outputFormat = "simple" }}
  }}
}}
"""


@pytest.mark.timeout(120)
def test_an_agent_does_not_promise_a_resume_a_task_cannot_make(
    pg_server: PostgresServer, table: str, hosts: Hosts
) -> None:
    """An output of the original's kind acknowledges no checkpoint (dstream withholds
    them): the agent said a completed run would be taken again "resuming from its stored
    checkpoint", and each time it sent everything again."""
    from tests.legacy import zoo

    task = ORIGINAL_OUTPUT.format(console=zoo("console_output"))
    agent = hosts("a", project(pg_server.dsn, table, task))
    agent.start("agent")
    wait_until("the completion to be said", lambda: "task legacy: completed" in agent.stderr())
    done = next(line for line in agent.stderr().splitlines() if "task legacy: completed" in line)
    assert "resuming from its stored checkpoint" not in done, done
    assert "cannot resume" in done and "sends everything again" in done, done
    agent.signal(signal.SIGTERM)
    agent.wait()
