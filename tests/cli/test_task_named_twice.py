"""A task named twice on the command line is named once, as Terraform's `-target` (a
set): `run t t` runs t once (it never locks itself out), `--reset-state` forgets its
checkpoint once, the lifecycle commands ask its providers once, `runs t t` lists its
runs once."""

from __future__ import annotations

import orjson
import pytest

from tests.cli import scenarios
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(120)


def test_run_runs_a_task_named_twice_once(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("run", "t", "t")
    assert done.returncode == 0, done.stderr
    assert "already running" not in done.stderr
    assert done.stderr.count('✅ Task "t" executed successfully') == 1
    assert [r["data"]["value"] for r in ws.json_lines("out.jsonl")] == list(range(1, 11))

    again = ws.run("run", "t", "t", "--reset-state", "--json")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("task t: stored checkpoint forgotten (--reset-state)") == 1
    assert [task["task"] for task in orjson.loads(again.stdout_bytes)["tasks"]] == ["t"]
    assert len(ws.json_lines("out.jsonl")) == 20


def test_the_lifecycle_commands_ask_about_a_task_named_twice_once(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    for command in ("plan", "status"):
        done = ws.run(command, "t", "t", "--json")
        assert done.returncode == 0, done.stderr
        tasks = orjson.loads(done.stdout_bytes)["tasks"]
        assert [task["task"] for task in tasks] == ["t"], command


def test_runs_lists_the_runs_of_a_task_named_twice_once(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    done = ws.run("runs", "t", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert [run["task"] for run in orjson.loads(done.stdout_bytes)["runs"]] == ["t"]
