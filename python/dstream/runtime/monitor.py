"""Live facts about running tasks, read by the progress display and the metrics
endpoint. Counters come straight from each pump (atomics in Rust), added to what
earlier attempts of the same task moved, so restarts never reset a total; so does how
long the pump has been waiting on an output that reads nothing (a stall)."""

from __future__ import annotations

import threading
import time

from dstream import _core, logs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from dstream._core import Pump

    # A pump's Counters.as_dict(): the SUMMED ints and "tables" (name -> int).
    CounterDict = dict[str, Any]  # Any: values read by name; one typed list is issue 21 item 4

SUMMED = tuple(name for name, _meaning in _core.COUNTERS)  # the core's one list

# Seconds the pump may wait on an output that reads nothing of its stdin before the
# progress line names it and a warning says so (its "0 envelopes/s" alone reads as an
# idle input): an output busy committing a batch holds its stdin a moment, not this long.
OUTPUT_STALL = 10.0


def stall_note(output: str, seconds: float) -> str:
    """What the progress line says of a stall of `seconds` on `output` (its label)."""
    return f"waiting on {output} to read for {seconds:.0f} s"


class StallWatch:
    """Warns once when a run's output passes OUTPUT_STALL without reading, and once when
    it reads again: the supervisor's tick hands it the pump (one atomic load, and a
    counter snapshot only while a warned stall lasts)."""

    def __init__(self, output: str, task: str) -> None:
        self.output, self.task = output, task
        self._seen: Optional[float] = None  # the stall warned about, as last seen
        self._forwarded = 0  # the pump's forwarded bytes when it was warned about

    def check(self, pump: Pump) -> None:
        """A stall that ended is said to only once the output took bytes: the pump
        began a new, shorter stall (its wait ends at a write that took any) or
        forwarded more. A stall mark the pump cleared because its run ended (the output
        was killed, the stream stopped) is no reading: the warning stays unsaid."""
        stalled = pump.output_stalled_for()
        if self._seen is not None:
            if stalled is not None and stalled >= self._seen:
                self._seen = stalled  # the same stall, on
                return
            if stalled is None and pump.counters().bytes == self._forwarded:
                return  # no wait now, no byte taken: the run's end, not a read
            logs.log.warning(
                "%s reads its stdin again, after %.0f s", self.output, self._seen, task=self.task
            )
            self._seen = None
        if stalled is not None and stalled >= OUTPUT_STALL:
            logs.log.warning(
                "%s has read nothing of its stdin for %.0f s: the stream waits on it "
                "(dstream_output_stall_seconds counts on until it reads)",
                self.output, stalled, task=self.task,
            )  # fmt: skip
            self._seen = stalled
            self._forwarded = pump.counters().bytes


def add_counters(total: CounterDict, more: CounterDict) -> CounterDict:
    merged = {key: total.get(key, 0) + more.get(key, 0) for key in SUMMED}
    tables = dict(total.get("tables") or {})
    for name, count in (more.get("tables") or {}).items():
        tables[name] = tables.get(name, 0) + count
    merged["tables"] = tables
    return merged


