"""`dstream destroy` asks first, the way `terraform destroy` does."""

from __future__ import annotations

import os
import pty
import subprocess

from tests.lifecycle.test_commands import calls, setup
from tests.workspace import Workspace


def _destroy_on_a_terminal(ws: Workspace, answer: bytes) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(  # not ws.popen: a person's terminal, without the suite's NO_COLOR
        ws.command("destroy", "t"),
        cwd=ws.root,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    screen = b""
    answered = False
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's last writer is gone
            break
        if not chunk:
            break
        screen += chunk
        if not answered and b"Enter a value:" in screen:
            os.write(master, answer + b"\n")
            answered = True
    os.close(master)
    return proc.wait(timeout=30), screen.decode("utf-8", "replace")


def test_destroy_shows_the_plan_and_stops_unless_yes(ws: Workspace) -> None:
    setup(ws)
    code, screen = _destroy_on_a_terminal(ws, b"no")
    assert code == 1, screen  # like terraform: a cancelled destroy did not do its job
    assert "Only 'yes' will be accepted" in screen
    assert "Destroy cancelled: nothing was removed." in screen
    assert calls(ws) == [["output", "plan", True], ["input", "plan", True]]  # nothing destroyed


def test_destroy_on_yes(ws: Workspace) -> None:
    setup(ws)
    code, screen = _destroy_on_a_terminal(ws, b"yes")
    assert code == 0, screen
    assert calls(ws)[-2:] == [["output", "destroy", False], ["input", "destroy", False]]


def test_destroy_without_a_terminal_needs_auto_approve(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("destroy", "t", stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "there is no terminal to ask on" in done.stderr
    assert "--auto-approve" in done.stderr
    assert not os.path.exists(ws.root / "calls.jsonl")
