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


@pytest.mark.parametrize("where", ["dstream.hcl", "-c", "DSTREAM_CONFIG"])
def test_run_demo_where_there_is_a_configuration_says_where_the_demo_runs(
    ws: Workspace, where: str
) -> None:
    """`dstream run demo` runs the built-in demo only where no configuration is given; in
    a project without a task "demo" it says so and how to run it, rather than only that
    there is no such task."""
    (ws.root / "etl.hcl").write_text(CONFIG)
    args, env = ["run", "demo"], {}
    if where == "dstream.hcl":
        ws.config(CONFIG)
    elif where == "-c":
        args += ["-c", "etl.hcl"]
    else:
        env = {"DSTREAM_CONFIG": "etl.hcl"}
    done = ws.run(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert "no task named 'demo'" in done.stderr, done.stderr
    assert "the built-in demo runs only where there is no configuration" in done.stderr
    assert "cd to an empty directory" in done.stderr, done.stderr
    assert "tasks defined: orders, users" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
