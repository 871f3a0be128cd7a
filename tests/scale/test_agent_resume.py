"""Whether an agent's task stopped before it streamed resumes is what its attempt read of
the store at its start: with nothing stored it says it cannot resume (`resumable`
false), as `dstream run` says of its tasks (runtime/runner.py, run_task). The agent's
task said it resumed, with nothing stored."""

from __future__ import annotations

import signal
import sys

import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import TASK, Hosts, project
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream, executable

# An input that never answers its handshake: the task is stopped while it starts. It
# says it started (the file `started`), so the stop comes while it waits for it.
SILENT_INPUT = f"""#!{sys.executable}
import time
open("started", "w").close()
time.sleep(300)
"""

SILENT_TASK = f"""\
task "{TASK}" {{
  input  {{ provider_path = "./input.py" }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "out.jsonl" }}
  }}
}}
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stored", [False, True], ids=["nothing stored", "a checkpoint stored"])
def test_an_agents_task_stopped_while_its_input_starts_resumes_iff_a_checkpoint_is_stored(
    pg_server: PostgresServer, table: str, hosts: Hosts, stored: bool
) -> None:
    agent = hosts("a", project(pg_server.dsn, table, SILENT_TASK))
    executable(agent.root / "input.py", SILENT_INPUT)
    if stored:
        done = dstream("state", "set", TASK, '{"seq": 7}', cwd=agent.root)
        assert done.returncode == 0, done.stderr
    agent.start("agent", "--json")
    wait_until("the task's input to start", lambda: (agent.root / "started").exists())
    agent.signal(signal.SIGINT)
    assert agent.wait() == ExitCode.INTERRUPTED, agent.stderr()
    [task] = agent.summary()["tasks"]
    assert (task["task"], task["outcome"]) == (TASK, "interrupted"), task
    assert task["resumable"] is stored, task
