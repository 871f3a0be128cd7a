"""After a forced stop the main thread stops waiting for a task STOP_MARGIN after the
force, not up to a JOIN_SLICE later: its last wait for a task is cut at that moment (a
forced stop on a silent database ended 4.2 s after the second signal, documented as
"3 s and a second": STOP_MARGIN, then CLOSE_WAIT closing the store)."""

from __future__ import annotations

import signal
import time

from dstream.runtime.signals import JOIN_SLICE, StopSignals
from dstream.runtime.stopping import STOP_MARGIN


def _forced(overdue_in: float) -> StopSignals:
    """Stop signals whose stop was forced, overdue `overdue_in` seconds from now."""
    signals = StopSignals(lambda signum, requests: None)
    signals._stop(signal.SIGTERM, None)
    signals._stop(signal.SIGTERM, None)
    assert signals.forced_at is not None
    signals.forced_at = time.monotonic() - STOP_MARGIN + overdue_in
    return signals


def test_a_wait_is_a_join_slice_until_the_stop_is_forced() -> None:
    signals = StopSignals(lambda signum, requests: None)
    assert signals.join_time() == JOIN_SLICE
    signals._stop(signal.SIGTERM, None)  # a first signal: the tasks drain, for stop_grace
    assert signals.join_time() == JOIN_SLICE


def test_a_wait_ends_when_a_forced_stop_is_overdue() -> None:
    assert _forced(overdue_in=JOIN_SLICE / 4).join_time() <= JOIN_SLICE / 4
    assert _forced(overdue_in=-1.0).join_time() == 0.0
    assert _forced(overdue_in=STOP_MARGIN).join_time() == JOIN_SLICE
