"""With --json stdout is the one document, so the outputs' lines go aside, to stderr,
among the providers' log lines (`b/input: ...`). In a run of several tasks each is named
by its task there as a terminal names it (`a/output: LINE`), on a terminal or not: it
is a line of the log, not data. A run of one task names none, as its log lines do; with
--log-format json the records carry `task` instead (tests/cli/test_json_log_lines.py)."""

from __future__ import annotations

import json
import re

import pytest

from tests.workspace import Workspace, without_escapes

# A console line of the counter, `[TABLE seq N] ...`: its table names its task.
SEQ_LINE = re.compile(r"^(?:(\w+)/output: )?\[(\w+)_table seq (\d)\] ", re.MULTILINE)


def aside_lines(stderr: str) -> list[tuple[str, str, str]]:
    """(task named or "", seq, task whose table the line shows) of each console line."""
    found = SEQ_LINE.finditer(without_escapes(stderr).replace("\r", ""))
    return sorted((m.group(1) or "", m.group(3), m.group(2)) for m in found)


@pytest.mark.timeout(120)
def test_several_tasks_name_the_task_of_each_line_aside(ws: Workspace) -> None:
    ws.console_tasks(("a", "b"), tables=True)
    done = ws.run("run", "a", "b", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output_lines"] == 6, done.stdout
    assert aside_lines(done.stderr) == [(t, s, t) for t in "ab" for s in "123"], done.stderr


@pytest.mark.timeout(120)
def test_several_tasks_name_the_task_aside_on_a_terminal_too(ws: Workspace) -> None:
    ws.console_tasks(("a", "b"), tables=True)
    shown = ws.on_a_terminal("run", "a", "b", "--json", pipe_stdout=True)
    assert shown.returncode == 0, shown.screen
    assert json.loads(shown.stdout)["output_lines"] == 6, shown.stdout
    assert aside_lines(shown.screen) == [(t, s, t) for t in "ab" for s in "123"], shown.screen


@pytest.mark.timeout(120)
def test_one_task_names_no_task_aside(ws: Workspace) -> None:
    ws.console_tasks(("a",), tables=True)
    done = ws.run("run", "a", "--json")
    assert done.returncode == 0, done.stderr
    assert aside_lines(done.stderr) == [("", s, "a") for s in "123"], done.stderr
