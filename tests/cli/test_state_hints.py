"""`dstream state`: a hint names only what the action takes, and `set` refuses a null
checkpoint (handed back as `"state": null` it would tell the input to start from the
beginning; docs/protocol.md), pointing to `state reset`, which says what it means."""

from __future__ import annotations

import orjson
import pytest

from tests.workspace import Workspace

TWO_TASKS = """
state { path = "state" }
task "a" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
task "b" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def test_show_of_an_unknown_task_suggests_nothing_show_refuses(ws: Workspace) -> None:
    ws.config(TWO_TASKS)
    done = ws.run("state", "show", "zz")
    assert done.returncode == 2, done.stderr
    assert "no task named 'zz'" in done.stderr
    assert "tasks defined: a, b" in done.stderr
    assert "--force" not in done.stderr  # `state show` takes no --force
    refused = ws.run("state", "show", "zz", "--force")
    assert refused.returncode == 2 and "unrecognized arguments: --force" in refused.stderr


@pytest.mark.parametrize("action", [["set", "zz", "1"], ["reset", "zz"]])
def test_set_and_reset_of_an_unknown_task_offer_force_which_they_take(
    ws: Workspace, action: list[str]
) -> None:
    ws.config(TWO_TASKS)
    done = ws.run("state", *action)
    assert done.returncode == 2, done.stderr
    assert "pass --force to use this name anyway" in done.stderr
    assert ws.run("state", *action, "--force").returncode == 0


@pytest.mark.parametrize("text", ["null", " null\n", "-"])
def test_set_refuses_a_null_checkpoint_and_points_to_reset(ws: Workspace, text: str) -> None:
    ws.config(TWO_TASKS)
    assert ws.run("state", "set", "a", '{"seq": 5}').returncode == 0
    done = ws.run("state", "set", "a", text, input=b"null\n" if text == "-" else b"")
    assert done.returncode == 2, done.stderr
    assert "null" in done.stderr
    assert "dstream state reset a" in done.stderr  # what a null checkpoint would mean
    kept = ws.run("state", "show", "a")
    assert orjson.loads(kept.stdout) == {"seq": 5}, kept  # the stored one is untouched
    code, doc, _ = ws.run_json("state", "set", "a", "null")
    assert code == 2 and doc["ok"] is False and "state reset" in doc["hint"], doc


def test_a_null_inside_a_checkpoint_is_a_value_like_any_other(ws: Workspace) -> None:
    ws.config(TWO_TASKS)
    done = ws.run("state", "set", "a", '{"lsn": null}')
    assert done.returncode == 0, done.stderr
    listed = orjson.loads(ws.run("state", "list", "--json").stdout)
    assert [t["checkpoint"] for t in listed["tasks"]] == [{"lsn": None}]


@pytest.mark.parametrize("args", [["set", "orders", '{"seq":100}'], ["reset", "orders"]])
def test_set_and_reset_without_a_configuration_say_the_name_is_checked_against_none(
    ws: Workspace, args: list[str]
) -> None:
    """In an empty directory `state set orders` succeeded without a word: an operator in
    the wrong directory is told where the state went and that nothing checked the name."""
    done = ws.run("state", *args)
    assert done.returncode == 0, done.stderr
    assert "no configuration here (dstream.hcl, -c or DSTREAM_CONFIG)" in done.stderr
    assert "the state is file " in done.stderr
