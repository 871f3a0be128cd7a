"""A run whose pump cannot be built after both providers started (issue 21, point 5):
the providers it started are stopped and reaped, in-process, where a long-lived
dstream (restarts, the agent) would otherwise keep them running. Real processes."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from dstream.config.loader import load_project
from dstream.errors import DstreamError
from dstream.runtime.monitor import TaskMonitor
from dstream.runtime.pipeline import RunContext, RunHooks, Stop, TaskRun
from dstream.state import open_store
from tests.workspace import Workspace

# A provider that answers the handshake, then waits (it would for 300 s if left alone).
WAITING = """
read -r command
echo '{"status":"ready"}'
exec sleep 300
"""


def test_providers_are_stopped_when_the_pump_cannot_be_built(ws: Workspace) -> None:
    ws.script("input.sh", WAITING)
    ws.script("output.sh", WAITING)
    config = ws.config(
        """
        state { path = "state" }
        task "t" {
          invalid_frames   = "dead_letter"
          dead_letter_path = "blocker/dead.jsonl"
          input  { provider_path = "./input.sh" }
          output { provider_path = "./output.sh" }
        }
        """
    )
    project = load_project(str(config))
    # after the load checked it: a file now stands where the dead-letter directory goes
    (ws.root / "blocker").write_text("")
    task = project.tasks["t"]
    with open_store(project.state, project.base_dir) as store:
        run = TaskRun(RunContext(project, task, store, Stop(), RunHooks(), TaskMonitor("t")))
        try:
            with pytest.raises(DstreamError, match="cannot create the dead-letter directory"):
                run.run(None)
            assert run.input is not None and run.output is not None
            # reaped: exited and waited for, nothing left running
            assert run.input.poll() is not None
            assert run.output.poll() is not None
        finally:
            for proc in (run.input, run.output):
                if proc is not None and proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.popen.pid, signal.SIGKILL)
                    proc.wait(5)
