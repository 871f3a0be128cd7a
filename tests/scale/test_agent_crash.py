"""A bug in an agent's task thread (an exception that is not a DstreamError) reaches the
CLI's error boundary, as one in a `dstream run` task's thread does: exit 70 naming a
crash report, no traceback on stderr. It was taken for a task left behind by a forced
stop: the traceback went to stderr, the history said the run was interrupted, and the
agent went on, taking the task again.

No known input crashes an agent, so the bug is injected as tests/hostile/test_boundary.py
injects one: a sitecustomize.py on PYTHONPATH replaces the agent's `run_task`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import TASK, counter, project
from tests.services import PostgresServer, wait_until
from tests.workspace import dstream_argv, environ, task_runs

INJECT = """
import dstream.runtime.agent as agent

def broken(*args, **kwargs):
    raise RuntimeError("injected bug")

agent.run_task = broken
"""


@pytest.mark.timeout(120)
def test_a_bug_in_an_agents_task_thread_reaches_the_boundary(
    pg_server: PostgresServer, table: str, tmp_path: Path
) -> None:
    root = tmp_path / "agent"
    root.mkdir()
    (root / "dstream.hcl").write_text(project(pg_server.dsn, table, counter(TASK)))
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(INJECT)
    reports = tmp_path / "state-home"
    env = environ({"PYTHONPATH": str(inject), "XDG_STATE_HOME": str(reports)})
    with (
        open(tmp_path / "stdout", "wb") as out,
        open(tmp_path / "stderr", "wb") as err,
    ):
        proc = subprocess.Popen(dstream_argv("agent", "--json"), cwd=root, env=env,
                                stdout=out, stderr=err)  # fmt: skip
    try:
        # It ends of its own (the fix), or it records its task's run and goes on (the bug).
        wait_until("the agent to end, or its task's run to be recorded",
                   lambda: proc.poll() is not None or bool(task_runs(root, TASK)))  # fmt: skip
    finally:
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait(60)
    stderr = (tmp_path / "stderr").read_text()
    assert "Traceback" not in stderr, stderr
    assert task_runs(root, TASK) == [], stderr  # not a run left behind: a crash records nothing
    assert code == ExitCode.INTERNAL, stderr
    [said] = [line for line in stderr.splitlines() if "internal error" in line]
    assert str(reports / "dstream") in said, said
    report = next((reports / "dstream").glob("crash-*.txt")).read_text()
    assert "RuntimeError: injected bug" in report, report
