"""The signals of a process that runs tasks (`dstream run`, `dstream agent`).

SIGINT/SIGTERM ask every task to drain; a second one forces (not the first signal again
within ECHO_WINDOW: one delivered twice, as coreutils `timeout` does): the tasks'
providers are killed at once (runtime/stopping.py) and the process waits for nothing
else. Its main thread may be waiting on the state database (a standby's take-over, an
agent's registration, a reload, the record of a task that never ran): every such call
is bounded (state/session.py), but a forced stop does not wait even that long — inside
`interruptible()` the handler raises `Forced` where the main thread is. A task still
not ended STOP_MARGIN after the force (its thread waits on the database) is left behind
(`left_behind`): its providers die with dstream, its lease expires. That moment is the
forced stop's one deadline (`StopSignals.deadline`), which the history's record of a
run made after the force is given too (runtime/history.py): on the postgres state it
is not made, on the file state it tries the task's lock until then (a task left behind
is recorded past it: one try). One in flight on a task's thread when the stop was
forced is waited for until that deadline, as the task is, and said to be maybe missing.
SIGHUP asks for a reload, also one that came before the tasks started (the console
script holds it from its start: cli/entry.py).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time

from dstream import HeldSignals, dropped_stops, logs
from dstream.errors import Interrupted
from dstream.runtime.pipeline import RunSummary
from dstream.runtime.stopping import STOP_MARGIN

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported by a run (issue 22)
    from collections.abc import Iterator
    from types import FrameType
    from typing import Callable, Optional

    from dstream.runtime.monitor import TaskMonitor

JOIN_SLICE = 0.2  # seconds: a main thread waiting for a task wakes this often
# A repeat of the first stop signal this soon after it is that signal delivered twice,
# not a second interrupt: coreutils `timeout` signals its child, then its whole process
# group, child included. Shorter than a person's double press of Ctrl-C.
ECHO_WINDOW = 0.25


class Forced(BaseException):
    """A second stop signal came while the main thread waited on the state database: the
    wait is given up. A BaseException: no handler of a failed statement takes it for one."""


class StopSignals:
    """Counts the stop signals; `on_stop(signum, requests)` acts on each (the first
    asks the tasks to drain, the next ones force them)."""

    def __init__(self, on_stop: Callable[[int, int], None]) -> None:
        self._on_stop = on_stop
        self.requests = 0
        self.signum: Optional[int] = None  # the first stop signal: the exit code says which
        self.forced_at: Optional[float] = None  # monotonic: when a second one came
        self._first = 0.0  # monotonic: when the first one came
        self.reload = threading.Event()
        self._waiting = 0  # depth of interruptible() sections
        self._previous: dict[int, signal._HANDLER] = {}

    def _stop(self, signum: int, frame: Optional[FrameType]) -> None:
        now = time.monotonic()
        if self.requests == 1 and signum == self.signum and now - self._first < ECHO_WINDOW:
            return  # the first one again (ECHO_WINDOW)
        if not self.requests:
            self._first = now
        self.requests += 1
        self.signum = self.signum or signum
        if self.requests > 1 and self.forced_at is None:
            self.forced_at = time.monotonic()
        self._on_stop(signum, self.requests)
        if self.forced_at is not None and self._waiting:
            raise Forced()

    @property
    def stopping(self) -> bool:
        return self.requests > 0

    @property
    def forced(self) -> bool:
        return self.forced_at is not None

    @property
    def deadline(self) -> Optional[float]:
        """Monotonic: STOP_MARGIN after a forced stop, when what still runs is left
        behind and no write made after the force may wait any longer; None until a stop
        is forced."""
        return None if self.forced_at is None else self.forced_at + STOP_MARGIN

    def overdue(self) -> bool:
        """Whether a forced stop's deadline passed: what still runs then waits on the
        state database and is left behind."""
        deadline = self.deadline
        return deadline is not None and time.monotonic() > deadline

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A wait on the state database that a forced stop gives up: inside, a second
        stop signal raises Forced in the main thread (at once, if one came already)."""
        self._waiting += 1
        try:
            if self.forced:
                raise Forced()
            yield
        finally:
            self._waiting -= 1

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """Work that a forced stop must not cut (inside an interruptible section): it
        bounds its own waits (`wait`)."""
        waiting, self._waiting = self._waiting, 0
        try:
            yield
        finally:
            self._waiting = waiting

    def wait(self, thread: threading.Thread) -> bool:
        """Wait a moment for `thread` (short, so that the main thread takes signals and
        reloads): whether the wait is over — it ended, or a forced stop is overdue and it
        is left behind."""
        thread.join(self.join_time())
        return not thread.is_alive() or self.overdue()

    def join_time(self) -> float:
        """JOIN_SLICE, cut at a forced stop's deadline: a whole slice past it made the
        process end up to JOIN_SLICE later than STOP_MARGIN after the force."""
        deadline = self.deadline
        if deadline is None:
            return JOIN_SLICE
        return max(0.0, min(JOIN_SLICE, deadline - time.monotonic()))

    def reload_asked(self) -> bool:
        """Whether a reload (SIGHUP) was asked since the last look: taken, so each is
        applied once."""
        if not self.reload.is_set():
            return False
        self.reload.clear()
        return True

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                # A SIGINT the process was started to ignore (a shell's background job)
                # stays ignored, as in every command (dstream.hold_signals).
                if sig == signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN:
                    continue
                self._previous[sig] = signal.signal(sig, self._stop)
            if hasattr(signal, "SIGHUP"):
                previous = signal.signal(signal.SIGHUP, lambda signum, frame: self.reload.set())
                self._previous[signal.SIGHUP] = previous
                # The console script holds SIGHUP from its first line (cli/entry.py): one
                # that came since is a reload asked before the run could apply it. Put
                # back at the end, it ignores one that comes once the tasks ended.
                held = getattr(previous, "__self__", None)
                if isinstance(held, HeldSignals) and held.came:
                    held.came.clear()
                    self.reload.set()
        if dropped_stops:  # its exception never ended the command: this is its stop
            signum = dropped_stops[0]
            dropped_stops.clear()
            self._stop(signum, None)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)


