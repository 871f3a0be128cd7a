"""Which task an output's line came from: a run of several tasks names it on every line
it shows on a terminal (above the live display, or on a stdout that is a terminal), as
its log lines name theirs (`a/input: `): `a/output: LINE`. A stdout that is not a
terminal carries the lines as the outputs wrote them (data for a program), and a run of
one task never names it."""

from __future__ import annotations

import re

import pytest

from tests.workspace import Workspace, without_escapes

SEQ_LINE = re.compile(r"(?:\b(\w+)/output: )?\[seq (\d)\] ")


def shown_lines(text: str) -> list[tuple[str, str]]:
    """(task named, seq) of each console line shown ("" when no task is named)."""
    return [(m.group(1) or "", m.group(2)) for m in SEQ_LINE.finditer(without_escapes(text))]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flags", [(), ("--quiet",)], ids=["live display", "quiet"])
def test_several_tasks_on_a_terminal_name_the_task_of_each_line(
    ws: Workspace, flags: tuple[str, ...]
) -> None:
    ws.console_tasks(("a", "b"))
    shown = ws.on_a_terminal("run", "a", "b", *flags)
    assert shown.returncode == 0, shown.screen
    lines = shown_lines(shown.screen)
    assert sorted(lines) == [(t, s) for t in "ab" for s in "123"], shown.screen


@pytest.mark.timeout(120)
def test_several_tasks_into_a_pipe_write_the_lines_as_the_outputs_did(ws: Workspace) -> None:
    ws.console_tasks(("a", "b"))
    shown = ws.on_a_terminal("run", "a", "b", pipe_stdout=True)
    assert shown.returncode == 0, shown.screen
    lines = shown_lines(shown.stdout.decode())
    assert sorted(lines) == sorted([("", s) for s in "123"] * 2), shown.stdout


@pytest.mark.timeout(120)
def test_one_task_on_a_terminal_names_no_task(ws: Workspace) -> None:
    ws.console_tasks(("a",))
    shown = ws.on_a_terminal("run", "a")
    assert shown.returncode == 0, shown.screen
    assert sorted(shown_lines(shown.screen)) == [("", s) for s in "123"], shown.screen
