"""An output whose kind is not what dstream remembers of it: the describe cache keys it
by its executable's path, inode, size and modification time, but a wrapper script
(`exec dotnet Output.dll`) or an output whose behaviour depends on its config may
answer with a handshake in one run and write none in the next, or the other way round.

What dstream remembers only spares it a wait: a checkpoint frame reaches an output only
once that output's own handshake in this run said it acknowledges them (an output
without one takes every stdin line for a message, and an original one writes it
to its sink as one)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.workspace import Workspace

# Reads its mode from the file `mode` beside it: "p1" writes a protocol-1 ready line and
# acknowledges checkpoints; "none" writes nothing on stdout, as an original output, and
# appends every stdin line to got.jsonl (checkpoint frames too: it takes them for
# messages). In "p1" it appends only what is not a checkpoint frame.
SWITCHING_OUTPUT = r"""
import json, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
sys.stdin.buffer.readline()
mode = (here / "mode").read_text().strip()
got = open(here / "got.jsonl", "ab")
if mode == "p1":
    print('{"status":"ready","protocol":1,"features":["checkpoints"]}', flush=True)
for line in sys.stdin.buffer:
    frame = json.loads(line)
    if mode == "p1" and "checkpoint" in frame and "data" not in frame:
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
    else:
        got.write(line)
        got.flush()
"""


def _switching_task(ws: Workspace) -> Path:
    """Task t: 4 envelopes of dstream-counter, a checkpoint after every 2nd, into the
    switching output (its first line is waited for 10 s at most, its start_timeout)."""
    out = ws.python_script("out.py", SWITCHING_OUTPUT)
    ws.counter_task("t", "./out.py", count=4, checkpoint_every=2, settings='start_timeout = "10s"')
    return out


def _set_mode(ws: Workspace, mode: str) -> None:
    """The output's mode for the next run, which starts the stream from the beginning."""
    (ws.root / "mode").write_text(mode + "\n")
    (ws.root / "got.jsonl").unlink(missing_ok=True)
    shutil.rmtree(ws.root / "state", ignore_errors=True)


def test_an_output_that_no_longer_answers_gets_no_checkpoint_frame(ws: Workspace) -> None:
    """It answered with a protocol-1 ready line in its first run, so dstream remembers it
    as an output that acknowledges; in the next it writes nothing on stdout. It was
    waited for 5 s, then given checkpoint frames on the strength of what was remembered,
    and wrote them to its sink as messages (the run said so only at debug level)."""
    _switching_task(ws)
    _set_mode(ws, "p1")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    assert doc["tasks"][0]["checkpoints_acknowledged"] == 2, doc

    _set_mode(ws, "none")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    task = doc["tasks"][0]
    got = ws.json_lines("got.jsonl")
    assert [line for line in got if "data" not in line] == [], got
    assert len(got) == 4, got
    assert task["counters"]["checkpoints_withheld"] == 2, task
    assert task["resumable"] is False, task
    # Said at the default level, naming the output and what dstream does now.
    warning = (
        "[warning] task t: output './out.py' answered with a handshake in an earlier "
        "run, but wrote nothing within 10 s in this one"
    )
    assert warning in err, err
    assert "checkpoint frames are withheld from it until it answers" in err, err
