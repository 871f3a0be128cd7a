"""`dstream destroy` asks first, the way `terraform destroy` does."""

from __future__ import annotations

import subprocess

from tests.lifecycle.test_commands import calls, setup
from tests.workspace import Workspace

# The output's plan: a queue that destroy would remove (without a change, nothing is asked).
A_QUEUE = """results = { plan = {
  status = "Success"
  changes = [{ action = "delete", type = "queue", name = "t_events" }]
} }"""


def test_destroy_shows_the_plan_and_stops_unless_yes(ws: Workspace) -> None:
    setup(ws, output_config=A_QUEUE)
    done = ws.on_a_terminal("destroy", "t", answer=b"no")
    assert done.returncode == 1, done.screen  # like terraform: a cancelled destroy failed
    assert "Only 'yes' will be accepted" in done.screen
    assert "- queue.t_events" in done.screen
    assert "Destroy cancelled: nothing was removed." in done.screen
    assert calls(ws) == [["output", "plan", True], ["input", "plan", True]]  # nothing destroyed


def test_destroy_on_yes(ws: Workspace) -> None:
    setup(ws, output_config=A_QUEUE)
    done = ws.on_a_terminal("destroy", "t", answer=b"yes")
    assert done.returncode == 0, done.screen
    assert calls(ws)[-2:] == [["output", "destroy", False], ["input", "destroy", False]]


def test_destroy_without_a_terminal_needs_auto_approve(ws: Workspace) -> None:
    """Something to destroy, no terminal to ask on: refused after the preview plan (it is
    read only), with nothing destroyed."""
    setup(ws, output_config=A_QUEUE)
    done = ws.run("destroy", "t", stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "there is no terminal to ask on" in done.stderr
    assert "--auto-approve" in done.stderr
    assert "--json" not in done.stderr  # the reason is the missing terminal, not --json
    assert calls(ws) == [["output", "plan", True], ["input", "plan", True]]  # nothing destroyed


def test_destroy_without_a_terminal_and_nothing_to_destroy_does_not_ask(ws: Workspace) -> None:
    """A "No changes" plan and no checkpoint to drop: nothing to confirm, so no terminal
    is needed either, as on a terminal (and as `terraform destroy`): exit 0."""
    setup(ws, input_config="features = []", output_config="features = []")
    done = ws.run("destroy", "t", stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "no terminal" not in done.stderr
    assert '✅ Infrastructure for task "t" destroyed successfully' in done.stdout + done.stderr


def test_destroy_without_a_terminal_asks_for_a_checkpoint_to_drop(ws: Workspace) -> None:
    """No infrastructure, but --drop-state would forget a stored checkpoint: something to
    confirm, so without a terminal it is refused and the checkpoint kept."""
    setup(ws, input_config="features = []", output_config="features = []")
    assert ws.run("state", "set", "t", '{"seq": 3}').returncode == 0
    done = ws.run("destroy", "t", "--drop-state", stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "there is no terminal to ask on" in done.stderr
    code, doc, err = ws.run_json("state", "show", "t")
    assert code == 0 and doc["checkpoint"] == {"seq": 3}, err


def test_destroy_with_nothing_to_destroy_does_not_ask(ws: Workspace) -> None:
    """Neither provider manages infrastructure and no checkpoint is to be dropped: the
    plan says "No changes", and, as `terraform destroy` then does, nothing is asked: exit
    0 (an answer other than yes was exit 1, "Destroy cancelled")."""
    setup(ws, input_config="features = []", output_config="features = []")
    done = ws.on_a_terminal("destroy", "t", answer=b"no")
    assert done.returncode == 0, done.screen
    assert "Neither provider manages infrastructure." in done.screen
    assert "Only 'yes' will be accepted" not in done.screen
    assert "cancelled" not in done.screen
    assert '✅ Infrastructure for task "t" destroyed successfully' in done.screen


def test_destroy_asks_when_only_a_checkpoint_would_be_dropped(ws: Workspace) -> None:
    """No infrastructure, but --drop-state would forget a stored checkpoint: that is
    something to destroy, so it is asked for, and `no` keeps it."""
    setup(ws, input_config="features = []", output_config="features = []")
    assert ws.run("state", "set", "t", '{"seq": 3}').returncode == 0
    done = ws.on_a_terminal("destroy", "t", "--drop-state", answer=b"no")
    assert done.returncode == 1, done.screen
    assert "Destroy cancelled: nothing was removed." in done.screen
    code, doc, err = ws.run_json("state", "show", "t")
    assert code == 0 and doc["checkpoint"] == {"seq": 3}, err
