"""A stop signal when stderr's reader has left (`dstream run 2>&1 | tee log`, the reader
killed by the same Ctrl-C or SIGTERM): the stop notice cannot be written, and that
changes nothing. The tasks drain, the run is recorded and the exit code is the signal's
(it was killed at once, exit 1 and no record: the notice was written before the tasks
were told to drain, and its BrokenPipeError escaped the signal handler)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from dstream.errors import ExitCode
from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import Workspace

# An input that writes one frame, then waits to be stopped; stopped, it says so (the
# drain reached it) and ends.
QUIET_INPUT = """
trap 'echo drained > drained; exit 0' TERM
read -r command
echo '{"status":"ready"}'
echo '{"data":1}'
sleep 300 &
wait
"""


def _stopped_with_stderr_gone(ws: Workspace, sig: signal.Signals, *flags: str) -> int:
    """`dstream run t FLAGS` with stderr a pipe whose reader closes before `sig` comes:
    its exit code."""
    read, write = os.pipe()
    proc = ws.popen("run", "t", *flags, stdout=subprocess.DEVNULL, stderr=write)
    os.close(write)
    try:
        wait_until("the frame to reach the output", lambda: ws.read_text("out.jsonl") != "")
        os.close(read)  # the reader leaves, as `tee` does at the same Ctrl-C
        proc.send_signal(sig)
        return proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_stop_whose_notice_cannot_be_written_drains_and_is_recorded(
    ws: Workspace, sig: signal.Signals
) -> None:
    ws.script("input.sh", QUIET_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True)
    code = _stopped_with_stderr_gone(ws, sig, "--json")
    assert code == 128 + sig
    assert ws.read_text("drained") == "drained\n"
    code, runs, _ = ws.run_json("runs", "t")
    assert code == ExitCode.OK
    assert [(r["result"], r["exit_code"]) for r in runs["runs"]] == [("interrupted", 128 + sig)]


@pytest.mark.timeout(120)
def test_without_json_the_stop_drains_and_is_recorded_too(ws: Workspace) -> None:
    """The summary cannot be written either: the command keeps the signal's code, as a
    command a signal stopped does whose stderr's reader left (docs/cli.md), and the stop
    itself ran its course."""
    ws.script("input.sh", QUIET_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True)
    code = _stopped_with_stderr_gone(ws, signal.SIGTERM)
    assert code == 143  # the signal's: not the crash report (70), nor a failure's 1
    assert ws.read_text("drained") == "drained\n"
    code, runs, _ = ws.run_json("runs", "t")
    assert [r["result"] for r in runs["runs"]] == ["interrupted"]
