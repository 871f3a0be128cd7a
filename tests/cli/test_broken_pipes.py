"""A BrokenPipeError at the error boundary (cli/app.py `main`) is stdout's reader gone
only when stdout's reader is in fact gone (docs/cli.md): one from another pipe (a
provider's stdin, a socket) that a bug let through is that bug's crash report, and one
from stderr (its reader left) ends the command with exit 1 and nothing said, as
nothing can be (a command a signal stopped keeps the signal's code:
test_stop_with_stderr_gone.py). (stdout's own: test_closed_streams.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from dstream.cli.boundary import STDOUT_LOST
from tests.cli import scenarios
from tests.workspace import Workspace, environ

# `dstream version` whose command writes to a pipe whose reader left, as a write to a
# provider that exited would, and lets the BrokenPipeError through: a bug.
ANOTHER_PIPE = """
import os, sys
from dstream.cli import version

def execute(args, view):
    read, write = os.pipe()
    os.close(read)
    os.write(write, b"{}\\n")  # BrokenPipeError: the provider's pipe, not stdout

version.execute = execute
sys.argv = ["dstream", "version"]
from dstream.cli.entry import run
run()
"""


def test_a_broken_pipe_that_is_not_stdout_is_a_crash(ws: Workspace, tmp_path: Path) -> None:
    env = {**ws.env, "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-c", ANOTHER_PIPE], cwd=ws.root, env=environ(env),
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    stderr = done.stderr.decode()
    assert done.returncode == 70, stderr
    assert STDOUT_LOST not in stderr, stderr
    assert stderr.startswith("error: internal error (BrokenPipeError)"), stderr
    (report,) = (tmp_path / "state" / "dstream").glob("crash-*.txt")
    assert "in execute\nBrokenPipeError" in report.read_text()  # where it came from


def _stderr_nobody_reads(ws: Workspace, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """`argv` run in the workspace with stderr on a pipe whose reader left, stdout read,
    and the standard streams buffered as by default (not PYTHONUNBUFFERED): what stderr
    still holds at the exit is what made it fail with 120 instead of 1."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            argv, cwd=ws.root, env=environ(ws.env, without="PYTHONUNBUFFERED"),
            stdout=subprocess.PIPE, stderr=write, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize("argv", [["lint"], ["run", "t"]], ids=" ".join)
def test_a_stderr_nobody_reads_fails_the_command_with_1_and_is_no_crash(
    ws: Workspace, tmp_path: Path, argv: list[str]
) -> None:
    """lint's error block and run's summary go to stderr: its reader left, the command
    cannot say what it found or did; exit 1 (not the 120 of a failed last flush), and no
    crash report (it is no bug)."""
    if argv == ["lint"]:
        scenarios.config_error(ws)
    else:
        scenarios.counter_file(ws)
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    done = _stderr_nobody_reads(ws, ws.command(*argv))
    assert done.returncode == 1
    assert not list(tmp_path.rglob("crash-*.txt"))


def test_a_json_run_whose_stderr_nobody_reads_exits_with_its_own_code(
    ws: Workspace, tmp_path: Path
) -> None:
    """Its document is on stdout; the log lines it wrote to stderr (its providers') are
    lost and change no exit code: they waited in stderr's buffer, and the interpreter's
    last flush made the exit 120."""
    scenarios.counter_file(ws)
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    done = _stderr_nobody_reads(ws, ws.command("run", "t", "--json"))
    assert done.returncode == 0
    assert orjson.loads(done.stdout)["ok"] is True
    assert not list(tmp_path.rglob("crash-*.txt"))


# `dstream version` whose command leaves a line in stdout's buffer, then writes to stderr
# until the write fails: stderr's reader left, stdout's is still there.
STDERR_GONE = """
import sys
from dstream.cli import version

def execute(args, view):
    view.out.write("kept\\n")  # buffered: written when the command exits
    while True:
        view.err.write("a line nobody reads\\n")
        view.err.flush()

version.execute = execute
sys.argv = ["dstream", "version"]
from dstream.cli.entry import run
run()
"""


def test_a_stderr_nobody_reads_keeps_what_was_written_to_stdout(
    ws: Workspace, tmp_path: Path
) -> None:
    """Only stdout's own broken pipe drops what is still buffered for stdout: when it is
    stderr's reader that left, stdout's reader is still there and gets it all."""
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    done = _stderr_nobody_reads(ws, [sys.executable, "-c", STDERR_GONE])
    assert done.stdout == b"kept\n"
    assert done.returncode == 1
    assert not list(tmp_path.rglob("crash-*.txt"))
