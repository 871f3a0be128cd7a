"""A command stopped by SIGINT/SIGTERM keeps the signal's exit code (130/143) when the
reader of its stderr, or of its stdout, has left (docs/cli.md, "Exit codes"): the job
was stopped, not failed by dstream, and a scheduler reads the code (`dstream run 2>&1 |
tee log`, tee killed by the same Ctrl-C). Its last words (a run's summary, the error
block of a stop) are lost with stderr, and said nowhere else; a lost stdout is said in
one line on stderr, as always; neither is a crash.

Each command is real: a `dstream run` whose input never ends, a `plan` whose provider
never answers, a `dstream agent` that holds no task yet, and a start the signal
interrupts (tests/cli/test_early_signals.py's probe); the stream is a pipe whose read
end the test closes before the signal, the standard streams buffered as by default (not
PYTHONUNBUFFERED: what stderr still holds at the exit made it 120)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import orjson
import pytest

from dstream.cli.boundary import STDOUT_LOST
from dstream.errors import ExitCode
from tests.cli import scenarios
from tests.cli.test_early_signals import PROBE
from tests.lifecycle.test_commands import setup as lifecycle_setup
from tests.scale.cluster import counter, project
from tests.services import PostgresServer, table_for, wait_until
from tests.workspace import Workspace, environ

SIGNALS = [
    pytest.param(signal.SIGTERM, ExitCode.TERMINATED, id="SIGTERM"),
    pytest.param(signal.SIGINT, ExitCode.INTERRUPTED, id="SIGINT"),
]


class ReaderGone:
    """`argv` started in the workspace with one standard stream (`gone`: "stderr" or
    "stdout") a pipe whose reader the test closes (`leave`) before it signals the
    command (`stop`), and the other one read (`kept`)."""

    def __init__(self, ws: Workspace, argv: list[str], gone: str = "stderr") -> None:
        read, write = os.pipe()
        self._read: Optional[int] = read
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, gone: write}
        try:
            self.proc = subprocess.Popen(
                argv, cwd=ws.root, env=environ(ws.env, without="PYTHONUNBUFFERED"), **streams
            )
        finally:
            os.close(write)
        self._gone = gone
        self.kept = b""

    def read_until(self, text: bytes) -> None:
        """Read the stream that goes (before it goes) until `text` comes: the command
        got that far."""
        assert self._read is not None
        seen = b""
        while text not in seen:
            chunk = os.read(self._read, 65536)
            assert chunk, f"it ended before {text!r}: {seen!r}"
            seen += chunk

    def leave(self) -> None:
        if self._read is not None:
            os.close(self._read)
            self._read = None

    def wait(self) -> None:
        out, err = self.proc.communicate(timeout=60)
        self.kept = out if self._gone == "stderr" else err

    def stop(self, sig: int) -> None:
        self.leave()
        self.proc.send_signal(sig)
        self.wait()

    def close(self) -> None:
        self.leave()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _no_crash_report(tmp_path: Path) -> None:
    assert not list(tmp_path.rglob("crash-*.txt"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code"), SIGNALS)
@pytest.mark.parametrize("json", [False, True], ids=["text", "json"])
def test_a_stopped_run_keeps_the_signal_s_code_when_stderr_is_gone(
    ws: Workspace, tmp_path: Path, sig: int, code: int, json: bool
) -> None:
    """Text mode: the summary is the first write to the lost stderr (exit 1 before)."""
    scenarios.counter_file(ws, count=0, interval=10)  # streams until it is stopped
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    run = ReaderGone(ws, ws.command("run", "t", *(["--json"] if json else [])))
    try:
        scenarios.wait_for(run.proc, ws, "out.jsonl")
        run.stop(sig)
    finally:
        run.close()
    assert run.proc.returncode == code
    if json:
        assert orjson.loads(run.kept)["exit_code"] == code
    else:
        assert run.kept == b""
    _no_crash_report(tmp_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code"), SIGNALS)
def test_a_stopped_run_keeps_the_signal_s_code_when_stdout_is_gone(
    ws: Workspace, tmp_path: Path, sig: int, code: int
) -> None:
    """--json: the document is what cannot be written (`dstream run --json | jq`, jq
    killed by the same Ctrl-C): said in one line, exit 1 before."""
    scenarios.counter_file(ws, count=0, interval=10)
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    run = ReaderGone(ws, ws.command("run", "t", "--json"), gone="stdout")
    try:
        scenarios.wait_for(run.proc, ws, "out.jsonl")
        run.stop(sig)
    finally:
        run.close()
    assert run.proc.returncode == code, run.kept
    assert run.kept.decode().endswith(STDOUT_LOST + "\n"), run.kept
    _no_crash_report(tmp_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code"), SIGNALS)
def test_a_stopped_command_keeps_the_signal_s_code_when_stderr_is_gone(
    ws: Workspace, tmp_path: Path, sig: int, code: int
) -> None:
    """Any other command: its `interrupted by` error block is what cannot be written."""
    lifecycle_setup(ws, input_config="hang = true")  # ready, then no answer for 120 s
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    plan = ReaderGone(ws, ws.command("plan", "t"))
    try:
        wait_until("the input to be asked", lambda: ws.read_text("calls.jsonl"))
        plan.stop(sig)
    finally:
        plan.close()
    assert plan.proc.returncode == code
    assert plan.kept == b""
    _no_crash_report(tmp_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code"), SIGNALS)
@pytest.mark.parametrize("json", [False, True], ids=["text", "json"])
def test_an_idle_agent_keeps_the_signal_s_code_when_stderr_is_gone(
    ws: Workspace,
    tmp_path: Path,
    pg_server: PostgresServer,
    request: pytest.FixtureRequest,
    sig: int,
    code: int,
    json: bool,
) -> None:
    """An agent that holds no task (it waits a renewal interval before it takes one):
    no task's summary says it was stopped, its own stopped line is the first write to
    the lost stderr (exit 1 before); with --json the document says the signal's code
    too."""
    table = table_for(request, "gone_")
    ws.config(project(pg_server.dsn, table, counter("t"), ttl=120, renew=30))
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    agent = ReaderGone(ws, ws.command("agent", *(["--json"] if json else [])))
    try:
        agent.read_until(b"joined with configuration")
        agent.stop(sig)
    finally:
        agent.close()
    assert agent.proc.returncode == code, agent.kept
    if json:
        document = orjson.loads(agent.kept)
        assert (document["exit_code"], document["ok"], document["tasks"]) == (code, False, [])
    else:
        assert agent.kept == b""
    _no_crash_report(tmp_path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("sig", "code"), SIGNALS)
def test_a_signal_during_the_start_keeps_its_code_when_stderr_is_gone(
    ws: Workspace, tmp_path: Path, sig: int, code: int
) -> None:
    """Before the command's own boundary is up: the signal is acted on as the command
    line is read (its error block went to a lost stderr: a traceback, exit 1)."""
    ws.env["XDG_STATE_HOME"] = str(tmp_path / "state")
    argv = [sys.executable, "-c", PROBE, "argparse", str(int(sig)), "0", "version"]
    start = ReaderGone(ws, argv)
    start.leave()  # the signal comes by itself, as argparse is about to be imported
    try:
        start.wait()
    finally:
        start.close()
    assert start.proc.returncode == code
    assert start.kept == b""
    _no_crash_report(tmp_path)
