"""invalid_frames = "dead_letter" with real processes: a dead-lettered frame is in its
file before any checkpoint after it can be stored, a dead-letter file that cannot be
written fails the run (and says why), and a path that is not a regular file is refused
before the run starts."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.providers import SHELL_OUTPUT
from tests.workspace import Run, Workspace, alive, json_document, with_descendants

# data, an invalid frame, data, then a checkpoint that comes after the invalid frame
INVALID_THEN_CHECKPOINT = r"""
read -r command
echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
printf '{"data":1}\n[1]\n{"data":2}\n{"checkpoint":2}\n'
"""

# the same, then the input waits, its stream open: dstream is killed meanwhile
INVALID_THEN_CHECKPOINT_THEN_WAIT = INVALID_THEN_CHECKPOINT + "exec sleep 120\n"


def _task(ws: Workspace, input_body: str, dead_letter_path: str = "dead/t.jsonl") -> None:
    ws.script("input.sh", input_body)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task(
        "./input.sh",
        "./output.sh",
        state=True,
        settings=f'invalid_frames = "dead_letter"\ndead_letter_path = "{dead_letter_path}"',
    )


def _stored(ws: Workspace) -> str:
    shown = ws.run("state", "show", "t")
    return shown.stdout.strip() if shown.returncode == 0 else ""


@pytest.mark.timeout(120)
def test_a_dead_letter_is_on_disk_before_a_later_checkpoint_is_stored(ws: Workspace) -> None:
    """The invalid frame's record sat in a buffer written only at the pump's end, while
    the checkpoint after it was forwarded, acknowledged and stored: dstream killed -9
    then lost the frame for good (the next run resumes past it)."""
    _task(ws, INVALID_THEN_CHECKPOINT_THEN_WAIT)
    run = Run(ws, "run", "t")
    try:
        deadline = time.monotonic() + 60
        while _stored(ws) != "2":
            assert time.monotonic() < deadline, run.stderr()
            assert run.proc.poll() is None, run.stderr()
            time.sleep(0.1)
        family = with_descendants([run.proc.pid])
        for pid in family:
            os.kill(pid, signal.SIGKILL)
        run.proc.wait(timeout=30)
    finally:
        run.kill()
    dead = ws.json_lines("dead/t.jsonl")
    assert [d["raw"] for d in dead] == ["[1]"], dead
    assert not [pid for pid in family if alive(pid)]


@pytest.mark.timeout(120)
def test_a_dead_letter_file_that_cannot_be_written_fails_the_run(ws: Workspace) -> None:
    """A full disk (here: the file size limit, the file already at it): the summary said
    `dead-lettered 1` though nothing was written, the checkpoint after the frame was
    stored, and the hint took the full disk for a bug ("please report it")."""
    _task(ws, INVALID_THEN_CHECKPOINT)
    limit = 64 * 1024
    (ws.root / "dead").mkdir()
    (ws.root / "dead" / "t.jsonl").write_bytes(b"x" * (limit - 1) + b"\n")
    done = ws.run("run", "t", "--json", prefix=("prlimit", f"--fsize={limit}", "--"))
    assert done.returncode == 1, done.stderr
    summary = json_document(done)["tasks"][0]
    error = summary["error"]
    assert "cannot write dead-letter file" in error["message"], error
    assert "please report" not in error["hint"], error
    assert "free space" in error["hint"], error
    assert summary["counters"]["invalid_frames"] == 1, summary
    assert summary["counters"]["dead_lettered"] == 0, summary
    assert summary["stored_checkpoint"] is None, summary
    assert _stored(ws) == "", "a checkpoint past a frame that was not written is stored"


@pytest.mark.timeout(120)
def test_a_fifo_as_dead_letter_path_is_refused_before_the_run(ws: Workspace) -> None:
    """A FIFO passed lint, and the run blocked for ever opening it inside the pump,
    deaf to a stop."""
    _task(ws, INVALID_THEN_CHECKPOINT, dead_letter_path="dead.fifo")
    os.mkfifo(ws.root / "dead.fifo")
    for command in (("lint",), ("run", "t")):
        done = ws.run(*command, timeout=30)
        assert done.returncode != 0, (command, done.stderr)
        assert "dstream.hcl:" in done.stderr, done.stderr
        assert "not a regular file" in done.stderr, done.stderr
    assert ws.read_text("out.jsonl") == ""  # nothing started
