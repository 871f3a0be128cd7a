"""A run's notes on stderr (--reset-state's, a changed input's "resuming from it anyway")
are log lines: one that cannot be written (stderr on a full disk, its reader gone) is
lost and the run goes on (docs/cli.md). It was an OSError after the checkpoint had been
forgotten: the run exited 1 having run nothing, the state reset. Only the summary,
which cannot be said either, makes the exit 1 then."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.cli import scenarios
from tests.cli.test_closed_streams import closed, no_crash
from tests.services import wait_until
from tests.workspace import CliResult, Workspace, environ, task_runs


def _stderr_gone(ws: Workspace, how: str, *args: str) -> CliResult:
    """`dstream ARGS` with stderr unwritable (`how`), buffered as by default."""
    if how == "full disk":
        return closed(ws, "2>/dev/full", *args)
    read, write = os.pipe()
    os.close(read)  # its reader left
    try:
        done = subprocess.run(
            ws.command(*args), cwd=ws.root, env=environ(ws.env, without="PYTHONUNBUFFERED"),
            stdout=subprocess.PIPE, stderr=write, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    return CliResult(list(args), done.returncode, done.stdout, b"")


def _ran(ws: Workspace, seqs: list[int], stored: int) -> None:
    """The run streamed `seqs` into out.jsonl, stored `stored`, and its history says so."""
    assert [line["metadata"]["seq"] for line in ws.json_lines("out.jsonl")] == seqs
    assert orjson.loads(ws.run("state", "show", "t").stdout) == {"seq": stored}
    assert task_runs(ws.root, "t")[-1]["result"] == "completed"


@pytest.mark.parametrize("how", ["full disk", "reader left"])
def test_reset_state_runs_when_its_note_cannot_be_written(
    ws: Workspace, tmp_path: Path, how: str
) -> None:
    scenarios.counter_file(ws)
    assert ws.run("state", "set", "t", '{"seq":5}').returncode == 0
    done = _stderr_gone(ws, how, "run", "t", "--reset-state")
    no_crash(done, tmp_path)
    assert done.returncode == 1  # its summary, unwritable, is what fails the command
    _ran(ws, list(range(1, 11)), 10)


@pytest.mark.parametrize("how", ["full disk", "reader left"])
def test_resume_changed_runs_when_its_note_cannot_be_written(
    ws: Workspace, tmp_path: Path, how: str
) -> None:
    scenarios.counter_file(ws)
    assert ws.run("run", "t").returncode == 0
    scenarios.counter_file(ws, count=12)  # the input's configuration changed
    done = _stderr_gone(ws, how, "run", "t", "--resume-changed")
    no_crash(done, tmp_path)
    assert done.returncode == 1
    _ran(ws, list(range(1, 13)), 12)


def test_a_reload_goes_on_when_its_note_cannot_be_written(ws: Workspace, tmp_path: Path) -> None:
    """SIGHUP with a changed input: its note cannot be written, the task restarts with
    the new input all the same, which is remembered (the next run is not refused)."""
    scenarios.counter_file(ws, count=0, interval=5)
    proc = subprocess.Popen(
        ["sh", "-c", 'exec "$@" 2>/dev/full', "sh", *ws.command("run", "t")], cwd=ws.root,
        env=environ(ws.env, without="PYTHONUNBUFFERED"), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until("a checkpoint to resume from", lambda: ws.run("state", "show", "t").stdout)
        assert proc.poll() is None
        path = ws.root / "dstream.hcl"
        changed = path.read_text().replace("interval = 5", "interval = 6")
        path.write_text(changed.replace("max_count = 0", "max_count = 400"))
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=60) == 1  # the new input ends at 400; the summary is lost
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not list(tmp_path.rglob("crash-*.txt"))
    assert ws.json_lines("out.jsonl")[-1]["metadata"]["seq"] == 400
    again = ws.run("run", "t")
    assert again.returncode == 0, again.stderr
    assert "changed" not in again.stderr
