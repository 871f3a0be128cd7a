"""A `--standby` run waiting for the task another run holds is not a running task: its
metrics say it is not up and have no checkpoint lag (a standby waiting an hour is no
lagging pipeline, and `sum(dstream_up)` must count the task once), /healthz stays 200
(a liveness probe must not kill a standby), and its progress line says it waits, not
that it is "starting". Real processes: the holder and the standby share a file state
(the run lock, on one host)."""

from __future__ import annotations

import signal
import subprocess
from typing import Callable

import pytest

from dstream.runtime.monitor import Monitor
from tests.runtime.conftest import metrics_address, scrape
from tests.services import wait_until
from tests.workspace import Workspace

# The held task: a counter with no end, into a file.
COUNTER_CONFIG = {"count": 0, "checkpoint_every": 10, "interval": 20}


def _holder_and_standby(
    ws: Workspace, *standby_args: str
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The holder streams task t; the standby (with `standby_args`) waits for it."""
    ws.counter_task("t", "dstream-file", 'path = "out.jsonl"', **COUNTER_CONFIG)
    holder = ws.popen("run", "t", "--json")
    wait_until("the holder to stream", lambda: ws.read_text("out.jsonl") != "")
    standby = ws.popen("run", "t", "--standby", "--json", *standby_args)
    return holder, standby


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM each that still runs, and wait for it."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def _lines_until(proc: subprocess.Popen[bytes], last: Callable[[str], bool]) -> list[str]:
    """Its stderr's lines as far as the first that `last` accepts; an assertion if it
    ends before (a readline at its end returns "" for ever)."""
    assert proc.stderr is not None
    lines: list[str] = []
    while not lines or not last(lines[-1]):
        line = proc.stderr.readline().decode()
        assert line, "the standby ended: " + "".join(lines)
        lines.append(line)
    return lines


def _series(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


@pytest.mark.timeout(120)
def test_a_waiting_standby_is_not_up_and_has_no_checkpoint_lag(ws: Workspace) -> None:
    holder, standby = _holder_and_standby(ws, "--metrics-addr", "127.0.0.1:0")
    try:
        addr = metrics_address(standby)
        _lines_until(standby, lambda line: "standby:" in line)  # it waits for the task now
        _, text = scrape(addr)
        assert _series(text, "dstream_up") == ['dstream_up{task="t"} 0.0'], text
        assert _series(text, "dstream_checkpoint_lag_seconds") == [], text
        assert scrape(addr, "/healthz") == (200, "ok\n")  # a probe does not kill it
        _stop(holder)  # the standby takes over: up, with a lag from its take-over

        def taken_over() -> bool:
            text = scrape(addr)[1]
            return _series(text, "dstream_up") == ['dstream_up{task="t"} 1.0'] and bool(
                _series(text, "dstream_checkpoint_lag_seconds")
            )

        wait_until("the standby to take over", taken_over)
    finally:
        _stop(standby, holder)


@pytest.mark.timeout(120)
def test_a_waiting_standby_logs_that_it_waits_not_that_it_starts(ws: Workspace) -> None:
    holder, standby = _holder_and_standby(ws, "--progress-interval", "0.2")
    try:
        lines = _lines_until(standby, lambda line: line.startswith("dstream: task t: "))
    finally:
        _stop(standby, holder)
    progress = lines[-1]
    waiting = "dstream: task t: standby, waiting for the run that holds the task"
    assert progress.startswith(waiting), lines
    assert "envelopes" not in progress, progress  # a waiting standby moves nothing


def test_a_task_a_reload_removed_leaves_the_process_healthy() -> None:
    """A standby of t1 and t4 whose reload removed t4 streams t1 on: /healthz stays 200
    (a probe would kill the pod), as a failed task does not."""
    monitor = Monitor(["t1", "t4"], standby=True)
    monitor.tasks["t4"].detach("removed")
    assert monitor.healthy
    monitor.tasks["t1"].detach("failed")
    assert not monitor.healthy
