"""Live facts about running tasks, read by the progress display and the metrics
endpoint. Counters come straight from each pump (atomics in Rust), added to what
earlier attempts of the same task moved, so restarts never reset a total."""

from __future__ import annotations

import threading
import time

from dstream import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from dstream._core import Pump

    # A pump's Counters.as_dict(): the SUMMED ints and "tables" (name -> int).
    CounterDict = dict[str, Any]  # Any: values read by name; one typed list is issue 21 item 4

SUMMED = tuple(name for name, _meaning in _core.COUNTERS)  # the core's one list


def add_counters(total: CounterDict, more: CounterDict) -> CounterDict:
    merged = {key: total.get(key, 0) + more.get(key, 0) for key in SUMMED}
    tables = dict(total.get("tables") or {})
    for name, count in (more.get("tables") or {}).items():
        tables[name] = tables.get(name, 0) + count
    merged["tables"] = tables
    return merged


class TaskMonitor:
    def __init__(self, name: str) -> None:
        self.name = name
        self.state = (
            "starting"  # starting | running | restarting | completed | failed | interrupted
        )
        self.started_at = time.time()
        self.restarts = 0
        self.checkpoints_acknowledged = 0
        self.last_checkpoint: Optional[bytes] = None  # the exact JSON text of the value
        self.last_ack_at: Optional[float] = None
        # What a running task waits for once its stream ended, said in the progress line.
        self.waiting: Optional[str] = None
        self._pump: Optional[Pump] = None
        self._base: CounterDict = {}
        self._lock = threading.Lock()

    def attach(self, pump: Pump) -> None:
        with self._lock:
            self._pump = pump
            self.state = "running"

    def detach(self, state: str) -> None:
        """The attempt ended: keep its final counters in the base."""
        with self._lock:
            if self._pump is not None:
                self._base = add_counters(self._base, self._pump.counters().as_dict())
                self._pump = None
            self.state = state

    def acknowledged(self, checkpoint: bytes) -> None:
        self.checkpoints_acknowledged += 1
        self.last_checkpoint = checkpoint
        self.last_ack_at = time.time()

    def counters(self) -> CounterDict:
        with self._lock:
            pump, base = self._pump, self._base
        live = pump.counters().as_dict() if pump is not None else {}
        return add_counters(base, live)

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "restarting")


class Monitor:
    def __init__(self, names: list[str]) -> None:
        self.tasks = {name: TaskMonitor(name) for name in names}
        self.started_at = time.time()

    @property
    def healthy(self) -> bool:
        return all(t.running or t.state == "completed" for t in self.tasks.values())
