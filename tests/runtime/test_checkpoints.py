"""Checkpoints are opaque bytes (issue 17, point 3): whatever JSON value an input writes
is stored and handed back byte for byte, acknowledgements are compared byte-exact, and
an acknowledgement may carry fields dstream does not know. Real `dstream run` processes
with providers written in sh and Python."""

from __future__ import annotations

import orjson
import pytest

from tests.providers import ECHO_OUTPUT, SHELL_OUTPUT
from tests.workspace import Workspace

# An input that records the "state" it was given (as raw text, so nothing is rounded
# by a JSON parser) and writes one data frame and the checkpoint in $CP.
RECORDING_INPUT = r"""
import os, sys
command = sys.stdin.buffer.readline()
with open("commands.log", "ab") as log:
    log.write(command)
out = sys.stdout.buffer
out.write(b'{"status":"ready"}\n{"data":1}\n' + os.environ["CP"].encode() + b"\n")
"""


def _task(ws: Workspace, output: str, checkpoint: str, settings: str = "") -> None:
    ws.python_script("input.py", RECORDING_INPUT)
    ws.task("./input.py", output, state=True, input_env={"CP": checkpoint}, settings=settings)


def _state_given(ws: Workspace, run: int) -> bytes:
    """The raw `"state":...` member of the command line of the `run`-th run (1-based)."""
    line = ws.read_text("commands.log").splitlines()[run - 1].encode()
    start = line.index(b'"state":') + len(b'"state":')
    return line[start : line.rindex(b"}")]


@pytest.mark.parametrize(
    "value",
    [
        "18446744073709551617",  # above 2^64: a JSON layer rounds it to a float
        "0.1000000000000000000000000001",  # a long decimal: a double keeps 0.1
        "1e400",  # beyond a double: one JSON layer refuses it, another makes it inf
        "5000.0",  # not the same text as 5000
        '{"lsn":"0/16B3748","seq":123456789012345678901234567890}',
    ],
)
def test_a_checkpoint_is_stored_and_handed_back_byte_for_byte(ws: Workspace, value: str) -> None:
    ws.script("output.sh", SHELL_OUTPUT)
    _task(ws, "./output.sh", '{"checkpoint":' + value + "}")
    first = ws.run("run", "t")
    assert first.returncode == 0, first.stderr
    assert value.encode() in (ws.root / "state" / "t.json").read_bytes()
    shown = ws.run("state", "show", "t")
    assert value in shown.stdout, shown.stderr
    second = ws.run("run", "t")
    assert second.returncode == 0, second.stderr
    assert _state_given(ws, 2) == value.encode()


# An output that echoes every checkpoint line through `sed` expression $SED.
SED_OUTPUT = r"""
read -r command
echo '{"status":"ready","features":["checkpoints"]}'
while IFS= read -r line; do
  case "$line" in
    *'"checkpoint"'*) printf '%s\n' "$line" | sed "$SED" ;;
  esac
done
"""


def _acknowledged_once_then_resumed(ws: Workspace, last: object, raw: bytes) -> None:
    """Task "t" runs, its output acknowledges one checkpoint, `last`, and the next run
    is handed it as `raw`, byte for byte."""
    done = ws.run("run", "t", "--json")
    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)["tasks"][0]
    assert summary["outcome"] == "completed", summary
    assert summary["checkpoints_acknowledged"] == 1, summary
    assert summary["last_checkpoint"] == last, summary
    ws.run("run", "t")
    assert _state_given(ws, 2) == raw


def _sed_output_task(ws: Workspace, checkpoint: str, sed: str) -> None:
    ws.script("output.sh", SED_OUTPUT)
    ws.python_script("input.py", RECORDING_INPUT)
    ws.task(
        "./input.py",
        "./output.sh",
        state=True,
        input_env={"CP": checkpoint},
        output_env={"SED": sed},
    )


@pytest.mark.parametrize(
    "sent, sed, shown",
    [
        ("18446744073709551617", "s/617/616/", "18446744073709551616"),
        ("5000", "s/5000/5000.0/", "5000.0"),
        ('{"a":1}', "s/:1/:1.0/", '{"a":1.0}'),
    ],
)
def test_an_ack_that_differs_by_one_byte_is_refused(
    ws: Workspace, sent: str, sed: str, shown: str
) -> None:
    _sed_output_task(ws, '{"checkpoint":' + sent + "}", sed)
    done = ws.run("run", "t")
    err = done.stderr
    assert done.returncode == 1, err
    assert f"output './output.sh' acknowledged checkpoint {shown} which dstream never sent" in err
    assert not (ws.root / "state" / "t.json").exists()  # nothing stored


def test_the_last_ack_echoed_twice_moves_nothing_and_fails_nothing(ws: Workspace) -> None:
    """An output that writes its echo twice (sed's `p`): the second is neither new nor
    wrong. It failed the run saying the checkpoint was never sent, or older than one
    already acknowledged, neither of which was true."""
    _sed_output_task(ws, '{"checkpoint":42}', "p")
    _acknowledged_once_then_resumed(ws, 42, b"42")


