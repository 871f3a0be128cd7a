"""`dstream_checkpoint_lag_seconds` of a task that ended (completed, failed, removed by
a reload) while others run on stays where it was when it ended (docs/operations.md,
"Metrics"): it grew on, and an alert on the lag fired for a task that had finished
well."""

from __future__ import annotations

import signal
import time

import pytest

from tests.runtime.conftest import metrics_address, scrape
from tests.services import wait_until
from tests.workspace import Workspace

TASKS = """
state { path = "state" }
task "long" {
  input {
    provider_path = "dstream-counter"
    config {
      interval         = 20
      max_count        = 0
      checkpoint_every = 5
    }
  }
  output { provider_path = "dstream-null" }
}
task "short" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count        = 10
      checkpoint_every = 5
    }
  }
  output { provider_path = "dstream-null" }
}
"""


def _gauge(text: str, name: str, task: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{task="{task}"}} '):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} of {task} not in:\n{text}")


@pytest.mark.timeout(120)
def test_the_lag_of_a_task_that_completed_stops_growing(ws: Workspace) -> None:
    ws.config(TASKS)
    proc = ws.popen("run", "--all", "-q", "--metrics-addr", "127.0.0.1:0")
    try:
        addr = metrics_address(proc)
        wait_until(
            "short to complete",
            lambda: _gauge(scrape(addr)[1], "dstream_up", "short") == 0,
            tick=0.1,
        )
        ended = _gauge(scrape(addr)[1], "dstream_checkpoint_lag_seconds", "short")
        time.sleep(1.5)
        text = scrape(addr)[1]
        assert _gauge(text, "dstream_up", "long") == 1, text
        assert _gauge(text, "dstream_checkpoint_lag_seconds", "short") == ended, text
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
