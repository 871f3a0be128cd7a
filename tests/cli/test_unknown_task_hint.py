"""An unknown task name is a usage error whose hint names the task meant (as `state`'s
does) and every task the configuration defines, those that cannot be evaluated too (a
task that needs an unset environment variable is still a name one may mean)."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

CONFIG = """
task "orders" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
task "users" {
  input {
    provider_path = "dstream-counter"
    config { interval = env("DSTREAM_TEST_SURELY_UNSET") }
  }
  output { provider_path = "dstream-null" }
}
"""


@pytest.mark.parametrize("command", ["show", "run", "plan", "status", "runs"])
def test_the_hint_names_the_task_meant_and_every_task(ws: Workspace, command: str) -> None:
    ws.config(CONFIG)
    done = ws.run(command, "ordres")
    assert done.returncode == 2, done.stderr
    assert "no task named 'ordres'" in done.stderr, done.stderr
    assert "did you mean 'orders'?" in done.stderr, done.stderr
    assert "tasks defined: orders, users" in done.stderr, done.stderr
