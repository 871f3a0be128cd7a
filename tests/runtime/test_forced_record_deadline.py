"""After a forced stop the history's record of a run waits no longer than the forced
stop's own deadline (STOP_MARGIN after the second signal: runtime/signals.py): one
clock. The file state had a second one, a second from its first write after the force
(state/file.py, FORCED_LOCK_WAIT), so the record of a task left behind (made once that
deadline had passed) waited another second on the lock its own write held.

The task's checkpoint write waits on the task's lock, which the test holds: its thread
is left behind at the forced stop's deadline, and the record of its run, made then,
meets the same lock. Which deadline that record's write tries the lock until is noted
by the store; it is the run's: no earlier than STOP_MARGIN after the second signal was
sent, and already passed when the write began (so it tried once and gave up)."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time

import pytest

from dstream.config.loader import load_project
from dstream.runtime.runner import run_tasks
from dstream.runtime.signals import ECHO_WINDOW, LeftBehind
from dstream.runtime.stopping import STOP_MARGIN
from tests.providers import ACK_OUTPUT, ticking_input
from tests.runtime.in_process import NotingStore, noting_store
from tests.services import lock_waiters, wait_until
from tests.workspace import Workspace

__all__ = ["noting_store"]  # the fixture, used by name

# Writes an envelope and a checkpoint every 20 ms; on SIGTERM says so (the file
# `stopping`) and exits.
INPUT = ticking_input("stopping")


class _Stopper:
    """Holds the task's lock once a checkpoint is stored, then stops the run twice: the
    second signal once the first reached the input. `forced_from`: when it was sent."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.lock = ws.root / "state" / ".t.lock"
        self.held = -1
        self.forced_from = 0.0
        self.thread = threading.Thread(target=self._stop, name="stopper", daemon=True)

    def _stop(self) -> None:
        wait_until("a checkpoint to be stored", lambda: (self.ws.root / "state/t.json").exists())
        self.held = os.open(self.lock, os.O_RDWR)
        fcntl.flock(self.held, fcntl.LOCK_EX)
        wait_until("a checkpoint write to wait", lambda: lock_waiters(self.lock) >= 1)
        os.kill(os.getpid(), signal.SIGTERM)
        wait_until("the input to be stopped", lambda: (self.ws.root / "stopping").exists())
        time.sleep(ECHO_WINDOW)  # a second signal, not the first one's echo
        self.forced_from = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)

    def release(self) -> None:
        if self.held >= 0:
            os.close(self.held)


def _left_behind(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


@pytest.mark.timeout(120)
def test_the_record_of_a_forced_stop_waits_until_the_runs_deadline(
    ws: Workspace, noting_store: NotingStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.python_script("input.py", INPUT)
    ws.python_script("output.py", ACK_OUTPUT)
    # A long stop_grace: the task's thread waits for its checkpoint writer that long.
    config = ws.task("./input.py", "./output.py", state=True, settings='stop_grace = "5m"')
    project = load_project(str(config))
    stopper = _Stopper(ws)
    stopper.thread.start()
    try:
        [summary] = run_tasks(project, ["t"])
        stopper.thread.join()
        [tried] = noting_store.tried  # the record of the task left behind, on the held lock
    finally:
        stopper.release()
        for thread in _left_behind("t"):  # its write goes on now, and its run ends
            thread.join(timeout=60)
    assert isinstance(summary.error, LeftBehind), summary
    assert stopper.forced_from + STOP_MARGIN <= tried.until <= tried.began, (stopper, tried)
    said = capsys.readouterr().err
    assert "task t: the run is not recorded in the task's history" in said, said
    assert noting_store.runs("t") == []
