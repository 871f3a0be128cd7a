"""`dstream destroy` without --auto-approve refuses to go on when it cannot ask, and says
the true reason: with --json stdout is one document, so it does not ask even on a
terminal. Nothing is destroyed. (Without a terminal and without --json, the reason is
that there is nowhere to ask: tests/lifecycle/test_destroy_confirm.py.)"""

from __future__ import annotations

import subprocess

import orjson

from tests.lifecycle.test_commands import calls, setup
from tests.workspace import Workspace, json_document


def test_destroy_json_on_a_terminal_says_json_is_why_it_does_not_ask(ws: Workspace) -> None:
    setup(ws)
    # stdin and stderr on a terminal that would answer `yes`, stdout piped
    done = ws.on_a_terminal("destroy", "t", "--json", answer=b"yes", pipe_stdout=True)
    assert done.returncode == 2, done.screen
    doc = orjson.loads(done.stdout)
    assert doc["ok"] is False, doc
    assert "terminal" not in doc["message"], doc  # there is one
    assert "--json" in doc["message"], doc
    assert "--auto-approve" in doc["hint"], doc
    assert not (ws.root / "calls.jsonl").exists(), calls(ws)  # nothing asked, nothing removed


def test_destroy_json_without_a_terminal_gives_json_as_the_reason(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("destroy", "t", "--json", stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    doc = json_document(done)
    assert "--json" in doc["message"] and "--auto-approve" in doc["hint"], doc
    assert not (ws.root / "calls.jsonl").exists()
