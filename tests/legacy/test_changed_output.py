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
import signal
from pathlib import Path

import orjson

from dstream.runtime.legacy import OUTPUT_HANDSHAKE_WAIT
from tests.services import wait_until
from tests.workspace import Run, Workspace

# Reads its mode from the file `mode` beside it: "p1" writes a protocol-1 ready line and
# acknowledges checkpoints; "late" does so too, but writes its ready line only once it
# read its first frame (so surely after the stream started); "none" writes nothing on
# stdout, as an original output, and appends every stdin line to got.jsonl (checkpoint
# frames too: it takes them for messages). The others append only what is not a
# checkpoint frame. "crash" exits 3 before its first line; "slow" touches `started` and
# writes nothing, reading its stdin to its end (it starts slowly).
SWITCHING_OUTPUT = r"""
import json, pathlib, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.stdin.buffer.readline()
mode = (here / "mode").read_text().strip()
if mode == "crash":  # once the input's frames wait in its pipe (WRITING_INPUT)
    while not (here / "written").exists():
        time.sleep(0.01)
    sys.exit(3)
if mode == "slow":  # it starts slowly: it never answers before dstream stops it
    (here / "started").touch()
    for line in sys.stdin.buffer:
        pass
    sys.exit(0)
got = open(here / "got.jsonl", "ab")
READY = '{"status":"ready","protocol":1,"features":["checkpoints"]}'
if mode == "p1":
    print(READY, flush=True)
for line in sys.stdin.buffer:
    if mode == "late":
        print(READY, flush=True)
        mode = "p1"
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


def test_an_output_that_answers_now_is_not_said_to_write_no_handshake(ws: Workspace) -> None:
    """It wrote nothing in its first run, so dstream remembers it as an output without a
    handshake and does not wait for it; in the next its first stdout line is a protocol-1
    ready line (written once the stream started). It is an output that acknowledges:
    the run said "does not acknowledge checkpoints (its stdout did not start with a
    handshake) ... resume is not possible", which was false, and said nothing of the
    checkpoint frames withheld before its answer."""
    _switching_task(ws)
    _set_mode(ws, "none")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    assert doc["tasks"][0]["resumable"] is False, doc

    _set_mode(ws, "late")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    task = doc["tasks"][0]
    assert "does not acknowledge checkpoints" not in err, err
    warning = (
        "[warning] task t: output './out.py' wrote a handshake that acknowledges "
        "checkpoints, though it wrote none in an earlier run"
    )
    assert warning in err, err
    withheld = task["counters"]["checkpoints_withheld"]
    assert withheld + task["checkpoints_acknowledged"] == 2, task
    notes = [note for note in task["notes"] if "withheld" in note]
    if withheld:  # (as the pump had read them when its answer came)
        assert len(notes) == 1, task
        assert f"{withheld} checkpoint frame" in notes[0], notes
        assert "the next run waits up to 10 s (start_timeout) for its answer" in notes[0]
    else:
        assert notes == [], task


# It answers only once it read its first frame while the file `late` is beside it, else
# OUTPUT_HANDSHAKE_WAIT + 1 s after its command line (before any frame: a slow start);
# it acknowledges every checkpoint.
SLOW_OUTPUT = f"""
import json, pathlib, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.stdin.buffer.readline()
READY = '{{"status":"ready","protocol":1,"features":["checkpoints"]}}'
late = (here / "late").exists()
if not late:
    time.sleep({OUTPUT_HANDSHAKE_WAIT + 1})
    print(READY, flush=True)
