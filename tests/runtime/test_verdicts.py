"""How a run ends: the verdict on an output that did not take the whole stream, did not
confirm it, or does not exit, and on a line too long to read. Each was a run that
exited 0 after losing data, or one that hung. Real `dstream run` processes with
providers written in sh and Python."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.providers import ACK_OUTPUT
from tests.workspace import CliResult, Workspace

READY = '{"status":"ready","protocol":1,"features":["checkpoints"]}'

# 20000 envelopes and a checkpoint after every 1000: far more than a pipe holds.
LONG_INPUT = f"""
echo '{READY}'
i=0
while [ $i -lt 20000 ]; do
  i=$((i+1))
  echo "{{\\"data\\":$i,\\"metadata\\":{{}}}}"
  [ $((i%1000)) -eq 0 ] && echo "{{\\"checkpoint\\":$i}}"
done
"""

# One envelope and its checkpoint, then a long pause before the second pair: the
# stream is still open for a long while after the first checkpoint.
PAUSING_INPUT = f"""
echo '{READY}'
echo '{{"data":1,"metadata":{{}}}}'
echo '{{"checkpoint":1}}'
sleep 30
echo '{{"data":2,"metadata":{{}}}}'
echo '{{"checkpoint":2}}'
"""


def _run(
    ws: Workspace, input_body: str, output_body: str, settings: str = "", **options: Any
) -> CliResult:
    """`dstream run t --json` of the two scripts as the input and the output."""
    ws.script("in.sh", input_body)
    ws.script("out.sh", output_body)
    ws.task("./in.sh", "./out.sh", state=True, settings=settings)
    return ws.run("run", "t", "--json", timeout=60, **options)


def _summary(done: CliResult) -> dict[str, Any]:
    task: dict[str, Any] = orjson.loads(done.stdout)["tasks"][0]
    return task


def _error(done: CliResult) -> str:
    """The run's error as --json gives it: its message, then its hint."""
    error = _summary(done)["error"]
    assert isinstance(error, dict), done.stdout
    return f"{error['message']}\n{error.get('hint', '')}"


@pytest.mark.parametrize(
    "settings, env",
    [("", {}), ("passthrough = true", {"DSTREAM_WARM_START": "0"})],
    ids=["validating", "passthrough"],
)
def test_an_output_that_closes_its_input_and_lingers_fails_the_run(
    ws: Workspace, settings: str, env: dict[str, str]
) -> None:
    """It stops reading after 3 lines and sleeps: dstream kills it at stop_grace. The
    run exited 0 ("completed", 0 frames) because a killed output was not a failure."""
    output = f"""
    echo '{READY}'
    head -n 3 >/dev/null
    exec 0<&-
    exec sleep 1000
    """
    done = _run(ws, LONG_INPUT, output, f'stop_grace = "1s"\n{settings}', env=env)
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' closed its input before the stream ended" in _error(done)
    assert _summary(done)["outcome"] == "failed"


@pytest.mark.parametrize(
    "output",
    [
        f"echo '{READY}'\nread -r cmd; read -r d; read -r c; echo \"$c\"\nexit 0\n",
        f"echo '{READY}'\nexit 0\n",
    ],
    ids=["after-one-checkpoint", "at-once"],
)
def test_an_output_that_exits_0_while_the_stream_is_open_fails_the_run(
    ws: Workspace, output: str
) -> None:
    """The input was still writing (it pauses 30 s): it was stopped, and the run called
    itself completed."""
    done = _run(ws, PAUSING_INPUT, output, 'stop_grace = "1s"')
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' closed its input before the stream ended" in _error(done)
    assert _summary(done)["exit_codes"]["output"] == 0


TEN_INPUT = f"""
echo '{READY}'
for i in 1 2 3 4 5 6 7 8 9 10; do echo "{{\\"data\\":$i,\\"metadata\\":{{}}}}"; done
echo '{{"checkpoint":10}}'
"""