def stopping_notice(doing: str, signum: int) -> Optional[str]:
    """The line a first stop signal prints, in the log's format (one JSON record with
    --log-format json), with its line break: what the process does (`doing`) and how to
    force it, by the signal received (SIGINT and SIGTERM both count as the second), that
    signal a field of its own. An info record like any other: None when the log level
    hides it. Made without the logger's lock (`say_stopping` says why)."""
    if not logs.log.is_enabled_for(logs.INFO):
        return None
    again = "press Ctrl-C again" if signum == signal.SIGINT else "send SIGTERM again"
    fields: dict[str, object] = {"signal": signal.Signals(signum).name}
    return logs.record_line(logs.INFO, f"{doing} ({again} to force)", fields=fields)


def say_stopping(doing: str, signum: int) -> None:
    """Print the stop notice, from a signal handler, after the stops were asked for. It
    is written here, not through the logger, whose lock the main thread may hold. On a
    terminal a text notice starts on a line of its own, after the `^C` the terminal
    echoed; a JSON record does not (every line on stderr is one record then). A
    notice that cannot be written (stderr's reader left, killed by the same Ctrl-C as
    dstream: `dstream run 2>&1 | tee log`; stderr was in the middle of a write the
    handler interrupted: a RuntimeError) changes nothing: an error raised here would
    surface wherever the main thread is and end the run at once, undrained."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # ValueError: closed
        line = stopping_notice(doing, signum)
        if line is None:
            return
        if logs.log.from_handler is not None:  # above the live display, as records go
            logs.log.from_handler(line)
            return
        if sys.stderr.isatty() and not logs.log.writes_json:
            line = "\n" + line
        sys.stderr.write(line)
        sys.stderr.flush()


class LeftBehind(Interrupted):
    """A task whose thread had not ended STOP_MARGIN after a forced stop (it waited on
    the state database): the process ended without it. Its summary says so in a note."""


def left_behind(
    task: str, signum: Optional[int], started_at: float, live: Optional[TaskMonitor] = None
) -> RunSummary:
    """The summary of a task whose thread had not ended STOP_MARGIN after a forced stop
    (it waits on the state database): the process ends without it, with what `live`, its
    monitor, saw it do (its thread never returned its own summary). `started_at`: when
    its run started (wall clock), as any task's summary has it, whether or not its
    providers ever began to stream."""
    from dstream.runtime.summary import value  # (which imports this module)

    summary = RunSummary(task=task, outcome="interrupted", started_at=started_at)
    unstored = ""
    if live is not None:
        summary.counters = live.counters()
        summary.duration = live.streamed()
        summary.streamed = summary.duration > 0  # its monitor was attached to a pump
        summary.checkpoints_acknowledged = live.checkpoints_acknowledged
        summary.last_checkpoint = live.last_stored
        newest = live.last_checkpoint
        if newest is not None and newest != live.last_stored:
            unstored = (
                f"; its last acknowledged checkpoint, {value(newest)}, may or may not be stored"
            )
    # What it waited on, when its monitor was told (the container engine, an output's
    # exit); else the state database, the one call of a task's thread not bounded here.
    waiting = live.waiting if live is not None and live.waiting else "waiting on the state database"
    summary.error = LeftBehind(
        f"task {task!r} had not ended {STOP_MARGIN:g}s after the stop was forced (it was "
        f"{waiting}): dstream ended without it{unstored}; its providers "
        "end with dstream",
        hint="its lease (postgres) expires after lease_ttl; the next run resumes from the "
        "last stored checkpoint, if one is stored",
    )
    summary.stopped_by = signum
    return summary


def never_started(task: str, why: str, signum: Optional[int]) -> RunSummary:
    """The summary of a task stopped before it started (`why`: while doing what)."""
    error = Interrupted(
        f"task {task!r} was stopped {why}; it never ran",
        hint="run it again",
    )
    summary = RunSummary(task=task, outcome="interrupted", error=error)
    summary.stopped_by = signum
    return summary