class TaskMonitor:
    def __init__(self, name: str, *, standby: bool = False) -> None:
        self.name = name
        # starting | standby | running | restarting | completed | failed | interrupted.
        # A --standby run is on standby until it holds the task: not running, no lag.
        self.state = "standby" if standby else "starting"
        self.started_at = time.time()  # the lag's origin before the first checkpoint
        self.restarts = 0
        self.checkpoints_acknowledged = 0
        self.last_checkpoint: Optional[bytes] = None  # the exact JSON text of the value
        self.last_stored: Optional[bytes] = None  # the newest of them that was stored
        self.last_ack_at: Optional[float] = None
        # What a running task waits for once its stream ended, said in the progress line.
        self.waiting: Optional[str] = None
        self._streamed = 0.0  # seconds the ended attempts streamed
        self._ended_at: Optional[float] = None  # wall clock: when the last attempt ended
        self._attached_at: Optional[float] = None  # monotonic: the current attempt's pump
        self._pump: Optional[Pump] = None
        self._output = "the output"  # the current attempt's output's label, once attached
        self._base: CounterDict = {}
        self._lock = threading.Lock()

    def begin(self) -> None:
        """An attempt begins (the task is held): a standby is on standby no more, and
        its lag counts from now, not from when it began to wait."""
        with self._lock:
            if self.state == "standby":
                self.state = "starting"
                self.started_at = time.time()

    def attach(self, pump: Pump, output: str) -> None:
        """The attempt streams through `pump` into `output` (its label)."""
        with self._lock:
            self._pump = pump
            self._output = output
            self.state = "running"
            self._attached_at = time.monotonic()

    def detach(self, state: str) -> None:
        """The attempt ended: keep its final counters in the base."""
        with self._lock:
            if self._pump is not None:
                self._base = add_counters(self._base, self._pump.counters().as_dict())
                self._pump = None
            if self._attached_at is not None:
                self._streamed += time.monotonic() - self._attached_at
                self._attached_at = None
            self.state = state
            self._ended_at = time.time()

    def acknowledged(self, checkpoint: bytes) -> None:
        self.checkpoints_acknowledged += 1
        self.last_checkpoint = checkpoint
        self.last_ack_at = time.time()

    def stored(self, checkpoint: bytes) -> None:
        """An acknowledged checkpoint was stored: the next run resumes after it."""
        self.last_stored = checkpoint

    def counters(self) -> CounterDict:
        with self._lock:
            pump, base = self._pump, self._base
        live = pump.counters().as_dict() if pump is not None else {}
        return add_counters(base, live)

    def output_stalled_for(self) -> float:
        """Seconds the current attempt's pump has been waiting on an output that reads
        nothing (its pipe full); 0 while the output reads, or no attempt streams."""
        with self._lock:
            pump = self._pump
        return (pump.output_stalled_for() or 0.0) if pump is not None else 0.0

    def stall(self) -> Optional[str]:
        """The progress line's note of a stall past OUTPUT_STALL (stall_note), else None."""
        seconds = self.output_stalled_for()
        return stall_note(self._output, seconds) if seconds >= OUTPUT_STALL else None

    def streamed(self) -> float:
        """Seconds its pumps ran, over its attempts, the current one included."""
        with self._lock:
            attached = self._attached_at
            current = 0.0 if attached is None else time.monotonic() - attached
            return self._streamed + current

    def lag(self, now: float) -> Optional[float]:
        """Seconds since the last acknowledged checkpoint (since it began before the
        first); None on standby: a standby lags nothing, however long it waits. Once
        the task ended (not while it waits to restart) it is what it was then: a task
        that finished lags nothing more, and an alert on the lag must not fire for it."""
        if self.standby:
            return None
        if not self.running and self._ended_at is not None:
            now = self._ended_at
        return now - (self.last_ack_at or self.started_at)

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "restarting")

    @property
    def standby(self) -> bool:
        """A --standby run waiting for the task another run holds."""
        return self.state == "standby"


class Monitor:
    """`standby`: a --standby run, whose tasks are on standby until it holds them.
    `agent`: an agent's, whose tasks come and go (runtime/agent.py)."""

    def __init__(self, names: list[str], *, standby: bool = False, agent: bool = False) -> None:
        self.tasks = {name: TaskMonitor(name, standby=standby) for name in names}
        self.started_at = time.time()
        self.agent = agent

    @property
    def healthy(self) -> bool:
        """Every task runs, waits on standby, completed or was removed by a reload (a
        probe must not kill a standby, nor a process whose tasks ended well). An agent
        is healthy while it serves: a task of its that failed is taken again after a
        cool-down (`dstream_up` says which is down), and a probe restarting the agent
        would only move its other tasks."""
        if self.agent:
            return True
        ended_well = ("completed", "removed")
        return all(t.running or t.standby or t.state in ended_well for t in self.tasks.values())
