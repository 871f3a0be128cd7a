"""An audit of what a run says about how it ended, and of its exit code: each test is a
case where a line dstream printed, or its exit code, was not true."""

from __future__ import annotations

import signal
import subprocess
from typing import Callable

import orjson
import pytest

from dstream.errors import ExitCode
from tests.runtime.test_stop_flush import POLITE_INPUT
from tests.services import wait_until
from tests.workspace import Workspace, alive

# Ignores SIGTERM; five envelopes and checkpoint 5, then (TORN set) the first half of
# an envelope with no newline; it creates `flowing` once all of it is flushed.
DEAF_INPUT = r"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdin.buffer.readline()
out = sys.stdout
out.write('{"status":"ready","protocol":1}\n')
for i in range(5):
    out.write('{"data":%d,"metadata":{}}\n' % i)
out.write('{"checkpoint":5}\n')
if os.environ.get("TORN"):
    out.write('{"data":"half')
out.flush()
open("flowing", "w").close()
while True:
    time.sleep(1)
"""

# Acknowledges each checkpoint as it reads it; creates the file MARK (if set) after
# its fifth envelope; exits 0 at EOF.
ACK_OUTPUT = r"""
import os, sys
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
n = 0
for line in sys.stdin.buffer:
    if line.startswith(b'{"checkpoint"'):
        print(line.decode().strip(), flush=True)
    else:
        n += 1
        if n == 5 and os.environ.get("MARK"):
            open(os.environ["MARK"], "w").close()
"""

# Writes its pid to out.pid, then exits 3 at the first checkpoint, acknowledging it
# first when ACK is set: it leaves while the stream is still open.
CRASHING_OUTPUT = r"""
import os, sys
open("out.pid", "w").write(str(os.getpid()))
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
for line in sys.stdin.buffer:
    if line.startswith(b'{"checkpoint"'):
        if os.environ.get("ACK"):
            print(line.decode().strip(), flush=True)
        sys.exit(3)
