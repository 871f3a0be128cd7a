"""A run whose input shook hands and then wrote nothing (a CDC input on a quiet table)
was streaming: a SIGTERM after a while is reported `interrupted by SIGTERM after 2.1 s`
with its (zero) counts, not `before streaming`, which stays for a run stopped before its
input's handshake. The same in the --log-format json record and the --json document."""

from __future__ import annotations

import signal
import time

import orjson
import pytest

from dstream.errors import ExitCode
from tests.services import wait_until
from tests.workspace import Run, Workspace, log_records

# Shakes hands, says so, then is a quiet source: nothing more, until it is stopped.
IDLE = """\
printf '{"status":"ready","protocol":1}\\n'
touch shook
exec sleep 300
"""
# Stopped before its handshake: it says it started, then never answers.
SILENT = """\
touch started
exec sleep 300
"""
TASK = """\
task "t" {
  stop_grace = "1s"
  input  { provider_path = "./in.sh" }
  output {
    provider_path = "dstream-file"
    config { path = "out.jsonl" }
  }
}
"""
STREAMED = 2.0  # seconds the idle stream runs before the SIGTERM


def _stopped(ws: Workspace, script: str, mark: str, *args: str) -> Run:
    ws.script("in.sh", script)
    ws.config(TASK)
    run = Run(ws, "run", "t", *args)
    wait_until(
        "the input to start", lambda: (ws.root / mark).exists() or run.proc.poll() is not None
    )
    assert run.proc.poll() is None, run.stderr()
    if mark == "shook":
        time.sleep(STREAMED)
    run.signal(signal.SIGTERM)
    assert run.wait() == ExitCode.TERMINATED, run.stderr()
    return run


@pytest.mark.timeout(60)
def test_an_idle_stream_stopped_is_reported_after_its_time_streamed(ws: Workspace) -> None:
    run = _stopped(ws, IDLE, "shook")
    said = run.stderr()
    assert "before streaming" not in said, said
    line = next(line for line in said.splitlines() if "task t: interrupted by SIGTERM" in line)
    assert line.startswith("task t: interrupted by SIGTERM after "), line
    assert "frames   0 (0 data, 0 checkpoints)" in said, said


@pytest.mark.timeout(60)
def test_an_idle_stream_stopped_is_reported_so_in_its_log_record(ws: Workspace) -> None:
    run = _stopped(ws, IDLE, "shook", "--log-format", "json")
    records = log_records(run.stderr())
    [summary] = [r for r in records if "summary" in r]
    assert summary["msg"].startswith("interrupted by SIGTERM after "), summary
    assert summary["summary"]["duration_seconds"] >= STREAMED * 0.9, summary


@pytest.mark.timeout(60)
def test_an_idle_stream_stopped_is_reported_so_in_json(ws: Workspace) -> None:
    _stopped(ws, IDLE, "shook", "--json")
    doc = orjson.loads((ws.root / "stdout").read_bytes())
    [task] = doc["tasks"]
    assert (task["outcome"], task["stopped_by"]) == ("interrupted", "SIGTERM"), task
    assert task["duration_seconds"] >= STREAMED * 0.9, task
    assert task["counters"]["frames"] == 0, task


@pytest.mark.timeout(60)
def test_a_run_stopped_before_its_inputs_handshake_is_stopped_before_streaming(
    ws: Workspace,
) -> None:
    run = _stopped(ws, SILENT, "started")
    assert "task t: interrupted by SIGTERM before streaming" in run.stderr(), run.stderr()
