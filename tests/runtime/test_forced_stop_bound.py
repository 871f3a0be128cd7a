"""After a forced stop the main thread stops waiting for a task STOP_MARGIN after the
force, not up to a JOIN_SLICE later: `StopSignals.wait` joins the task's thread for a
slice at most, cut at that moment (a forced stop on a silent database ended 4.2 s after
the second signal, documented as "3 s and a second": STOP_MARGIN, then CLOSE_WAIT
closing the store). The thread waited for is one that never ends and notes the timeout
of each join: what `wait` joins it with is what is checked, not the arithmetic alone."""

from __future__ import annotations

import signal
import threading
import time
from typing import Optional

from dstream.runtime.signals import JOIN_SLICE, StopSignals
from dstream.runtime.stopping import STOP_MARGIN


class _Running(threading.Thread):
    """A task's thread that never ends (it waits on the state database), noting the
    timeout of each join."""

    def __init__(self) -> None:
        super().__init__(name="t")
        self.timeouts: list[Optional[float]] = []

    def join(self, timeout: Optional[float] = None) -> None:
        self.timeouts.append(timeout)

    def is_alive(self) -> bool:
        return True


def _signals(*signums: int) -> StopSignals:
    signals = StopSignals(lambda signum, requests: None)
    for signum in signums:
        signals._stop(signum, None)
    return signals


def _forced(overdue_in: float) -> StopSignals:
    """Stop signals whose stop was forced, overdue `overdue_in` seconds from now."""
    signals = _signals(signal.SIGTERM, signal.SIGINT)  # the same one at once is one stop
    signals.forced_at = time.monotonic() - STOP_MARGIN + overdue_in
    return signals


def test_a_wait_joins_for_a_slice_until_the_stop_is_forced() -> None:
    for signals in (_signals(), _signals(signal.SIGTERM)):  # no stop; a drain
        thread = _Running()
        assert not signals.wait(thread)
        assert thread.timeouts == [JOIN_SLICE]


def test_a_wait_joins_no_longer_than_the_forced_stops_deadline() -> None:
    signals = _forced(overdue_in=JOIN_SLICE / 2)
    deadline = signals.deadline
    assert deadline is not None
    left = deadline - time.monotonic()  # before the wait: it may only join for less
    thread = _Running()
    signals.wait(thread)
    [timeout] = thread.timeouts
    assert timeout is not None and timeout <= max(0.0, left) and timeout < JOIN_SLICE


def test_a_wait_past_the_deadline_joins_for_nothing_and_leaves_the_task_behind() -> None:
    thread = _Running()
    assert _forced(overdue_in=-1.0).wait(thread)
    assert thread.timeouts == [0.0]