def test_an_ack_with_fields_dstream_does_not_know_is_stored(ws: Workspace) -> None:
    _sed_output_task(ws, '{"checkpoint":42}', 's/}$/,"durable":true,"rows":1}/')
    _acknowledged_once_then_resumed(ws, 42, b"42")


# An output in Python: echoes every checkpoint line, whatever its size.
PY_OUTPUT = r"""
import sys
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(b'{"status":"ready","features":["checkpoints"]}\n')
out.flush()
for line in sys.stdin.buffer:
    if line.startswith(b'{"checkpoint"'):
        out.write(line)
        out.flush()
"""

BIG_INPUT = r"""
import sys
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(b'{"status":"ready"}\n{"data":1}\n')
out.write(b'{"checkpoint":"' + b"x" * (20 << 20) + b'"}\n')
"""


def test_an_ack_as_large_as_max_frame_size_allows_is_read(ws: Workspace) -> None:
    """One size limit for every stream: a 20 MiB checkpoint passes the pump under
    max_frame_size = 32 MiB, so its 20 MiB echo is read and stored too."""
    ws.python_script("input.py", BIG_INPUT)
    ws.python_script("output.py", PY_OUTPUT)
    ws.config(
        """
        state { path = "state" }
        task "t" {
          max_frame_size = "32MiB"
          stop_grace = "5s"
          input  { provider_path = "./input.py" }
          output { provider_path = "./output.py" }
        }
        """
    )
    done = ws.run("run", "t", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    stored = (ws.root / "state" / "t.json").read_bytes()
    assert b'"x' + b"x" * 100 in stored and len(stored) > 20 << 20


def test_whitespace_around_the_value_is_not_part_of_it(ws: Workspace) -> None:
    # The frame has spaces around the value, the echo has none: the same checkpoint.
    _sed_output_task(ws, '{ "checkpoint" :  [1, 2]  }', 's/.*/{"checkpoint":[1, 2]}/')
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    ws.run("run", "t")
    assert _state_given(ws, 2) == b"[1, 2]"


def test_a_passthrough_task_stores_the_checkpoints_its_output_acknowledges(
    ws: Workspace,
) -> None:
    """`passthrough = true`: the pump forwards the bytes unseen (splice), so it cannot
    know which checkpoints it sent; the output's acknowledgements are stored as echoed.
    (It failed at the first acknowledgement: "acknowledged checkpoint ... which dstream
    never sent".)"""
    ws.python_script("output.py", PY_OUTPUT)
    _task(ws, "./output.py", '{"checkpoint":{"lsn":"0/16B3748"}}', settings="passthrough = true")
    _acknowledged_once_then_resumed(ws, {"lsn": "0/16B3748"}, b'{"lsn":"0/16B3748"}')


CHECKPOINTING_INPUT = r"""
import sys
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(b'{"status":"ready","protocol":1,"features":["checkpoints"]}\n')
out.write(b'{"data":1}\n{"checkpoint":7}\n')
"""


def test_an_output_that_answers_nothing_is_waited_for_once(ws: Workspace) -> None:
    """Before the first checkpoint frame, dstream waits for an output it has never seen
    to answer (legacy.py): `cat` answers nothing before its input, so its first run
    waits for that (5 s at most), then takes it for an output without a handshake, which
    gets no checkpoint frames (it would echo them, and an original output would take them
    for messages). The describe cache then knows it: the next run does not wait."""
    ws.script("output.sh", ECHO_OUTPUT)
    ws.python_script("input.py", CHECKPOINTING_INPUT)
    ws.task("./input.py", "./output.sh", state=True)
    waits = []
    for _ in range(2):
        done = ws.run("run", "t", "--json", "--log-level", "debug")
        assert done.returncode == 0, done.stderr
        summary = orjson.loads(done.stdout)["tasks"][0]
        assert summary["last_checkpoint"] is None, summary
        assert summary["counters"]["checkpoints_withheld"] == 1, summary
        waits.append(
            (
                "waiting up to 5 s for output './output.sh' to answer" in done.stderr,
                "output './output.sh' did not answer within 5 s" in done.stderr,
            )
        )
    assert waits == [(True, True), (False, False)], waits


def test_an_output_that_dies_before_answering_is_not_waited_for(ws: Workspace) -> None:
    """The wait for an output's first line ends when its stdout closes: an output that
    exits at once fails the run at once. (Its closed stdout looked like a first line on
    its way, and the run waited the whole OUTPUT_HANDSHAKE_WAIT for it: the debug line
    of a wait that ran out.)"""
    ws.script("output.sh", "#!/bin/sh\nexit 3\n")
    ws.python_script("input.py", CHECKPOINTING_INPUT)
    ws.task("./input.py", "./output.sh", state=True)
    done = ws.run("run", "t", "--json", "--log-level", "debug")
    assert done.returncode == 1, done.stderr
    assert orjson.loads(done.stdout)["tasks"][0]["exit_codes"]["output"] == 3
    assert "did not answer within" not in done.stderr, done.stderr
