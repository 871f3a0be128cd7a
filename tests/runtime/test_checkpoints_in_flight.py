"""Checkpoints forwarded and not yet acknowledged are bounded (docs/delivery.md, "Checkpoints
in flight"): behind an output that acknowledges rarely, or only at the end, the pump
forwards at most _core.MAX_IN_FLIGHT_CHECKPOINTS of them, holds the newest one back,
and sends it once an acknowledgement makes room, or at the end of the stream. Real
`dstream run` processes with providers written in Python without the SDK."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import orjson

from dstream import _core
from tests.workspace import Workspace

DOCS = Path(__file__).resolve().parents[2] / "docs"
READY = b'{"status":"ready","protocol":1,"features":["checkpoints"]}\n'

# An input that writes $COUNT data frames, each followed by a checkpoint {"lsn":...}.
MANY_CHECKPOINTS_INPUT = r"""
import os, sys
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(READY)
count = int(os.environ["COUNT"])
for base in range(0, count, 1000):
    out.write(b"".join(
        b'{"data":1,"metadata":{}}\n{"checkpoint":{"lsn":"0/%08X"}}\n' % i
        for i in range(base, min(base + 1000, count))
    ))
""".replace("READY", repr(READY))

# An output that reads everything and acknowledges only the last checkpoint, at EOF.
ACK_AT_END_OUTPUT = r"""
import sys
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(READY)
out.flush()
last = None
for line in sys.stdin.buffer:
    if line.startswith(b'{"checkpoint"'):
        last = line
if last is not None:
    out.write(last)
""".replace("READY", repr(READY))

# Runs the command after the file name and writes into that file the peak resident set
# (KiB) of its largest process: dstream itself (its providers are far smaller).
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)

COUNT = 3_000_000
# Generous: dstream peaks at about 20 MB; holding 3 M checkpoints took 394 MB.
PEAK_BOUND_MB = 100


def test_millions_of_unacknowledged_checkpoints_keep_memory_flat(ws: Workspace) -> None:
    """An endless change stream behind an output that acknowledges only at the end must
    not grow dstream until it is killed: forwarded and not yet acknowledged checkpoints
    are bounded, the others are coalesced, and the last one still reaches the output."""
    ws.python_script("input.py", MANY_CHECKPOINTS_INPUT)
    ws.python_script("output.py", ACK_AT_END_OUTPUT)
    ws.task("./input.py", "./output.py", state=True, input_env={"COUNT": str(COUNT)})
    peak = ws.root / "peak_kb"
    prefix = (sys.executable, "-c", PEAK_RSS, str(peak))
    done = ws.run("run", "t", "--json", prefix=prefix, timeout=300)
    assert done.returncode == 0, done.stderr
    peak_mb = int(peak.read_text()) / 1024
    assert peak_mb < PEAK_BOUND_MB, f"dstream peaked at {peak_mb:.0f} MB"
    task = orjson.loads(done.stdout)["tasks"][0]
    counters = task["counters"]
    assert counters["data_frames"] == COUNT, counters
    forwarded, coalesced = counters["checkpoint_frames"], counters["checkpoints_coalesced"]
    assert forwarded + coalesced == COUNT, counters
    assert coalesced > 0, counters
    assert task["last_checkpoint"] == {"lsn": f"0/{COUNT - 1:08X}"}, task


# An input that writes MAX + 10 checkpoints, each after a data frame, the last one
# "last", then {"data":"after"}; it then waits (60 s at most) for the output to have
# received "last" (the file $GOT), and ends with {"data":"saw"} ("gave-up": it did not).
HOLDING_INPUT = r"""
import os, sys, time
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(READY)
count = int(os.environ["MAX"]) + 10
for i in range(count - 1):
    out.write(b'{"data":%d}\n{"checkpoint":%d}\n' % (i, i))
out.write(b'{"data":"x"}\n{"checkpoint":"last"}\n{"data":"after"}\n')
out.flush()
got = os.environ["GOT"]
until = time.monotonic() + 60
while not os.path.exists(got) and time.monotonic() < until:
    time.sleep(0.01)
