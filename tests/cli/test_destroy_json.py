"""`dstream destroy` without --auto-approve refuses to go on when it cannot ask, and says
the true reason: with --json stdout is one document, so it does not ask even on a
terminal; without a terminal there is nowhere to ask. Nothing is destroyed either way."""

from __future__ import annotations

import os
import pty
import subprocess

import orjson

from tests.lifecycle.test_commands import calls, setup
from tests.workspace import Workspace


def _on_a_terminal(ws: Workspace, *args: str) -> tuple[int, bytes, str]:
    """`dstream ARGS` with stdin and stderr on a terminal, stdout piped: its exit code,
    stdout and what the terminal showed. The terminal answers `yes` if asked."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ws.command(*args), cwd=ws.root, stdin=slave, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's last writer is gone
            break
        if not chunk:
            break
        screen += chunk
        if b"Enter a value:" in screen:
            os.write(master, b"yes\n")
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read()
    return proc.wait(timeout=30), out, screen.decode("utf-8", "replace")


def test_destroy_json_on_a_terminal_says_json_is_why_it_does_not_ask(ws: Workspace) -> None:
    setup(ws)
    code, out, screen = _on_a_terminal(ws, "destroy", "t", "--json")
    assert code == 2, screen
    doc = orjson.loads(out)
    assert doc["ok"] is False, doc
    assert "terminal" not in doc["message"], doc  # there is one
    assert "--json" in doc["message"], doc
    assert "--auto-approve" in doc["hint"], doc
    assert not (ws.root / "calls.jsonl").exists(), calls(ws)  # nothing asked, nothing removed


def test_destroy_json_without_a_terminal_gives_json_as_the_reason(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("destroy", "t", "--json", stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    doc = orjson.loads(done.stdout)
    assert "--json" in doc["message"] and "--auto-approve" in doc["hint"], doc
    assert not (ws.root / "calls.jsonl").exists()


def test_destroy_without_a_terminal_says_there_is_none(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("destroy", "t", stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "no terminal to ask on" in done.stderr
    assert "--json" not in done.stderr
