"""`run_tasks` run in the test's own process, on the real file store with its calls
noted, for tests that check what a run asks of its store: how often it reads a task's
record, and the deadline it gives a write after a forced stop. The providers are real
processes; stop signals are sent to this process by a thread, while `run_tasks` (in
the main thread) has its handlers installed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from dstream.config.model import StateSpec
from dstream.state.base import StateRecord
from dstream.state.file import FileStore
from tests.services import before_a_repeat, wait_until


@dataclass(frozen=True)
class Tried:
    """A write that tried a task's lock until a deadline (after a forced stop): the
    deadline (monotonic) and when it began to try."""

    until: float
    began: float


class NotingStore(FileStore):
    """The file store, noting the records it reads and the deadlines its writes try a
    task's lock until."""

    def __init__(self, directory: str) -> None:
        super().__init__(directory)
        self.reads: list[str] = []  # the task of each `get`, in order
        self.tried: list[Tried] = []

    def get(self, task: str) -> Optional[StateRecord]:
        self.reads.append(task)
        return super().get(task)

    def _lock_until(self, fd: int, until: float) -> None:
        self.tried.append(Tried(until, time.monotonic()))
        super()._lock_until(fd, until)


@pytest.fixture
def noting_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotingStore]:
    """The store every `run_tasks` of the test opens: the state directory tmp_path/state
    (the one `Workspace.task(..., state=True)` names)."""
    store = NotingStore(str(tmp_path / "state"))

    def open_store(spec: StateSpec, base_dir: str) -> NotingStore:
        return store

    monkeypatch.setattr("dstream.state.open_store", open_store)
    yield store


def signal_when(signum: int, *steps: tuple[str, Callable[[], bool]]) -> threading.Thread:
    """A thread that sends `signum` to this process once for each step `(what, ready)`,
    once `ready()`; it gives up, sending no more, if one takes more than a minute."""

    def send() -> None:
        sent: set[int] = set()
        for what, ready in steps:
            try:
                wait_until(what, ready)
            except AssertionError:
                return  # the run then goes on to its own end, and the test fails on that
            before_a_repeat(sent, signum)
            os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send, name="signals", daemon=True)
    thread.start()
    return thread