out.write(b'{"data":"saw"}\n' if os.path.exists(got) else b'{"data":"gave-up"}\n')
""".replace("READY", repr(READY))

# An output that acknowledges nothing until it has read {"data":"after"} (so the pump
# decided for every checkpoint before it with none acknowledged), then the last
# checkpoint it read, and every later one at once; it creates $GOT once "last" is
# acknowledged and keeps every line it read in $SEEN.
HOLDING_OUTPUT = r"""
import os, sys
sys.stdin.buffer.readline()
out = sys.stdout.buffer
out.write(READY)
out.flush()
seen, last, acking = [], None, False
for line in sys.stdin.buffer:
    seen.append(line)
    if line.startswith(b'{"checkpoint"'):
        last = line
        if acking:
            out.write(line)
            out.flush()
            if line == b'{"checkpoint":"last"}\n':
                open(os.environ["GOT"], "w").close()
    elif line == b'{"data":"after"}\n':
        out.write(last)
        out.flush()
        acking = True
with open(os.environ["SEEN"], "wb") as f:
    f.write(b"".join(seen))
""".replace("READY", repr(READY))


def test_a_held_checkpoint_goes_out_once_acknowledgements_make_room(ws: Workspace) -> None:
    """The pump forwards MAX checkpoints, none acknowledged, and holds the newest of the
    next ones back (the others are coalesced: the newest covers them). Once the output
    acknowledges, the held one goes out at once, after the data that followed it in the
    input, while the input is still streaming (it waits for it)."""
    most = _core.MAX_IN_FLIGHT_CHECKPOINTS
    ws.python_script("input.py", HOLDING_INPUT)
    ws.python_script("output.py", HOLDING_OUTPUT)
    files = {"GOT": str(ws.root / "got-last"), "SEEN": str(ws.root / "seen.jsonl")}
    ws.task(
        "./input.py",
        "./output.py",
        state=True,
        input_env={"MAX": str(most), **files},
        output_env=files,
    )
    done = ws.run("run", "t", "--json")
    assert done.returncode == 0, done.stderr
    task = orjson.loads(done.stdout)["tasks"][0]
    seen = (ws.root / "seen.jsonl").read_bytes().splitlines()
    # "last" came after the data that followed it, and before the input's end
    assert seen[-3:] == [b'{"data":"after"}', b'{"checkpoint":"last"}', b'{"data":"saw"}']
    checkpoints = [line for line in seen if line.startswith(b'{"checkpoint"')]
    assert len(checkpoints) == most + 1
    counters = task["counters"]
    assert counters["checkpoint_frames"] == most + 1, counters
    assert counters["checkpoints_coalesced"] == 9, counters
    assert counters["data_frames"] == most + 12, counters
    assert task["last_checkpoint"] == "last", task
    # the summary says so, in words
    (ws.root / "got-last").unlink()
    again = ws.run("run", "t")
    assert again.returncode == 0, again.stderr
    # calmly: it is no problem, even behind an output that acknowledges at once
    said = (
        f"9 checkpoint(s) coalesced into later ones while {most:,} sent ones awaited "
        "acknowledgement (those still in the pipes count too): nothing is lost, only the "
        "resume points are fewer"
    )
    assert said in again.stderr, again.stderr


def test_the_docs_state_the_limit() -> None:
    """The limit is the core's constant: the paragraphs that state it say its value."""
    delivery = (DOCS / "delivery.md").read_text()
    flow = delivery.split("## The checkpoint flow", 1)[1].split("### Checkpoints are opaque", 1)[0]
    protocol = (DOCS / "protocol.md").read_text()
    forwarding = next(p for p in protocol.split("\n\n") if "checkpoints_coalesced" in p)
    for text in (flow, forwarding):
        stated = set(re.findall(r"\b\d{1,3}(?:,\d{3})+\b", text))
        assert stated == {f"{_core.MAX_IN_FLIGHT_CHECKPOINTS:,}"}, text
