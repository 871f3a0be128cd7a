"""What a stop (SIGTERM, Ctrl-C) leaves the output, and what the run says about it.

The output flushes when its stdin closes (docs/delivery.md, "Stopping"). With one
deadline for everything, an input that ignored SIGTERM used it all up: both providers
were killed together, the output never saw its EOF and lost the batch it held, and the
result still said "everything the input wrote was delivered", `resumable: true`, with
no checkpoint stored at all."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import orjson
import pytest

from dstream.errors import ExitCode
from dstream.runtime.signals import ECHO_WINDOW
from tests.services import wait_until
from tests.workspace import Workspace

GRACE = 2.0

# An input that ignores SIGTERM (a Go provider whose sleeps ignore its context) and
# writes an envelope every 50 ms for ever.
DEAF_INPUT = r"""
import json, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdin.buffer.readline()
print('{"status":"ready"}', flush=True)
i = 0
while True:
    i += 1
    print(json.dumps({"data": {"i": i}, "metadata": {}}), flush=True)
    time.sleep(0.05)
"""

# The original SDK's output: a bare ready line, then it keeps what it reads in memory
# and writes it to sink.jsonl only at EOF (a batch that never filled), then exits 0.
# After its 3rd line it creates `flowing`.
BATCHING_OUTPUT = r"""
import os, sys
sys.stdin.buffer.readline()
print('{"status":"ready"}', flush=True)
batch = []
for line in sys.stdin.buffer:
    batch.append(line)
    if len(batch) == 3:
        open("flowing", "w").close()
with open("sink.jsonl", "ab") as sink:
    sink.writelines(batch)
"""

# An input that stops at SIGTERM (exit 0) after writing 5 envelopes, or, with CP set,
# 5 envelopes and a checkpoint.
POLITE_INPUT = r"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.stdin.buffer.readline()
out = sys.stdout
out.write('{"status":"ready","protocol":1}\n' if os.environ.get("CP") else '{"status":"ready"}\n')
for i in range(5):
    out.write('{"data":%d,"metadata":{}}\n' % i)
if os.environ.get("CP"):
    out.write('{"checkpoint":%s}\n' % os.environ["CP"])
out.flush()
while True:
    time.sleep(1)
"""

# An output that reads its stdin to the end (acknowledging each checkpoint when it
# speaks protocol 1), then never exits: it ignores SIGTERM too.
STUCK_OUTPUT = r"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdin.buffer.readline()
acks = bool(os.environ.get("ACKS"))
print('{"status":"ready","protocol":1}' if acks else '{"status":"ready"}', flush=True)
n = 0
for line in sys.stdin.buffer:
    n += 1
    if acks and line.startswith(b'{"checkpoint"'):
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
    if n == 5:
        open("flowing", "w").close()
while True:
    time.sleep(1)
"""


def _task(ws: Workspace, input_body: str, output_body: str, **options: Any) -> None:
    """Task "t" from input.py into output.py (Python bodies) with stop_grace GRACE;
    `options` as for Workspace.task."""
    ws.python_script("input.py", input_body)
    ws.python_script("output.py", output_body)
    ws.task("./input.py", "./output.py", settings=f'stop_grace = "{GRACE:g}s"', **options)


def _flowing(ws: Workspace, proc: subprocess.Popen[bytes]) -> bool:
    """Whether the output created `flowing`; an assertion if the run ended before."""
    assert proc.poll() is None, ws.read_text("stderr")
    return (ws.root / "flowing").exists()


def stop_run(ws: Workspace, *flags: str, again_at: str = "") -> int:
    """Run task "t" with `flags` until its output created `flowing` and SIGTERM it, and
    again once its stderr says `again_at` if given; its exit code. Its stdout and
    stderr are in the files of those names."""
    with open(ws.root / "stdout", "wb") as out, open(ws.root / "stderr", "wb") as err:
        proc = ws.popen("run", "t", *flags, stdout=out, stderr=err)
        try:
            wait_until("the output's `flowing`", lambda: _flowing(ws, proc))
            proc.send_signal(signal.SIGTERM)
            if again_at:
                wait_until(repr(again_at), lambda: again_at in ws.read_text("stderr"))
                time.sleep(ECHO_WINDOW)  # a second signal, not the first one's echo
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        except (AssertionError, subprocess.TimeoutExpired):
            proc.kill()
            raise
    return proc.returncode


def _stop(ws: Workspace) -> tuple[int, dict[str, Any], str]:
    """stop_run with --json: its exit code, its task result and its stderr."""
    code = stop_run(ws, "--json")
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    return code, task, ws.read_text("stderr")


@pytest.mark.timeout(120)
def test_an_output_gets_its_eof_to_flush_when_the_input_ignores_sigterm(ws: Workspace) -> None:
    """The input is killed before the deadline, what it wrote is delivered, and the
    output gets EOF and time to flush its batch: everything the pump counted is in the
    sink."""
    _task(ws, DEAF_INPUT, BATCHING_OUTPUT)
    code, task, err = _stop(ws)
    assert code == ExitCode.TERMINATED, err
    assert "input './input.py' did not stop" in err, err
    assert "output './output.py' did not stop" not in err, err
    sent = task["counters"]["data_frames"]
    assert sent >= 3
    assert len(ws.json_lines("sink.jsonl")) == sent, err
    assert task["exit_codes"]["output"] == 0
    assert "everything the input wrote was delivered" in task["error"]["message"]


@pytest.mark.timeout(120)
def test_an_output_killed_at_the_deadline_is_not_said_to_have_had_everything(
    ws: Workspace,
) -> None:
    _task(ws, POLITE_INPUT, STUCK_OUTPUT)
    code, task, err = _stop(ws)
    assert code == ExitCode.TERMINATED, err
    assert "output './output.py' did not stop" in err, err
    error = task["error"]
    assert "everything the input wrote was delivered" not in error["message"], error
    assert (
        "output './output.py' was killed at the stop deadline before it exited: it may not "
        "have written the 5 envelopes it was sent" in error["message"]
    ), error
    assert task["resumable"] is False
    assert "no checkpoint is stored" in error["hint"], error
    assert "resume from the last acknowledged checkpoint" not in error["hint"], error
    # The run starts again, where the input itself starts: it said no later run would
    # send the envelopes again, which holds only for an input that starts at "now".
    assert "no later run sends them again" not in error["hint"], error
    assert "the next run starts where the input itself starts" in error["hint"], error


@pytest.mark.timeout(120)
def test_an_output_killed_after_acknowledging_is_resumable_from_its_checkpoint(
    ws: Workspace,
) -> None:
    _task(
        ws, POLITE_INPUT, STUCK_OUTPUT, state=True, input_env={"CP": "5"}, output_env={"ACKS": "1"}
    )
    code, task, err = _stop(ws)
    assert code == ExitCode.TERMINATED, err
    assert task["last_checkpoint"] == 5, task
    error = task["error"]
    assert "everything the input wrote was delivered" not in error["message"], error
    assert "after checkpoint 5, the last it acknowledged" in error["message"], error
    assert task["resumable"] is True
    assert "resumes from checkpoint 5" in error["hint"], error
