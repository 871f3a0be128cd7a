"""`dstream agent -f json`: every line it writes on stderr is a JSON record, as a `run`'s
(tests/cli/test_json_log_lines.py): its stop notice (the signal a field), its lines
about a task it runs (that task a field, not words of the message) and each task's
summary (its entry of the --json document as `summary`)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import counter, project
from tests.services import PostgresServer, table_for, wait_until
from tests.workspace import Workspace, log_records


@pytest.mark.timeout(120)
def test_an_agent_stopped_by_sigterm_writes_only_json_records(
    ws: Workspace, tmp_path: Path, pg_server: PostgresServer, request: pytest.FixtureRequest
) -> None:
    ws.config(project(pg_server.dsn, table_for(request, "agentjson_"), counter("t")))
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    err_path = ws.root / "err.log"
    with err_path.open("wb") as err:
        proc = ws.popen("agent", "-f", "json", stderr=err)
        try:
            wait_until("the task to stream", lambda: ws.read_text("out_t.jsonl") != "")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    stderr = err_path.read_text()
    assert proc.returncode == ExitCode.TERMINATED, stderr
    found = log_records(stderr)
    stops = [r for r in found if r.get("signal") == "SIGTERM" and "role" not in r]
    assert len(stops) == 1, stderr
    stop = stops[0]
    assert stop["msg"] == "stopping: draining the agent's tasks (send SIGTERM again to force)"
    about_t = [r for r in found if r.get("task") == "t" and "role" not in r]
    assert any(r["msg"].startswith("running on agent ") for r in about_t), found
    (summary,) = [r for r in found if "summary" in r]
    assert summary["task"] == "t" and summary["summary"]["outcome"] == "interrupted", summary
    assert summary["msg"].startswith("interrupted by SIGTERM after "), summary
    assert not [r for r in found if re.match(r"(agent \S+: )?task t\b", r["msg"])], found


def test_an_agent_on_the_file_state_is_a_configuration_error(ws: Workspace) -> None:
    """As `deploy kubernetes` on the same file: exit 2, at the state block."""
    ws.config(
        """
        task "t" {
          input { provider_path = "dstream-counter" }
          output { provider_path = "dstream-null" }
        }
        state { path = "state" }
        """
    )
    done = ws.run("agent")
    assert done.returncode == 2, done.stderr
    assert "dstream.hcl:6:" in done.stderr, done.stderr
    assert "dstream agent needs the postgres state backend (leases)" in done.stderr