def test_an_output_that_exits_0_without_acknowledging_fails_the_run(ws: Workspace) -> None:
    """It declares checkpoints, reads 3 of the 11 lines and exits 0 after the end of the
    stream: it never confirmed the delivery, so the run must not say it succeeded."""
    output = f"echo '{READY}'\nsleep 0.5\nhead -n 3 > got.txt\nexit 0\n"
    done = _run(ws, TEN_INPUT, output)
    assert done.returncode == 1, done.stderr
    assert (
        "output './out.sh' exited without acknowledging checkpoint 10, the last one it was sent"
        in _error(done)
    )
    # The first run stores no checkpoint: the next starts where the input starts.
    assert "no checkpoint is stored for this task" in _error(done)
    assert _summary(done)["last_checkpoint"] is None
    assert _summary(done)["resumable"] is False


def test_an_output_that_exits_0_without_acknowledging_leaves_the_stored_checkpoint(
    ws: Workspace,
) -> None:
    """The same output on a task with checkpoint 3 stored: the run fails, and what the
    output did not confirm is sent again by the next run, which resumes from 3."""
    ws.script("in.sh", TEN_INPUT)
    ws.script("out.sh", f"echo '{READY}'\nsleep 0.5\nhead -n 3 > got.txt\nexit 0\n")
    ws.task("./in.sh", "./out.sh", state=True)
    assert ws.run("state", "set", "t", "3").returncode == 0
    done = ws.run("run", "t", "--json", timeout=60)
    assert done.returncode == 1, done.stderr
    assert "so the next run sends the data after it again" in _error(done)
    assert _summary(done)["resumable"] is True
    assert ws.run("state", "show", "t").stdout.strip() == "3"


def test_an_original_output_that_exits_0_early_is_not_judged(ws: Workspace) -> None:
    """An original output (a bare ready line) acknowledges nothing: dstream cannot tell
    what it kept, and the run ends as it did in the original DStream."""
    output = 'read -r cmd\necho \'{"status":"ready"}\'\nsleep 0.5\nhead -n 3 > got.txt\n'
    done = _run(ws, TEN_INPUT, output)
    assert done.returncode == 0, done.stderr
    assert _summary(done)["resumable"] is False


# Ten envelopes, no checkpoint: nothing for an output to acknowledge.
TEN_UNCHECKED = f"""
echo '{READY}'
for i in 1 2 3 4 5 6 7 8 9 10; do echo "{{\\"data\\":$i,\\"metadata\\":{{}}}}"; done
"""


@pytest.mark.parametrize(
    "ready",
    ['echo \'{"status":"ready","protocol":1}\'', 'echo \'{"status":"ready"}\'', ""],
    ids=["protocol-1", "original-ready-line", "original-silent"],
)
def test_an_output_that_exits_0_leaving_envelopes_unread_fails_the_run(
    ws: Workspace, ready: str
) -> None:
    """It reads one envelope (sh's `read` takes one line, no more) and exits 0 after
    the end of the stream: nine envelopes are still in its stdin pipe, lost. Nothing
    acknowledges anything here, yet dstream can see the loss: the run fails, saying how
    much was never read. An original output's loss is the same loss."""
    output = f"read -r cmd\n{ready}\nread -r one\nsleep 0.5\nexit 0\n"
    done = _run(ws, TEN_UNCHECKED, output)
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' exited with code 0 leaving 9 frames (" in _error(done), _error(done)
    assert _summary(done)["exit_codes"]["output"] == 0


# Echoes each checkpoint; after the end of the stream writes a 200 KiB line, more than
# a pipe holds, then says so on stderr.
LONG_LINE_OUTPUT = f"""#!/usr/bin/env python3
import sys
print('{READY}', flush=True)
for line in sys.stdin:
    if line.startswith('{{"checkpoint"'):
        sys.stdout.write(line)
        sys.stdout.flush()
sys.stdout.write("Z" * (200 * 1024) + "\\n")
sys.stdout.flush()
sys.stderr.write("output done\\n")
"""

SHORT_INPUT = f"""
echo '{READY}'
echo '{{"data":1,"metadata":{{}}}}'
echo '{{"checkpoint":1}}'
"""


def test_an_output_line_longer_than_max_frame_size_fails_at_once(ws: Workspace) -> None:
    """The error was recorded, but nothing read the output's stdout any more: it blocked
    writing, and the run waited for it for ever."""
    done = _run(ws, SHORT_INPUT, LONG_LINE_OUTPUT, 'max_frame_size = "1KiB"\nstop_grace = "2s"')
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' wrote a line longer than 1024 bytes" in _error(done)


