"""`show` and `state show` given no task act on the only task of a one-task file, as
run, plan, status and destroy do (docs/cli.md); with several tasks, or no configuration
to say which, the error names them and how to choose."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

ONE_TASK = """
state { path = "state" }
task "orders" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 1 }
  }
  output { provider_path = "dstream-null" }
}
"""

SECOND_TASK = """
task "payments" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 1 }
  }
  output { provider_path = "dstream-null" }
}
"""


def test_show_without_a_name_shows_the_only_task(ws: Workspace) -> None:
    ws.config(ONE_TASK)
    code, doc, err = ws.run_json("show")
    assert code == 0, err
    named = ws.run_json("show", "orders")[1]
    assert doc == named and doc["input"]["provider_path"] == "dstream-counter"


def test_state_show_without_a_name_shows_the_only_task(ws: Workspace) -> None:
    ws.config(ONE_TASK)
    assert ws.run("state", "set", "orders", '{"seq": 7}').returncode == 0
    code, doc, err = ws.run_json("state", "show")
    assert code == 0, err
    assert doc["task"] == "orders" and doc["checkpoint"] == {"seq": 7}
    human = ws.run("state", "show")
    assert human.returncode == 0, human.stderr
    assert human.stdout == '{"seq": 7}\n' and "task 'orders'" in human.stderr


@pytest.mark.parametrize("command", [["show"], ["state", "show"]])
def test_without_a_name_several_tasks_are_a_usage_error_naming_them(
    ws: Workspace, command: list[str]
) -> None:
    ws.config(ONE_TASK + SECOND_TASK)
    done = ws.run(*command)
    assert done.returncode == 2, done.stderr
    assert "error: no task given, and the configuration defines 2 (known: orders, payments)" in (
        done.stderr
    )
    assert "hint: name one (`dstream list` shows them)" in done.stderr
    assert "--all" not in done.stderr  # neither takes it
    assert "Traceback" not in done.stderr


def test_state_show_without_a_name_or_a_configuration_says_to_name_the_task(
    ws: Workspace,
) -> None:
    done = ws.run("state", "show", env={"DSTREAM_STATE_DIR": str(ws.root / "state")})
    assert done.returncode == 2, done.stderr
    assert "error: no task given, and no configuration here to take the only task of" in (
        done.stderr
    )
    assert "dstream state show TASK" in done.stderr