for line in sys.stdin.buffer:
    if late:
        print(READY, flush=True)
        late = False
    frame = json.loads(line)
    if "checkpoint" in frame and "data" not in frame:
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
"""


def test_checkpoints_withheld_from_an_output_that_answered_late_are_reported(
    ws: Workspace,
) -> None:
    """Its first run: dstream has not seen it, waits OUTPUT_HANDSHAKE_WAIT for it, and
    starts the stream without checkpoint frames; it answers after that (a protocol-1
    ready line), and gets those that come after its answer, none here. The run said
    "completed", "frames 4 (4 data, 0 checkpoints)" and nothing else, while --json had
    "checkpoints_withheld": 2; the next run sent everything again. Now the summary says
    what was withheld, why, and what the next run does: it waits for the output's
    answer (start_timeout), so the slow start gets every checkpoint."""
    ws.python_script("out.py", SLOW_OUTPUT)
    ws.counter_task("t", "./out.py", count=4, checkpoint_every=2)
    (ws.root / "late").touch()
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    note = (
        "  note     output './out.py' answered only after the stream had started (dstream "
        f"waits {OUTPUT_HANDSHAKE_WAIT:g} s for the first line of an output it has not seen "
        "answer): the 2 checkpoint frames the input wrote were all withheld from it"
    )
    assert note in done.stderr, done.stderr
    assert "the next run waits up to 30 s (start_timeout) for its answer" in done.stderr

    (ws.root / "late").unlink()
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    task = doc["tasks"][0]
    assert task["counters"]["checkpoints_withheld"] == 0, task
    assert task["checkpoints_acknowledged"] == 2, task
    assert [note for note in task["notes"] if "withheld" in note] == [], task


NOT_ACKNOWLEDGING = "does not acknowledge checkpoints"


# Writes 2 envelopes and a checkpoint after each (from where its state says), then
# touches `written` and ends: its frames wait in its stdout pipe.
WRITING_INPUT = r"""
import json, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
state = json.loads(sys.stdin.buffer.readline()).get("state") or {"n": 0}
out = sys.stdout
print('{"status":"ready","protocol":1,"features":["checkpoints"]}')
for n in range(state["n"] + 1, state["n"] + 3):
    print(json.dumps({"data": n, "metadata": {}}))
    print(json.dumps({"checkpoint": {"n": n}}))
out.flush()
(here / "written").touch()
"""


def _stored_once(ws: Workspace, settings: str = "") -> dict[str, object]:
    """A first run in mode p1, which stores a checkpoint: the one it stored."""
    ws.python_script("out.py", SWITCHING_OUTPUT)
    ws.python_script("in.py", WRITING_INPUT)
    ws.task("./in.py", "./out.py", state=True, settings=settings)
    _set_mode(ws, "p1")
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    stored = doc["tasks"][0]["stored_checkpoint"]
    assert stored is not None, doc
    return stored  # type: ignore[no-any-return]


def test_an_output_that_crashes_before_it_answers_is_not_said_to_lack_a_handshake(
    ws: Workspace,
) -> None:
    """dstream remembers it acknowledging; in this run it exits before its first line.
    It said nothing of its kind: no warning that it does not acknowledge checkpoints,
    and the run, which stored nothing new, resumes from the stored checkpoint (it was
    said "resume is not possible" with `resumable` false, though the next run resumed)."""
    stored = _stored_once(ws)
    (ws.root / "mode").write_text("crash\n")
    (ws.root / "written").unlink()
    code, doc, err = ws.run_json("run", "t")
    assert code == 1, err
    task = doc["tasks"][0]
    assert task["outcome"] == "failed", task
    assert task["stored_checkpoint"] == stored, task
    assert task["resumable"] is True, task
    assert NOT_ACKNOWLEDGING not in err, err
    # The text summary says the same: the stored checkpoint is unchanged.
    (ws.root / "written").unlink()
    text = ws.run("run", "t")
    assert text.returncode == 1, text.stderr
    assert "resume is not possible" not in text.stderr, text.stderr
    assert "no checkpoint acknowledged: the stored one is unchanged" in text.stderr, text.stderr


def test_an_output_stopped_before_it_answers_resumes_from_the_stored_checkpoint(
    ws: Workspace,
) -> None:
    """dstream remembers it acknowledging; in this run it starts slowly and is stopped
    (SIGINT) while the stream waits for its first line. Its error said the next run
    resumes from the stored checkpoint while the stop line said none was stored, after
    a warning that it does not acknowledge checkpoints."""
    # Long enough a wait that only the stop ends it; a short stop_grace for the output.
    stored = _stored_once(ws, 'start_timeout = "600s"\nstop_grace = "2s"')
    (ws.root / "mode").write_text("slow\n")
    (ws.root / "written").unlink()
    run = Run(ws, "run", "t", "--json", "--log-level", "debug")
    try:
        # The pump is built (the input's frames wait in its pipe): the stream now waits
        # for the output's first line, which does not come.
        wait_until("the output to start", lambda: (ws.root / "started").exists())
        wait_until("the input to write", lambda: (ws.root / "written").exists())
        wait_until("the pump to be built", lambda: run.says("the stream is pumped from"))
        run.signal(signal.SIGINT)
        code = run.wait()
    finally:
        run.kill()
    err = run.stderr()
    assert code == 130, err
    task = orjson.loads(ws.read_text("stdout"))["tasks"][0]
    assert task["stored_checkpoint"] == stored, task
    assert task["resumable"] is True, task
    assert NOT_ACKNOWLEDGING not in err, err