"""


def _signalled(
    ws: Workspace,
    args: tuple[str, ...],
    what: str,
    ready: Callable[[], bool],
    sig: int = signal.SIGTERM,
) -> int:
    """`dstream run ARGS`, signalled once `ready()` (`what`, for a timeout's message);
    its exit code (its stdout and stderr in the files of those names)."""
    with open(ws.root / "stdout", "wb") as out, open(ws.root / "stderr", "wb") as err:
        proc = ws.popen("run", *args, stdout=out, stderr=err)
        try:
            wait_until(what, lambda: ready() or proc.poll() is not None)
            assert proc.poll() is None, ws.read_text("stderr")
            proc.send_signal(sig)
            proc.wait(timeout=60)
        except (AssertionError, subprocess.TimeoutExpired):
            proc.kill()
            raise
    return proc.returncode


def _exists(ws: Workspace, *names: str) -> Callable[[], bool]:
    return lambda: all((ws.root / name).exists() for name in names)


@pytest.mark.timeout(120)
def test_a_failure_before_the_signal_is_not_reported_as_an_interruption(ws: Workspace) -> None:
    """The output exits 3 by itself mid-stream, and is gone, before any signal; dstream
    waits out stop_grace for the deaf input, and a SIGTERM in that wait turned the
    failure into `interrupted by SIGTERM`, exit 143 (the run's history too): a script
    reads "stopped on request, drained", not "the output failed"."""
    ws.python_script("input.py", DEAF_INPUT)
    ws.python_script("output.py", CRASHING_OUTPUT)
    ws.task(
        "./input.py",
        "./output.py",
        state=True,
        settings='stop_grace = "4s"',
        output_env={"ACK": "1"},
    )

    def output_gone() -> bool:
        pid = ws.read_text("out.pid").strip()
        return bool(pid) and not alive(int(pid))

    code = _signalled(ws, ("t", "--json"), "the output's exit", output_gone)
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    assert code == ExitCode.FAILURE, task
    assert task["outcome"] == "failed", task
    runs = orjson.loads(ws.run("runs", "t", "--json").stdout)
    assert [r["result"] for r in runs["runs"]] == ["failed"], runs


@pytest.mark.timeout(120)
def test_an_input_dstream_killed_mid_line_did_not_crash(ws: Workspace) -> None:
    """The input, deaf to SIGTERM, is killed by dstream at half of stop_grace with half a
    line written: the note said the 13 bytes were discarded because "the provider
    crashed" (dstream killed it), and the result that "everything the input wrote was
    delivered" (those bytes were not)."""
    ws.python_script("input.py", DEAF_INPUT)
    ws.python_script("output.py", ACK_OUTPUT)
    ws.task(
        "./input.py",
        "./output.py",
        state=True,
        settings='stop_grace = "2s"',
        input_env={"TORN": "1"},
    )
    code = _signalled(ws, ("t", "--json"), "flowing", _exists(ws, "flowing"))
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    assert code == ExitCode.TERMINATED, task
    assert any("torn last line" in note for note in task["notes"]), task
    said = ws.read_text("stderr") + " ".join(task["notes"])
    assert "the provider crashed" not in said, said
    assert "everything the input wrote was delivered" not in task["error"]["message"], task


# Checkpoint 5 on its first run (no state); on the next, one envelope and no
# checkpoint; it exits 1 either way, once the output had time to acknowledge.
FAILING_INPUT = r"""
import json, sys, time
command = json.loads(sys.stdin.buffer.readline())
out = sys.stdout
out.write('{"status":"ready","protocol":1}\n{"data":1,"metadata":{}}\n')
if command.get("state") is None:
    out.write('{"checkpoint":5}\n')
out.flush()
time.sleep(0.5)
sys.exit(1)
"""


@pytest.mark.timeout(120)
def test_a_restarted_task_says_which_checkpoint_is_stored(ws: Workspace) -> None:
    """Its first attempt stored checkpoint 5, its second acknowledged none: the summary
    said `1 checkpoint(s) acknowledged, stored null` (--json: last_checkpoint null)
    while 5 is stored, and is what the next run resumes from."""
    ws.python_script("input.py", FAILING_INPUT)
    ws.python_script("output.py", ACK_OUTPUT)
    ws.task("./input.py", "./output.py", state=True, restart=(1, "100ms"))
    done = ws.run("run", "t")
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert "2 attempts" in done.stderr, done.stderr
    assert ws.run("state", "show", "t").stdout.strip() == "5"
    assert "stored null" not in done.stderr, done.stderr
    assert "stored 5" in done.stderr, done.stderr
    code, doc, err = ws.run_json("run", "t", "--reset-state")
    assert code == ExitCode.FAILURE, err
    assert doc["tasks"][0]["last_checkpoint"] == 5, doc


@pytest.mark.timeout(120)
def test_a_failed_run_with_no_checkpoint_stored_does_not_claim_one(ws: Workspace) -> None:
    """The output exits 3 mid-stream on the task's first run, before it acknowledged
    anything: the summary said `no checkpoint acknowledged: the stored one is unchanged`
    and the hint that `the stored checkpoint was not advanced ... so the next run sends
    the data after it again`, though none is stored (`dstream state show` says so): the
    next run starts where the input itself starts, not after a checkpoint."""
    ws.python_script("input.py", POLITE_INPUT)
    ws.python_script("output.py", CRASHING_OUTPUT)
    ws.task("./input.py", "./output.py", state=True, input_env={"CP": "5"})
    done = ws.run("run", "t")
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert "exited with code 3 before the stream ended" in done.stderr, done.stderr
    shown = ws.run("state", "show", "t")
    assert "has no stored checkpoint" in shown.stdout + shown.stderr, shown.stdout
    assert "the stored one is unchanged" not in done.stderr, done.stderr
    assert "the stored checkpoint was not advanced" not in done.stderr, done.stderr


@pytest.mark.timeout(120)
def test_the_last_line_does_not_say_a_task_with_nothing_stored_resumes(ws: Workspace) -> None:
    """Two tasks stopped: `a` stored checkpoint 5, `b` (no checkpoints) stored none and
    its summary says `resume is not possible`; the last line said "`dstream run a b`
    resumes from the last stored checkpoint", b too."""
    ws.python_script("input.py", POLITE_INPUT)
    ws.python_script("output.py", ACK_OUTPUT)
    ws.config(
        """
        state { path = "state" }
        task "a" {
          input {
            provider_path = "./input.py"
            env = { CP = "5" }
          }
          output {
            provider_path = "./output.py"
            env = { MARK = "a.flowing" }
          }
        }
        task "b" {
          input { provider_path = "./input.py" }
          output {
            provider_path = "./output.py"
            env = { MARK = "b.flowing" }
          }
        }
        """
    )
    marks = _exists(ws, "a.flowing", "b.flowing")
    code = _signalled(ws, ("a", "b"), "both outputs flowing", marks)
    said = ws.read_text("stderr")
    assert code == ExitCode.TERMINATED, said
    assert "resume is not possible: no checkpoint is stored for this task" in said, said
    last = said.strip().splitlines()[-1]
    assert not ("b" in last.split("`")[1].split() and "resumes from" in last), last


@pytest.mark.timeout(120)
def test_an_input_outliving_an_output_that_left_is_not_said_to_have_ended_its_stream(
    ws: Workspace,
) -> None:
    """The output exits 3 mid-stream and the input, deaf to SIGTERM, is killed at
    stop_grace: the warning said it did not exit "after the end of its stream", which
    never ended (the output broke it)."""
    ws.python_script("input.py", DEAF_INPUT)
    ws.python_script("output.py", CRASHING_OUTPUT)
    ws.task("./input.py", "./output.py", settings='stop_grace = "1s"')
    done = ws.run("run", "t")
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert "after the end of its stream" not in done.stderr, done.stderr
    assert (
        "input './input.py' did not exit within stop_grace (1 s) after output './output.py' "
        "left the stream, killing it" in done.stderr
    ), done.stderr


# One envelope and the checkpoint after the one it resumed from (1 on a first run).
NEXT_CHECKPOINT_INPUT = r"""
import json, sys
command = json.loads(sys.stdin.buffer.readline())
out = sys.stdout
out.write('{"status":"ready","protocol":1,"features":["checkpoints"]}\n')
out.write('{"data":1,"metadata":{}}\n{"checkpoint":%d}\n' % ((command.get("state") or 0) + 1))
out.flush()
"""


@pytest.mark.timeout(120)
def test_a_run_that_could_store_nothing_says_the_stored_checkpoint_is_unchanged(
    ws: Workspace,
) -> None:
    """Its output acknowledged checkpoint 2, which could not be written (a directory
    where the state writes its temporary file, as a read-only directory or a full disk
    would refuse it): the summary said `1 checkpoint(s) acknowledged, stored null` and
    --json `last_checkpoint: null`, while checkpoint 1 is still stored and resumed from."""
    ws.python_script("input.py", NEXT_CHECKPOINT_INPUT)
    ws.python_script("output.py", ACK_OUTPUT)
    ws.task("./input.py", "./output.py", state=True)
    assert ws.run("run", "t").returncode == 0
    (ws.root / "state" / ".t.json.tmp").mkdir()
    done = ws.run("run", "t")
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert "stored null" not in done.stderr, done.stderr
    assert (
        "1 checkpoint(s) acknowledged, none stored: the stored one is unchanged (1)" in done.stderr
    ), done.stderr
    code, doc, err = ws.run_json("run", "t")
    assert code == ExitCode.FAILURE, err
    task = doc["tasks"][0]
    assert (task["last_checkpoint"], task["stored_checkpoint"]) == (None, 1), task
    assert ws.run("state", "show", "t").stdout.strip() == "1"
