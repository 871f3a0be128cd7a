"""`dstream runs [TASK]`: past runs from the state store, with start, end, envelopes,
result and exit code (issue 19)."""

from __future__ import annotations

import os
import signal

import orjson
import pytest

from tests.cli import scenarios
from tests.state.backends import FILE_STATE, BackendWorkspace, backend_ws
from tests.workspace import Workspace

__all__ = ["backend_ws"]  # a fixture


@pytest.fixture
def ws(backend_ws: BackendWorkspace) -> BackendWorkspace:
    """Every test here runs once per state backend: files, and a real PostgreSQL."""
    return backend_ws


def test_runs_lists_each_run_with_its_result_and_exit_code(ws: Workspace) -> None:
    scenarios.counter_file(ws, count=0, interval=5)
    proc = ws.popen("run", "t")
    scenarios.wait_for(proc, ws, "out.jsonl")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    scenarios.counter_file(ws)  # the same task, now ending at 10
    assert ws.run("run", "t", "--reset-state").returncode == 0

    done = ws.run("runs", "t", "--json")
    assert done.returncode == 0, done.stderr
    runs = orjson.loads(done.stdout_bytes)["runs"]
    assert [(r["result"], r["exit_code"]) for r in runs] == [("interrupted", 143), ("completed", 0)]
    assert runs[1]["envelopes"] == 10 and runs[0]["envelopes"] >= 1
    assert all(r["started_at"] <= r["ended_at"] for r in runs)

    table = ws.run("runs").stdout.splitlines()
    assert table[0].split() == ["TASK", "STARTED", "(UTC)", "ENDED", "(UTC)", "ENVELOPES",
                                "RESULT", "EXIT", "BY"]  # fmt: skip
    assert table[2].split()[-4:] == ["10", "completed", "0", runs[1]["by"]]


def test_a_failed_run_is_recorded(ws: Workspace) -> None:
    scenarios.failing_input(ws)
    assert ws.run("run", "t").returncode == 1
    runs = orjson.loads(ws.run("runs", "--json").stdout_bytes)["runs"]
    assert [(r["task"], r["result"], r["exit_code"], r["envelopes"]) for r in runs] == [
        ("t", "failed", 1, 0)
    ]


def test_no_runs_yet(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = ws.run("runs")
    assert done.returncode == 0 and done.stdout == "no runs recorded\n"
    assert ws.run("runs", "nope").returncode == 2  # an unknown task


def test_each_run_says_by_whom(ws: BackendWorkspace) -> None:
    """Which process ran it: on the file state host:pid; on the postgres state the
    holder of its lease, host:pid:ticks@boot/pidns:random (when it started: state/base.py
    this_process_since)."""
    scenarios.counter_file(ws)
    proc = ws.popen("run", "t")
    assert proc.wait(timeout=60) == 0
    runs = orjson.loads(ws.run("runs", "--json").stdout_bytes)["runs"]
    by = runs[0]["by"]
    this_run = f"{os.uname().nodename}:{proc.pid}"
    if ws.state_block == FILE_STATE:
        assert by == this_run, runs
    else:
        host, pid, since, random = by.split(":")
        assert f"{host}:{pid}" == this_run and "@" in since and random, runs
    table = ws.run("runs").stdout.splitlines()
    assert table[0].split()[-1] == "BY" and table[1].split()[-1] == runs[0]["by"]


def test_a_task_gone_from_the_file_keeps_its_history(ws: Workspace) -> None:
    """A reload removed it, or the file was edited: its past runs are still in the store
    (the record of its removal among them), and `runs NAME` shows them; it said "no task
    named" (an unknown name with no history still does)."""
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    text = ws.read_text("dstream.hcl").replace('task "t"', 'task "u"')
    ws.config(text.replace(getattr(ws, "state_block", FILE_STATE), FILE_STATE))
    done = ws.run("runs", "t", "--json")
    assert done.returncode == 0, done.stderr
    runs = orjson.loads(done.stdout_bytes)["runs"]
    assert [(r["task"], r["result"]) for r in runs] == [("t", "completed")]
    assert ws.run("runs", "nope").returncode == 2
