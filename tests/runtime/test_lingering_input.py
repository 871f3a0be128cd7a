"""An input that closes its stdout but does not exit (chaos report, item 3): the stream
ended, so everything it wrote is delivered, but dstream had to kill it stop_grace later
when nobody asked for a stop. It did not end by itself, so the run fails and says so
(docs/protocol.md, section 7), where it exited 0 as if the input had finished."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.providers import SHELL_OUTPUT
from tests.workspace import CliResult, Workspace

# Two envelopes and their checkpoint, then its stdout closed while it runs on (a writer
# thread that died in a process that lives on looks the same).
CLOSES_ITS_STDOUT = """
read -r command
echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
echo '{"data":1}'
echo '{"data":2}'
echo '{"checkpoint":2}'
exec 1>&-
exec sleep 300
"""

# The same, but it exits 0 at once after closing its stdout.
CLOSES_AND_EXITS = CLOSES_ITS_STDOUT.replace("exec sleep 300", "sleep 0.2")


# Takes 2 s after the end of the stream (twice stop_grace) before it says so on stderr
# and exits 0.
SLOW_FLUSHING_OUTPUT = SHELL_OUTPUT + "sleep 2\necho 'output flushed' >&2\n"


def _run(ws: Workspace, input_body: str, output_body: str = SHELL_OUTPUT) -> CliResult:
    ws.script("input.sh", input_body)
    ws.script("output.sh", output_body)
    ws.task("./input.sh", "./output.sh", state=True, settings='stop_grace = "1s"')
    return ws.run("run", "t", "--json", timeout=60)


def _summary(done: CliResult) -> dict[str, Any]:
    task: dict[str, Any] = orjson.loads(done.stdout)["tasks"][0]
    return task


@pytest.mark.timeout(90)
def test_an_input_that_closes_its_stdout_but_runs_on_fails_the_run(ws: Workspace) -> None:
    done = _run(ws, CLOSES_ITS_STDOUT)
    summary = _summary(done)
    assert done.returncode == 1, done.stderr
    assert summary["outcome"] == "failed", summary
    error = summary["error"]
    assert error["message"] == (
        "input './input.sh' closed its stdout but did not exit within stop_grace (1 s): "
        "dstream killed it"
    ), error
    assert "everything it wrote was delivered" in error["hint"], error
    # What it wrote before closing its stdout reached the output and was acknowledged.
    assert summary["last_checkpoint"] == 2, summary
    assert ws.json_lines("out.jsonl") == [{"data": 1}, {"data": 2}]
    assert summary["exit_signals"]["input"] == "SIGKILL", summary
    # Nobody asked for a stop: the warning does not speak of one.
    assert "did not stop" not in done.stderr, done.stderr
    assert (
        "input './input.sh' did not exit within stop_grace (1 s) after output "
        "'./output.sh' exited, killing it" in done.stderr
    ), done.stderr


@pytest.mark.timeout(90)
def test_an_input_that_closes_its_stdout_and_exits_completes(ws: Workspace) -> None:
    done = _run(ws, CLOSES_AND_EXITS)
    summary = _summary(done)
    assert done.returncode == 0, done.stderr
    assert summary["outcome"] == "completed", summary
    assert summary["last_checkpoint"] == 2, summary
    assert "killing it" not in done.stderr, done.stderr


@pytest.mark.timeout(90)
def test_its_stop_grace_counts_from_the_output_exit(ws: Workspace) -> None:
    """Not from the end of its stream, as the warning said: here the output's flush alone
    took longer than stop_grace, and the input was killed only after it."""
    done = _run(ws, CLOSES_ITS_STDOUT, SLOW_FLUSHING_OUTPUT)
    assert done.returncode == 1, done.stderr
    warning = (
        "input './input.sh' did not exit within stop_grace (1 s) after output "
        "'./output.sh' exited, killing it"
    )
    assert warning in done.stderr, done.stderr
    assert done.stderr.index("output flushed") < done.stderr.index(warning), done.stderr
    assert "after the end of its stream" not in done.stderr, done.stderr
