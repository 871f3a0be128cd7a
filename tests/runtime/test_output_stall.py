"""An output provider that stops reading its stdin (alive, reading nothing) is named:
the progress line says the stream waits on it and for how long, the metrics give the
seconds (`dstream_output_stall_seconds`), and a warning says when the stall passed
OUTPUT_STALL and when it ended (docs/operations.md). Before, the progress line said
"0 envelopes/s" for ever and nothing told a stalled output from an idle input."""

from __future__ import annotations

import re

import pytest

from dstream.runtime.monitor import OUTPUT_STALL
from tests.runtime.conftest import scrape
from tests.services import wait_until
from tests.workspace import Run, Workspace

# Handshake, then nothing read until the file `go` exists; then everything, dropped.
STALLING_OUTPUT = r"""
import os, sys, time
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
while sys.stdin.buffer.read(1 << 16):
    pass
"""

LABEL = "output './stall.py'"


def _stall_gauge(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('dstream_output_stall_seconds{task="t"} '):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no dstream_output_stall_seconds of t in:\n{text}")


def _after(text: str, marker: str) -> str:
    """What `text` says after the last `marker` in it ("" before there is one)."""
    return text.rsplit(marker, 1)[1] if marker in text else ""


@pytest.mark.timeout(180)
def test_an_output_that_stops_reading_is_named(ws: Workspace) -> None:
    ws.python_script("stall.py", STALLING_OUTPUT)
    ws.counter_task("t", "./stall.py", count=0, checkpoint_every=100)
    run = Run(ws, "run", "t", "--progress-interval", "0.5", "--metrics-addr", "127.0.0.1:0")
    said = f"waiting on {LABEL} to read for "
    began = f"[warning] task t: {LABEL} has read nothing of its stdin for "
    ended = f"[warning] task t: {LABEL} reads its stdin again, after "
    try:
        serving = re.compile(r"metrics on http://(\S+)/metrics")
        addr = wait_until("the metrics address", lambda: serving.search(run.stderr())).group(1)
        wait_until("the stall's note", lambda: run.says(said), timeout=OUTPUT_STALL + 60)
        stalled = _stall_gauge(scrape(addr)[1])
        assert stalled >= OUTPUT_STALL, stalled
        assert run.says(began), run.stderr()

        (ws.root / "go").touch()
        wait_until("the end of the stall", lambda: run.says(ended))
        wait_until("the gauge back to 0", lambda: _stall_gauge(scrape(addr)[1]) == 0)
        # the progress lines since: the stream moves on, and they say no stall
        wait_until("a progress line", lambda: "running, " in _after(run.stderr(), ended))
        assert said not in _after(run.stderr(), ended), run.stderr()
        assert run.stderr().count(began) == 1, run.stderr()  # once per stall
        run.signal()
        assert run.wait() == 143, run.stderr()
    finally:
        run.kill()
