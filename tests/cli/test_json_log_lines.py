"""With --log-format json every line dstream itself writes on stderr is one JSON object
(docs/operations.md, "Logs"), as a log shipper (Loki, Fluent Bit with a JSON parser)
reads them: the stop notice (a record of level info with the signal), the notes
(`task` when they are about one task), the run's summary and its error block. The stop
notice is an info record in both formats: a level above info hides it."""

from __future__ import annotations

import json
import signal

import pytest

from tests.cli import scenarios
from tests.providers import SHELL_OUTPUT
from tests.services import wait_until
from tests.workspace import Workspace, log_records

# An input that writes one frame, then waits to be stopped.
QUIET_INPUT = """
read -r command
echo '{"status":"ready"}'
echo '{"data":1}'
exec sleep 300
"""


def stopped(ws: Workspace, *args: str, sig: int = signal.SIGTERM) -> tuple[int, str]:
    """`dstream ARGS` (a run), stopped by `sig` once its output wrote: its exit code and
    its stderr."""
    proc = ws.popen(*args)
    try:
        wait_until("the frame to reach the output", lambda: ws.read_text("out.jsonl") != "")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err.decode()


def quiet_task(ws: Workspace) -> None:
    ws.script("input.sh", QUIET_INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.task("./input.sh", "./output.sh", state=True)


def test_a_run_stopped_by_sigterm_writes_only_json_records(ws: Workspace) -> None:
    quiet_task(ws)
    code, err = stopped(ws, "run", "t", "-f", "json", "--reset-state")
    assert code == 143, err
    found = log_records(err)
    (stop,) = [r for r in found if r.get("signal") == "SIGTERM"]
    assert stop["level"] == "info", stop
    assert stop["msg"].startswith("stopping: draining what the inputs already wrote"), stop
    assert "send SIGTERM again to force" in stop["msg"], stop
    (reset,) = [r for r in found if "--reset-state" in r["msg"]]
    assert reset["task"] == "t", reset
    (summary,) = [r for r in found if "summary" in r]
    assert (summary["task"], summary["level"]) == ("t", "info"), summary
    assert summary["summary"]["outcome"] == "interrupted", summary
    assert summary["msg"].startswith("interrupted by SIGTERM"), summary  # its task: a field
    assert found[-1]["msg"].startswith("stopped by SIGTERM: `dstream run t`"), found[-1]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("level", ["warning", "error"])
def test_a_level_above_info_hides_the_stop_notice(ws: Workspace, fmt: str, level: str) -> None:
    quiet_task(ws)
    code, err = stopped(ws, "run", "t", "-q", "-l", level, "-f", fmt)
    assert code == 143, err
    assert "stopping" not in err, err
    assert "\n\n" not in err and not err.startswith("\n"), err


def test_the_text_stop_notice_is_one_log_line(ws: Workspace) -> None:
    """No blank line before it when stderr is no terminal (a log file, a pipe)."""
    quiet_task(ws)
    code, err = stopped(ws, "run", "t", sig=signal.SIGINT)
    assert code == 130, err
    notice = "dstream: stopping: draining what the inputs already wrote (press Ctrl-C again"
    (line,) = [line for line in err.splitlines() if line.startswith(notice)]
    assert line.endswith("to force) signal=SIGINT"), line
    assert "\n\n" not in err and not err.startswith("\n"), err


def test_a_failed_run_s_error_block_is_one_record(ws: Workspace) -> None:
    scenarios.failing_input(ws)
    done = ws.run("run", "t", "-f", "json")
    assert done.returncode != 0, done.stderr
    found = log_records(done.stderr)
    (error,) = [r for r in found if r["level"] == "error" and "hint" in r]
    assert error["task"] == "t", error
    assert "exited" in error["msg"] or "exit" in error["msg"], error
    assert "password authentication failed for user app" in error["stderr_tail"], error


def test_a_resumed_changed_input_s_note_is_a_record_of_its_task(ws: Workspace) -> None:
    scenarios.counter_file(ws, count=10)
    first = ws.run("run", "t")
    assert first.returncode == 0, first.stderr
    scenarios.counter_file(ws, count=20)  # the input's configuration changed
    done = ws.run("run", "t", "-f", "json", "--resume-changed")
    assert done.returncode == 0, done.stderr
    (note,) = [r for r in log_records(done.stderr) if "--resume-changed" in r["msg"]]
    assert note["task"] == "t", note
    assert note["msg"].startswith("the input's configuration changed"), note


@pytest.mark.timeout(120)
def test_a_reload_s_note_is_a_record_of_its_task(ws: Workspace) -> None:
    """SIGHUP with the input changed: the task restarts from its checkpoint, and the note
    that says so is a record of the task, as every other line of the run."""
    scenarios.counter_file(ws, count=0, interval=10)
    err_path = ws.root / "err.log"
    with err_path.open("wb") as err:
        proc = ws.popen("run", "t", "-f", "json", stderr=err)
        try:
            wait_until("a stored checkpoint", lambda: ws.run("state", "show", "t").stdout)
            scenarios.counter_file(ws, count=0, interval=5)
            proc.send_signal(signal.SIGHUP)
            wait_until("the restart", lambda: '"interval_ms":5' in err_path.read_text())
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err_path.read_text()
    (note,) = [r for r in log_records(err_path.read_text()) if "SIGHUP reload" in r["msg"]]
    assert note["task"] == "t", note


def test_output_lines_moved_to_stderr_by_json_are_records(ws: Workspace) -> None:
    """With --json stdout is the document: the output's lines go to stderr, each a
    record of the output (role) with --log-format json."""
    ws.counter_task("t", "dstream-console", count=3, checkpoint_every=1)
    done = ws.run("run", "t", "--json", "-f", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    lines = [
        r for r in log_records(done.stderr) if r.get("role") == "output" and "[seq" in r["msg"]
    ]
    assert len(lines) == document["output_lines"] == 3, done.stderr


def test_output_lines_of_several_tasks_carry_their_task(ws: Workspace) -> None:
    """Each task's output lines moved to stderr are records of that task, whichever
    of several wrote them."""
    ws.console_tasks(("a", "b"), tables=True)
    done = ws.run("run", "a", "b", "--json", "-f", "json")
    assert done.returncode == 0, done.stderr
    found = log_records(done.stderr)
    lines = [r for r in found if r.get("role") == "output" and r["msg"].startswith("[")]
    assert len(lines) == json.loads(done.stdout)["output_lines"] == 6, done.stderr
    for line in lines:
        assert "task" in line and f"{line['task']}_table" in line["msg"], line


def test_a_lost_stdout_is_said_in_a_record(ws: Workspace) -> None:
    scenarios.counter_file(ws)
    done = scenarios.into_a_pipe_nobody_reads(ws, "list", "-f", "json")
    assert done.returncode == 1, done.stderr
    (lost,) = log_records(done.stderr)
    assert lost["level"] == "error", lost
    assert lost["msg"].startswith("stdout is closed or its reader left"), lost
