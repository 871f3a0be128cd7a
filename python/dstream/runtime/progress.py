"""Live progress on a terminal: rates, totals, tables, invalid frames, checkpoint age.

Drawn on stderr with rich only when stderr is a terminal (and not --quiet or --json;
with --log-format json, whose every line is a record, ProgressLog's lines stand for
it). While it is shown, the output provider's lines, all log records, the view's notes
and the stop notice are printed through the same console, above the display, so the
two never interleave.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from rich.table import Table

    from dstream.runtime.monitor import CounterDict

from dstream import logs
from dstream.runtime.monitor import Monitor
from dstream.runtime.streaming import terminal_line
from dstream.runtime.summary import size


def _rate(now: CounterDict, before: CounterDict, key: str, seconds: float) -> float:
    return (now.get(key, 0) - before.get(key, 0)) / seconds if seconds > 0 else 0.0


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


class Progress:
    REFRESH = 0.5

    def __init__(self, monitor: Monitor) -> None:
        from rich.console import Console
        from rich.live import Live

        self.monitor = monitor
        self.console = Console(file=sys.stderr)
        self._previous: dict[str, tuple[float, CounterDict]] = {}
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=1 / self.REFRESH,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._saved_stream: Optional[logs.Sink] = None

    def _render(self) -> Table:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("task", "state", "env/s", "MB/s", "envelopes", "invalid", "checkpoint"):
            table.add_column(column, justify="left" if column in ("task", "state") else "right")
        now = time.monotonic()
        for name, task in self.monitor.tasks.items():
            counters = task.counters()
            then, before = self._previous.get(name, (now, counters))
            seconds = now - then
            if seconds >= self.REFRESH or name not in self._previous:
                self._previous[name] = (now, counters)
            ack_age = time.time() - task.last_ack_at if task.last_ack_at else None
            stall = task.stall()
            table.add_row(
                name,
                stall or ("waiting" if task.waiting else task.state),
                f"{_rate(counters, before, 'data_frames', seconds):,.0f}",
                f"{_rate(counters, before, 'bytes', seconds) / 1e6:,.1f}",
                f"{counters.get('data_frames', 0):,}",
                f"{counters.get('invalid_frames', 0):,}",
                _age(ack_age),
            )
            for tname, count in sorted((counters.get("tables") or {}).items())[:10]:
                table.add_row(f"  {tname}", "", "", "", f"{count:,}", "", "")
        elapsed = time.time() - self.monitor.started_at
        table.caption = f"elapsed {elapsed:,.0f}s  (Ctrl-C drains, twice forces)"
        return table

    def print_line(self, task: str, line: bytes, several: bool) -> None:
        """An output provider's line (of the task `task`), printed above the display
        (same terminal), named as a terminal shows it (`terminal_line`); a RunHooks hook."""
        shown = terminal_line(task, line, several=several)
        self.console.out(shown.decode("utf-8", "replace"), highlight=False)

    def write(self, text: str) -> int:
        """A stream for log handlers: each record goes above the display."""
        for line in text.splitlines():
            if line:
                self.console.out(line, highlight=False)
        return len(text)

    def flush(self) -> None:
        pass

    def post(self, text: str) -> None:
        """`text` written above the display soon, by a thread of its own: from a signal
        handler (the stop notice), which must not wait on the console's locks (the
        thread it interrupted, or the display's, may hold them; SimpleQueue.put is
        reentrant)."""
        self._posted.put(text)

    def _write_posted(self) -> None:
        while (text := self._posted.get()) is not None:
            self.write(text)

    def __enter__(self) -> Progress:
        import queue
        import threading

        self._posted: queue.SimpleQueue[Optional[str]] = queue.SimpleQueue()
        self._poster = threading.Thread(target=self._write_posted, name="progress-notes")
        self._poster.daemon = True
        self._poster.start()
        self._live.start()
        # Log records, notes and the stop notice go through the live console, above it.
        self._saved_stream, logs.log.stream = logs.log.stream, self
        logs.log.from_handler = self.post
        return self

    def __exit__(self, *exc: object) -> None:
        logs.log.from_handler = None
        self._posted.put(None)  # what was posted is written first
        self._poster.join(timeout=1.0)
        self._live.stop()
        logs.log.stream = self._saved_stream


class ProgressLog:
    """Without a terminal (CI, systemd, Kubernetes), or with --log-format json on one:
    one log line per task every `interval` seconds with the rate since the last line,
    the totals and the lag (how long ago the output last acknowledged a checkpoint), so
    a long run is never silent."""

    def __init__(self, monitor: Monitor, interval: float) -> None:
        import threading

        self.monitor = monitor
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress-log", daemon=True)
        self._previous: dict[str, tuple[float, CounterDict]] = {}

    def lines(self) -> list[tuple[str, str]]:
        """Each task's progress line, with its task (named by the log: `task T: ` in a
        text line, the task field of a record)."""
        now = time.monotonic()
        out: list[tuple[str, str]] = []
        for name, task in self.monitor.tasks.items():
            if task.standby:  # it moves nothing yet: its rates count from the take-over
                self._previous[name] = (now, {})
                # The holder was logged when it began to wait (a lease on the postgres
                # state, a run lock on the file state: `status` names a lease's holder).
                out.append(
                    (
                        name,
                        "standby, waiting for the run that holds the task to give it up "
                        "(the log named it when the wait began)",
                    )
                )
                continue
            if not task.running:
                continue
            counters = task.counters()
            then, before = self._previous.get(name, (self.monitor_start, {}))
            self._previous[name] = (now, counters)
            seconds = now - then
            lag = time.time() - task.last_ack_at if task.last_ack_at else None
            stall = task.stall()
            out.append(
                (
                    name,
                    f"{task.waiting or task.state}, "
                    f"{_rate(counters, before, 'data_frames', seconds):,.0f} envelopes/s, "
                    f"{counters.get('data_frames', 0):,} envelopes, "
                    f"{size(counters.get('bytes', 0))}, "  # in the summary's units
                    f"{counters.get('invalid_frames', 0):,} invalid, "
                    f"last checkpoint {_age(lag) if lag is not None else 'none yet'}"
                    + (f", {stall}" if stall else ""),
                )
            )
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            for task, line in self.lines():
                logs.log.asked(line, task=task)  # at any log level: asked for

    def __enter__(self) -> ProgressLog:
        self.monitor_start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
