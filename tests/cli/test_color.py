"""Colour: the change lines of init/plan/destroy are coloured on a terminal, unless
NO_COLOR is set to anything but the empty string (no-color.org) or TERM is `dumb`
(docs/cli.md). Run on a real pseudo-terminal, with the environment each case names."""

from __future__ import annotations

from typing import Optional

import pytest

from tests.cli import scenarios
from tests.workspace import Workspace

GREEN = "\033[32m"  # a change to create, as lifecycle_view paints it
RESET = "\033[0m"


def plan_on_a_terminal(ws: Workspace, env: dict[str, Optional[str]]) -> str:
    """What a terminal shows of `dstream plan t`, with `env` over the test's environment
    (None: the variable unset)."""
    shown = ws.on_a_terminal("plan", "t", env=env)
    assert shown.returncode == 0, shown.screen
    return shown.screen


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("env", "colored"),
    [
        ({"NO_COLOR": None, "TERM": "xterm-256color"}, True),
        ({"NO_COLOR": "", "TERM": "xterm-256color"}, True),  # empty: not set (no-color.org)
        ({"NO_COLOR": "1", "TERM": "xterm-256color"}, False),
        ({"NO_COLOR": "false", "TERM": "xterm-256color"}, False),  # any value at all
        ({"NO_COLOR": None, "TERM": "dumb"}, False),
    ],
    ids=["a terminal", "NO_COLOR empty", "NO_COLOR=1", "NO_COLOR=false", "TERM=dumb"],
)
def test_plan_colours_its_changes_unless_told_not_to(
    ws: Workspace, env: dict[str, Optional[str]], colored: bool
) -> None:
    scenarios.lifecycle(ws)
    screen = plan_on_a_terminal(ws, env)
    assert "+ queue.output-queue" in screen, screen
    assert (GREEN in screen) is colored, screen
    assert (RESET in screen) is colored, screen


def test_plan_into_a_pipe_is_never_coloured(ws: Workspace) -> None:
    scenarios.lifecycle(ws)
    done = ws.run("plan", "t", env={"NO_COLOR": "", "TERM": "xterm-256color"})
    assert done.returncode == 0, done.stderr
    assert "+ queue.output-queue" in done.stdout
    assert "\033[" not in done.stdout