def test_an_ack_longer_than_max_frame_size_is_refused(ws: Workspace) -> None:
    """A 5000-byte acknowledgement (other members are allowed) under max_frame_size =
    1KiB: it was read whole and stored because it arrived in one read."""
    output = f"""
    echo '{READY}'
    read -r cmd; read -r d; read -r c
    printf '{{"checkpoint":1,"pad":"%s"}}\\n' "$(head -c 5000 /dev/zero | tr '\\0' x)"
    cat >/dev/null
    """
    done = _run(ws, SHORT_INPUT, output, 'max_frame_size = "1KiB"')
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' wrote a line longer than 1024 bytes" in _error(done)
    assert not (ws.root / "state" / "t.json").exists()


def test_an_output_that_does_not_exit_after_the_stream_is_killed_at_flush_timeout(
    ws: Workspace,
) -> None:
    """It reads to the end of the stream and sleeps: the run waited for ever, saying
    only "running, 0 envelopes/s"."""
    output = f"echo '{READY}'\ncat >/dev/null\nexec sleep 1000\n"
    done = _run(ws, LONG_INPUT, output, 'flush_timeout = "3s"')
    assert done.returncode == 1, done.stderr
    assert (
        "output './out.sh' did not exit within flush_timeout (3 s) after the end of the stream"
        in _error(done)
    )
    assert _summary(done)["outcome"] == "failed"


def test_the_progress_line_says_the_run_waits_for_the_output(ws: Workspace) -> None:
    output = f"echo '{READY}'\ncat >/dev/null\nexec sleep 1000\n"
    ws.script("in.sh", SHORT_INPUT)
    ws.script("out.sh", output)
    ws.task("./in.sh", "./out.sh", settings='flush_timeout = "3s"')
    done = ws.run("run", "t", "--progress-interval", "1", timeout=60)
    assert done.returncode == 1, done.stderr
    assert (
        "task t: waiting for output './out.sh' to exit after the end of the stream" in done.stderr
    )


NEWER = "speaks protocol 2; this dstream speaks protocol 1 only"
NOT_A_NUMBER = 'sent a ready line whose "protocol" is "1", not a protocol number'
NULL = 'sent a ready line whose "protocol" is null, not a protocol number'


@pytest.mark.parametrize(
    "role, ready, said",
    [
        ("input", '{"status":"ready","protocol":2}', NEWER),
        ("output", '{"status":"ready","protocol":"1"}', NOT_A_NUMBER),
        # No original provider writes a null protocol: it ran as one all the same.
        ("input", '{"status":"ready","protocol":null}', NULL),
        ("output", '{"status":"ready","protocol":null}', NULL),
    ],
)
def test_a_handshake_in_a_protocol_dstream_does_not_speak_is_refused(
    ws: Workspace, role: str, ready: str, said: str
) -> None:
    """Both ran as protocol 1, silently."""
    speaking = f"echo '{ready}'\necho '{{\"data\":1}}'\ncat >/dev/null\n"
    plain = SHORT_INPUT if role == "output" else f"echo '{READY}'\ncat >/dev/null\n"
    inputs, outputs = (speaking, plain) if role == "input" else (plain, speaking)
    done = _run(ws, inputs, outputs, 'stop_grace = "1s"')
    assert done.returncode == 1, done.stderr
    assert f"{role} './{'in' if role == 'input' else 'out'}.sh' {said}" in _error(done)
    if role == "input" and said == NEWER:
        assert "upgrade dstream" in _error(done)
    if said == NULL:  # what to write instead
        assert '"protocol" out' in _error(done), _error(done)


def test_a_provider_killed_by_a_signal_is_said_so(ws: Workspace) -> None:
    """It read "exited with code -9"; --json keeps the number and names the signal."""
    done = _run(ws, f"echo '{READY}'\necho '{{\"data\":1}}'\nkill -9 $$\n", SHELL_OUTPUT_ACK)
    assert done.returncode == 1, done.stderr
    assert "input './in.sh' was killed by SIGKILL (signal 9)" in _error(done)
    summary = _summary(done)
    assert summary["exit_codes"] == {"input": -9, "output": 0}
    assert summary["exit_signals"] == {"input": "SIGKILL", "output": None}


