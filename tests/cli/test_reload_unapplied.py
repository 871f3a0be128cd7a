"""What a reload (SIGHUP) of `dstream run` does not apply is said, never done half-way
(docs/cli.md, "Signals"): a changed `state` block (the run keeps the store it opened,
and touches no other), a changed `metrics` block, a task added to the file. A reload
the file's errors refuse is logged as any configuration error is: its location and
its hint (a record's fields with --log-format json).

Each run is a real `dstream run`, its stderr in a file, reloaded with SIGHUP."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.services import wait_until
from tests.workspace import Workspace, log_records

TASK = """
{blocks}
task "t" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = {interval}
      max_count        = 0
      checkpoint_every = 5
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "out.jsonl" }}
  }}
}}
"""

TASK_C = """
task "c" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


@contextmanager
def streaming(ws: Workspace, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`dstream run ARGS` once its output wrote, its stderr in a file; stopped by
    SIGTERM (exit 143) at the end."""
    errors = ws.root / "stderr.log"
    with open(errors, "wb") as sink:
        proc = ws.popen("run", *args, stderr=sink)
        try:
            wait_until(
                "streaming",
                lambda: proc.poll() is not None or len(ws.json_lines("out.jsonl")) >= 10,
                tick=0.1,
            )
            assert proc.poll() is None, errors.read_text()
            yield proc, errors
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
            assert proc.returncode == ExitCode.TERMINATED, errors.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def reload(proc: subprocess.Popen[bytes], errors: Path, said: str) -> str:
    """SIGHUP, then stderr once it says `said`."""
    proc.send_signal(signal.SIGHUP)
    wait_until(f"the reload to say {said!r}", lambda: said in errors.read_text(), tick=0.1)
    return errors.read_text()


@pytest.mark.timeout(120)
def test_a_reload_that_moves_the_state_touches_no_other_store(ws: Workspace) -> None:
    """The task's input changed too: the reload restarts it, and remembers the new
    input where the run keeps its checkpoints, not in the store the new block names."""
    ws.config(TASK.format(blocks='state { path = "st1" }', interval=20))
    with streaming(ws, "t") as (proc, errors):
        ws.config(TASK.format(blocks='state { path = "st2" }', interval=10))
        text = reload(proc, errors, "restarting it")
    assert not (ws.root / "st2").exists(), sorted(p.name for p in (ws.root / "st2").iterdir())
    assert (
        "dstream: [warning] the state block changed: it takes effect at the next start; "
        f"this run keeps writing file {ws.root / 'st1'}\n"
    ) in text, text


@pytest.mark.timeout(120)
def test_a_reload_says_it_does_not_start_an_added_task_nor_move_the_metrics(
    ws: Workspace,
) -> None:
    metrics = 'metrics {{ addr = "127.0.0.1:{port}" }}\nstate {{ path = "state" }}'
    ws.config(TASK.format(blocks=metrics.format(port=0), interval=20))
    with streaming(ws, "--all") as (proc, errors):
        ws.config(TASK.format(blocks=metrics.format(port=1), interval=20) + TASK_C)
        text = reload(proc, errors, "the metrics block changed")
    assert (
        "dstream: [warning] task c: added to the configuration: this run does not start "
        "it; run it with `dstream run c`\n"
    ) in text, text
    assert (
        "dstream: [warning] the metrics block changed: it takes effect at the next start\n"
    ) in text, text
    assert "task c: completed" not in text, text


BAD_INTERVAL = '"abc"'  # the counter's interval is an integer: `run` refuses the file


@pytest.mark.timeout(120)
def test_a_failed_reload_says_where_and_what_to_do(ws: Workspace) -> None:
    ws.config(TASK.format(blocks='state { path = "state" }', interval=20))
    with streaming(ws, "t") as (proc, errors):
        ws.config(TASK.format(blocks='state { path = "state" }', interval=BAD_INTERVAL))
        text = reload(proc, errors, "reload failed")
        wait_until("the whole record", lambda: "hint:" in errors.read_text(), tick=0.1)
        text = errors.read_text()
    (line,) = [line for line in text.splitlines() if "reload failed" in line]
    assert line.startswith(
        "dstream: [error] reload failed, keeping the running one: dstream.hcl:"
    ), text
    following = text.splitlines()[text.splitlines().index(line) + 1]
    assert following.startswith("dstream: [error]   hint: "), text


@pytest.mark.timeout(120)
def test_a_failed_reload_is_a_record_with_its_location_and_hint(ws: Workspace) -> None:
    ws.config(TASK.format(blocks='state { path = "state" }', interval=20))
    with streaming(ws, "t", "--log-format", "json") as (proc, errors):
        ws.config(TASK.format(blocks='state { path = "state" }', interval=BAD_INTERVAL))
        reload(proc, errors, "reload failed")
    (record,) = [r for r in log_records(errors.read_text()) if "reload failed" in r["msg"]]
    assert record["level"] == "error", record
    assert record["location"].startswith("dstream.hcl:"), record
    assert record["hint"], record
    assert record["error"] == "ConfigError", record
