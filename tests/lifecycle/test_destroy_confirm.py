"""`dstream destroy` asks first, the way `terraform destroy` does."""

from __future__ import annotations

import subprocess

from tests.lifecycle.test_commands import calls, setup
from tests.workspace import Workspace


def test_destroy_shows_the_plan_and_stops_unless_yes(ws: Workspace) -> None:
    setup(ws)
    done = ws.on_a_terminal("destroy", "t", answer=b"no")
    assert done.returncode == 1, done.screen  # like terraform: a cancelled destroy failed
    assert "Only 'yes' will be accepted" in done.screen
    assert "Destroy cancelled: nothing was removed." in done.screen
    assert calls(ws) == [["output", "plan", True], ["input", "plan", True]]  # nothing destroyed


def test_destroy_on_yes(ws: Workspace) -> None:
    setup(ws)
    done = ws.on_a_terminal("destroy", "t", answer=b"yes")
    assert done.returncode == 0, done.screen
    assert calls(ws)[-2:] == [["output", "destroy", False], ["input", "destroy", False]]


def test_destroy_without_a_terminal_needs_auto_approve(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("destroy", "t", stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "there is no terminal to ask on" in done.stderr
    assert "--auto-approve" in done.stderr
    assert "--json" not in done.stderr  # the reason is the missing terminal, not --json
    assert not (ws.root / "calls.jsonl").exists()
