"""The two decisions every stop of a task is made of (runtime/stopping.py, `Stop`): drain
unless it is stopping already, and force. The runner (--fail-fast) and the agent (its
signals, a hand-over) ask through them; tests/runtime's signal, fail-fast and standby
tests cover what they do to a run."""

from __future__ import annotations

import signal

from dstream.runtime.stopping import Stop


def test_drain_asks_a_task_that_is_not_stopping() -> None:
    stop = Stop()
    stop.drain(signal.SIGTERM)
    assert (stop.requests, stop.signum, stop.forced) == (1, signal.SIGTERM, False)
    assert stop.event.is_set()


def test_drain_leaves_a_stopping_task_as_it_is() -> None:
    """A second request by a signal would force it, and its stop keeps its first cause:
    a hand-over stays one, a Ctrl-C after it drains on."""
    handed_over = Stop()
    handed_over.drain()
    handed_over.drain(signal.SIGINT)
    assert (handed_over.requests, handed_over.signals, handed_over.signum) == (1, 0, None)
    signalled = Stop()
    signalled.drain(signal.SIGINT)
    signalled.drain(signal.SIGINT)
    assert (signalled.requests, signalled.forced) == (1, False)


def test_force_kills_at_once_whatever_asked_first() -> None:
    for first in (None, signal.SIGTERM):
        stop = Stop()
        stop.drain(first)
        stop.force(signal.SIGTERM)
        assert stop.forced, first
        assert stop.signum == signal.SIGTERM


def test_force_of_a_task_never_asked() -> None:
    stop = Stop()
    stop.force(signal.SIGINT)
    assert stop.forced and stop.signum == signal.SIGINT
