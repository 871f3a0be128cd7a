"""What every state backend provides: one checkpoint per task, replaced atomically.

A checkpoint is opaque to dstream (any JSON value an input emitted). The store keeps the
newest one the output acknowledged, when it was written and a per-task `sequence` that
grows by one with each `put`, so two writers sharing a store can tell whose value won.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Optional

import orjson

from dstream.errors import DstreamError

# Bumped if the on-disk / in-table layout ever changes; readers refuse newer formats.
FORMAT_VERSION = 1
RUN_HISTORY = 100  # runs kept per task for `dstream runs`


@dataclass(frozen=True)
class StateRecord:
    task: str
    checkpoint: Any  # a JSON value, exactly as the input emitted it
    updated_at: float  # seconds since the epoch (time.time())
    sequence: int  # 1 for the first put, +1 for each later put of the same task

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "checkpoint": self.checkpoint,
            "updated_at": self.updated_at,
            "sequence": self.sequence,
        }


def encode_checkpoint(task: str, checkpoint: Any) -> bytes:
    """The checkpoint as JSON bytes, or a clear error when it is not a JSON value."""
    try:
        return orjson.dumps(checkpoint)
    except TypeError as exc:
        raise DstreamError(
            f"the checkpoint of task {task!r} is not a JSON value: {exc}",
            hint="a checkpoint must be JSON (object, array, string, number, bool or null)",
        ) from None


def check_task_name(task: str) -> None:
    if not isinstance(task, str) or not task:
        raise DstreamError(
            f"invalid task name {task!r} for the state store",
            hint="task names are non-empty strings, as written in dstream.hcl",
        )


class StateStore(abc.ABC):
    """A place for the newest acknowledged checkpoint of each task.

    `put` is durable when it returns and atomic: whatever instant a crash happens at,
    `get` later returns either the previous record or the new one, never a mix.
    Implementations are safe to share between threads of one process and between
    processes (several `dstream run` on one store).
    """

    #: short name for messages and `dstream state list`, e.g. "file /x/.dstream/state"
    description: str = ""

    @abc.abstractmethod
    def get(self, task: str) -> Optional[StateRecord]: ...

    @abc.abstractmethod
    def put(self, task: str, checkpoint: Any) -> None: ...

    @abc.abstractmethod
    def reset(self, task: str) -> bool:
        """Forget the task's checkpoint; True when there was one."""

    @abc.abstractmethod
    def tasks(self) -> list[StateRecord]:
        """Every stored record, sorted by task name."""

    @abc.abstractmethod
    def hold_run(self, task: str) -> AbstractContextManager[None]:
        """Mark `task` as running until the context exits (Terraform's state lock): two
        runs of one task would read the same checkpoint, both consume the source and
        overwrite each other's state. Raises `already_running` when it is held
        elsewhere, never waits. A holder that dies releases it (the kernel drops a dead
        process's flock; the server ends a dead session's advisory lock)."""

    def input_hash(self, task: str) -> Optional[str]:
        """The digest of the input configuration the stored checkpoint came from (see
        `dstream run --resume-changed`); None when unknown (this backend keeps none)."""
        return None

    def set_input_hash(self, task: str, digest: str) -> None:
        """Remember the input configuration the next checkpoints come from."""
        return None

    def add_run(self, task: str, run: dict[str, Any]) -> None:
        """Append one finished run to the task's history (`dstream runs`); a backend
        without history ignores it."""
        return None

    def runs(self, task: str) -> list[dict[str, Any]]:
        """The task's recent runs, oldest first (at most RUN_HISTORY)."""
        return []

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        return None  # the file backend holds nothing open between calls

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def already_running(task: str, where: str, holder: str = "") -> DstreamError:
    by = f" ({holder})" if holder else ""
    return DstreamError(
        f"task {task!r} is already running{by}: its state in {where} is locked",
        hint="wait for that run to end or stop it (Ctrl-C / SIGTERM); the lock goes with "
        "its process, so there is never a stale lock to remove by hand",
    )
