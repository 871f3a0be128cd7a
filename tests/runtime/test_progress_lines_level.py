"""`--progress-interval`'s lines are asked for by a flag of their own: no log level
hides them (docs/operations.md, "Logs"), as none hides the rest of the command's own
output. `-l warning` hid them, so a service run with quiet logs went silent for days."""

from __future__ import annotations

import signal

import pytest

from tests.services import wait_until
from tests.workspace import Workspace, log_records

TASK = """
task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      interval  = 20
      max_count = 0
    }
  }
  output { provider_path = "dstream-null" }
}
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("level", ["warning", "error"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_progress_lines_show_at_any_log_level(ws: Workspace, level: str, fmt: str) -> None:
    ws.config(TASK)
    errors = ws.root / "stderr.log"
    with open(errors, "wb") as sink:
        proc = ws.popen(
            "run", "t", "-l", level, "-f", fmt, "--progress-interval", "0.2", stderr=sink
        )
        try:
            wait_until("progress lines", lambda: errors.read_text().count("running, ") >= 2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    text = errors.read_text()
    if fmt == "json":
        progress = [r for r in log_records(text) if r["msg"].startswith("running, ")]
        assert progress and all(r["task"] == "t" for r in progress), text
    else:
        assert "dstream: task t: running, " in text, text