def test_an_output_failing_after_the_end_of_the_stream_is_said_so(ws: Workspace) -> None:
    """It read "exited with code 4 while receiving the stream": it had all of it."""
    done = _run(ws, SHORT_INPUT, f"echo '{READY}'\ncat >/dev/null\nexit 4\n")
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' exited with code 4 after the end of the stream" in _error(done)


# Acknowledges every checkpoint it reads, at once.
SHELL_OUTPUT_ACK = f"""
echo '{READY}'
while IFS= read -r line; do
  case "$line" in '{{"checkpoint"'*) printf '%s\\n' "$line" ;; esac
done
"""

NULL_INPUT = f"""
echo '{READY}'
echo '{{"data":1}}'
echo '{{"checkpoint":1}}'
echo '{{"checkpoint":null}}'
echo '{{"data":2}}'
"""


def test_a_null_checkpoint_is_an_invalid_frame(ws: Workspace) -> None:
    """It was stored and handed back as "state": null, which starts the input over."""
    done = _run(ws, NULL_INPUT, SHELL_OUTPUT_ACK)
    assert done.returncode == 1, done.stderr
    offset = len(f'{READY}\n{{"data":1}}\n{{"checkpoint":1}}\n')
    assert f"invalid frame from input './in.sh' at offset {offset}: checkpoint is null" in _error(
        done
    )
    assert _summary(done)["last_checkpoint"] == 1


def test_a_passthrough_task_does_not_store_a_null_checkpoint(ws: Workspace) -> None:
    done = _run(ws, NULL_INPUT, SHELL_OUTPUT_ACK, "passthrough = true")
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' acknowledged checkpoint null" in _error(done)
    stored = orjson.loads((ws.root / "state" / "t.json").read_bytes())
    assert stored["checkpoint"] == 1


@pytest.mark.parametrize(
    ("stderr", "hint"),
    [
        ("echo 'disk full' >&2\n", "the output's last stderr lines above may say why"),
        ("", "the output wrote nothing on stderr to say why"),
    ],
)
def test_the_hint_of_an_output_that_left_early_points_at_stderr_only_when_it_wrote_some(
    ws: Workspace, stderr: str, hint: str
) -> None:
    output = f"read -r cmd\necho '{READY}'\nread -r one\nread -r two\n{stderr}exit 0\n"
    ws.script("in.sh", "read -r cmd\necho '" + READY + "'\nwhile :; do echo '{\"data\":1}'; done\n")
    ws.script("out.sh", output)
    ws.task("./in.sh", "./out.sh")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert "closed its input before the stream ended" in done.stderr
    assert hint in done.stderr


@pytest.mark.parametrize(
    ("features", "frames", "noted"),
    [
        ('"features":["checkpoints"]', ['{"data":1}', '{"data":2}'], True),
        ('"features":["checkpoints"]', ['{"data":1}', '{"checkpoint":1}'], False),
        ('"features":[]', ['{"data":1}', '{"data":2}'], False),
        ('"features":["checkpoints"]', [], False),
    ],
)
def test_an_input_that_declares_checkpoints_and_sends_none_is_noted(
    ws: Workspace, features: str, frames: list[str], noted: bool
) -> None:
    """Nothing marks what such a run delivered: the next run sends it again. The run
    still completes (a finite input may end before its first checkpoint), but says so."""
    echoes = "".join(f"echo '{frame}'\n" for frame in frames)
    ready = f'{{"status":"ready","protocol":1,{features}}}'
    ws.script("in.sh", f"read -r cmd\necho '{ready}'\n{echoes}")
    ws.python_script("out.sh", ACK_OUTPUT)
    ws.task("./in.sh", "./out.sh")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    notes = doc["tasks"][0]["notes"]
    said = "the input declares checkpoints but sent none: none is stored"
    assert (said in " ".join(notes)) is noted, notes
    assert (said in err) is noted, err
