"""`dstream state` under --log-format json (-f json): every line it writes on stderr is
one JSON record, and one about a task carries it as the `task` field (its `msg` does not
name it, as dstream's other records about a task, logs.py); text lines keep their
words. Real processes, the file state store."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workspace import Workspace, log_records

CONFIG = """
state { path = "state" }
task "t" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
task "u" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def records_of(ws: Workspace, *args: str, code: int = 0) -> list[dict[str, Any]]:
    done = ws.run("-f", "json", "state", *args)
    assert done.returncode == code, done.stderr
    found = log_records(done.stderr)  # each line a record, or it fails naming the line
    assert found, done.stderr
    return found


def about(found: list[dict[str, Any]], task: str) -> None:
    """Every record is about `task`, says so in its field, and not in its words."""
    for record in found:
        assert record.get("task") == task, found
        assert "'t'" not in record["msg"] and not record["msg"].startswith("task "), found


@pytest.fixture
def ws(ws: Workspace) -> Workspace:
    ws.config(CONFIG)
    return ws


def test_show_of_a_task_without_a_checkpoint(ws: Workspace) -> None:
    about(records_of(ws, "show", "t"), "t")
    assert "has no stored checkpoint" in ws.run("state", "show", "t").stderr  # text: words


def test_show_set_and_reset_of_a_stored_checkpoint(ws: Workspace) -> None:
    assert ws.run("state", "set", "t", '{"seq": 1}').returncode == 0
    about(records_of(ws, "show", "t"), "t")
    about(records_of(ws, "set", "t", '{"seq": 2}'), "t")  # the previous checkpoint
    assert "task 't': checkpoint #2, stored " in ws.run("state", "show", "t").stderr  # text
    about(records_of(ws, "reset", "t"), "t")


@pytest.mark.parametrize("action", [["set", "t", "7"], ["reset", "t"]])
def test_an_unreadable_record_replaced(ws: Workspace, action: list[str]) -> None:
    assert ws.run("state", "set", "t", '{"seq": 1}').returncode == 0
    (ws.root / "state" / "t.json").write_text("{torn")
    found = records_of(ws, *action)
    about(found, "t")
    # a record lost is a warning (list calls it an error), not a note
    assert [r["level"] for r in found if "unreadable record" in r["msg"]] == ["warning"], found


def test_list_names_the_task_of_an_unreadable_record(ws: Workspace) -> None:
    assert ws.run("state", "set", "u", '{"seq": 1}').returncode == 0
    (ws.root / "state" / "u.json").write_text("{torn")
    found = records_of(ws, "list", code=1)  # a record it could not read: not done
    unreadable = [r for r in found if "u.json" in r["msg"]]
    assert [(r["level"], r["task"]) for r in unreadable] == [("error", "u")], found
    assert "hint" in unreadable[0] and all("hint:" not in r["msg"] for r in found), found
