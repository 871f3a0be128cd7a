"""A task `--fail-fast` stops because another task failed says so: stopped because task
'bad' failed (--fail-fast), exit code 1 (no signal's: nobody pressed Ctrl-C), in the
human summary, the --json document and the run history."""

from __future__ import annotations

import signal

import orjson
import pytest

from tests.providers import FAILING_TASK, fails_once
from tests.services import wait_until
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(120)

# The task --fail-fast stops: a counter with no end, into good.jsonl.
GOOD_TASK = """
task "good" {
  input {
    provider_path = "dstream-counter"
    config {
      interval         = 10
      max_count        = 0
      checkpoint_every = 5
    }
  }
  output {
    provider_path = "dstream-file"
    config { path = "good.jsonl" }
  }
}
"""


def _two_tasks(ws: Workspace) -> None:
    """ "bad" fails once "good" streams: "good" is running when it is stopped, not
    stopped before it started."""
    ws.script("fails.sh", fails_once("good.jsonl"))
    ws.config('state { path = "state" }\n' + FAILING_TASK + GOOD_TASK)


def test_a_task_stopped_by_fail_fast_names_the_failed_task_not_a_signal(ws: Workspace) -> None:
    _two_tasks(ws)
    done = ws.run("run", "--all", "--fail-fast", "--json")
    assert done.returncode == 1, done.stderr
    doc = orjson.loads(done.stdout_bytes)
    assert doc["exit_code"] == 1 and doc["ok"] is False
    tasks = {task["task"]: task for task in doc["tasks"]}
    assert (tasks["bad"]["outcome"], tasks["bad"]["exit_code"]) == ("failed", 1)
    good = tasks["good"]
    assert (good["outcome"], good["exit_code"]) == ("stopped", 1)
    assert good["stopped_by"] is None and good["stopped_by_task"] == "bad"
    assert good["error"]["error"] == "StoppedByFailure"
    assert "because task 'bad' failed (--fail-fast)" in good["error"]["message"]
    assert "interrupted" not in good["error"]["message"]

    runs = orjson.loads(ws.run("runs", "good", "--json").stdout_bytes)["runs"]
    assert [(r["result"], r["exit_code"]) for r in runs] == [("stopped", 1)]


def test_the_human_summary_says_why_the_task_stopped(ws: Workspace) -> None:
    _two_tasks(ws)
    done = ws.run("run", "--all", "--fail-fast")
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    [head] = [line for line in lines if line.startswith("task good: ")]
    assert head.startswith("task good: stopped after ")
    assert head.endswith(" because task 'bad' failed (--fail-fast)")
    assert "interrupted" not in done.stderr and "SIGINT" not in done.stderr
    assert 'error: task "bad": ' in done.stderr
    assert 'error: task "good"' not in done.stderr  # it did not fail: its line says why
    last = lines[-1]
    assert last == (
        "1 of 2 tasks failed: bad (exit code 1); its error is above; --fail-fast stopped good"
    ), done.stderr


def test_a_task_that_fails_while_others_run_is_logged_when_it_fails(ws: Workspace) -> None:
    """Without --fail-fast the others go on, for days maybe: the failure is a log record
    at once (a log-based alert sees it), not only the error block at the run's end."""
    _two_tasks(ws)
    log = ws.root / "stderr.log"
    with open(log, "wb") as sink:
        proc = ws.popen("run", "--all", "--log-format", "json", stderr=sink)
        try:
            wait_until("the failure's record", lambda: b"the other tasks go on" in log.read_bytes())
            assert proc.poll() is None  # "good" still runs
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    record = next(
        orjson.loads(line) for line in log.read_bytes().splitlines()
        if b"the other tasks go on" in line
    )  # fmt: skip
    assert record["level"] == "error" and record["task"] == "bad", record
