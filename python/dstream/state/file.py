"""The default backend: one JSON file per task in a directory.

Why files and not SQLite: a checkpoint is written a few times a second at most, so
speed does not decide; what users value is a state they can read, diff, back up and
fix with a text editor, and a write path whose crash behaviour is short enough to
check by eye. Each `put` is the classic atomic replace:

    lock .<task>.lock  ->  write .<task>.json.tmp  ->  fsync  ->  rename over <task>.json
    ->  fsync the directory  ->  unlock

rename(2) replaces the name in one step, so a reader (which never locks) opens either
the old file or the new one; the fsyncs make the new contents and the new name durable
before `put` returns. The per-task flock serialises writers from any number of threads
and processes, so the `sequence` read-increment-write cannot lose an update, and it
lets a writer reuse the temporary name: a temporary file left by a writer killed
mid-write belongs to nobody once the lock is ours, and is simply overwritten.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator

from dstream import _core, warm
from dstream.errors import DstreamError
from dstream.protocol.values import Fragment, decode_json, encode_json
from dstream.state.base import (
    FORMAT_VERSION,
    RUN_HISTORY,
    StateRecord,
    StateStore,
    already_running,
    check_task_name,
    compact,
    encode_checkpoint,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
SUFFIX = ".json"
RUN_LOCK = ".run.lock"  # .<task>.run.lock: held for a whole run (hold_run)


def file_stem(task: str) -> str:
    """A file name for any task name: safe characters kept, the rest %-escaped (so two
    task names never share a file, and no name escapes the directory)."""
    out = []
    for index, char in enumerate(task):
        if char in _SAFE and not (char == "." and index == 0):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FileStore(StateStore):
    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        self.description = f"file {self.directory}"
        self._unreadable: list[tuple[str, str]] = []

    # -- paths ---------------------------------------------------------------------------
    def path_of(self, task: str) -> str:
        check_task_name(task)
        return os.path.join(self.directory, file_stem(task) + SUFFIX)

    def _ensure_directory(self) -> None:
        if os.path.isdir(self.directory):
            return
        missing = []
        probe = self.directory
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            raise self._io_error("create the state directory", self.directory, exc) from None
        # New directory entries are durable only once their parents are synced.
        for created in reversed(missing):
            _fsync_dir(os.path.dirname(created))

    def run_lock_path(self, task: str) -> str:
        """The file hold_run locks (a warm start takes it first: dstream/warm)."""
        check_task_name(task)
        return os.path.join(self.directory, "." + file_stem(task) + RUN_LOCK)

    def _open_lock(self, task: str, suffix: str) -> int:
        """The fd of .<task><suffix> in the state directory, created if missing. Not
        inherited by providers (PEP 446): a flock on it ends with dstream's process."""
        self._ensure_directory()
        path = os.path.join(self.directory, "." + file_stem(task) + suffix)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._io_error("open the lock file", path, exc) from None

    @contextlib.contextmanager
    def _locked(self, task: str) -> Iterator[None]:
        fd = self._open_lock(task, ".lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if we are killed
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def hold_run(self, task: str, *, config_hash: str = "") -> Iterator[None]:
        """An exclusive flock on .<task>.run.lock for the run (not .<task>.lock, which
        each put takes for a moment). The file says who holds it, for the message."""
        held = warm.held_lock(self.run_lock_path(task))  # a warm start's, handed over
        fd = self._open_lock(task, RUN_LOCK) if held is None else held
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                raise already_running(task, self.description, holder) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- reading -------------------------------------------------------------------------
    def _read(self, path: str) -> Optional[StateRecord]:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._io_error("read", path, exc) from None
        try:
            # The checkpoint's own bytes, verbatim (compacted: files of older versions
            # were indented); the other fields parsed (1e400 in the checkpoint is inf
            # there, and unused).
            checkpoint = _core.checkpoint_value(raw)
            doc = decode_json(raw)
            if checkpoint is None or not isinstance(doc, dict):
                raise KeyError("checkpoint")
            fmt, updated, sequence = (doc.get(k) for k in ("format", "updated_at", "sequence"))
            if isinstance(fmt, int) and fmt > FORMAT_VERSION:
                raise DstreamError(
                    f"state file {path} has format {fmt}, newer than this "
                    f"dstream understands ({FORMAT_VERSION})",
                    hint="upgrade dstream, or reset the task's state if it may start over",
                )
            if not isinstance(updated, (int, float)) or not isinstance(sequence, int):
                raise TypeError("updated_at and sequence are numbers")
            return StateRecord(
                task=str(doc["task"]),
                raw=compact(checkpoint),
                updated_at=float(updated),
                sequence=sequence,
            )
        except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
            raise DstreamError(
                f"state file {path} is not a dstream state record",
                hint="it was edited by hand or by another program; fix it, or replace it "
                "with `dstream state set TASK JSON` / remove it with `dstream state reset TASK`",
            ) from None

    def get(self, task: str) -> Optional[StateRecord]:
        return self._read(self.path_of(task))

    def tasks(self) -> list[StateRecord]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._io_error("list", self.directory, exc) from None
        records = []
        self._unreadable = []
        for name in names:
            if name.endswith(SUFFIX) and not name.startswith("."):
                path = os.path.join(self.directory, name)
                try:
                    record = self._read(path)
                except DstreamError as exc:  # listed apart: the others are still shown
                    self._unreadable.append((path, exc.reason))
                    continue
                if record is not None:  # removed by a reset since listdir
                    records.append(record)
        self._unreadable.sort()
        return sorted(records, key=lambda record: record.task)

    def unreadable(self) -> list[tuple[str, str]]:
        return list(self._unreadable)

    # -- writing -------------------------------------------------------------------------
    def put(self, task: str, checkpoint: object) -> None:
        path = self.path_of(task)
        raw = encode_checkpoint(task, checkpoint)  # fail before touching the disk
        with self._locked(task):
            previous = self._read(path)
            record = {
                "format": FORMAT_VERSION,
                "task": task,
                "sequence": (previous.sequence if previous else 0) + 1,
                "updated_at": time.time(),
                "checkpoint": Fragment(raw),  # the exact bytes, never re-encoded
            }
            data = encode_json(record, indent=True) + b"\n"
            tmp = os.path.join(self.directory, "." + os.path.basename(path) + ".tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, path)
                _fsync_dir(self.directory)
            except OSError as exc:
                raise self._io_error("write", path, exc) from None

    def reset(self, task: str) -> bool:
        path = self.path_of(task)
        if not os.path.isdir(self.directory):
            return False
        with self._locked(task):
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise self._io_error("remove", path, exc) from None
            _fsync_dir(self.directory)
            return True

    # -- the input configuration the checkpoint belongs to ----------------------------------
    def input_hash_path(self, task: str) -> str:
        check_task_name(task)
        return os.path.join(self.directory, "." + file_stem(task) + ".input-hash")

    def input_hash(self, task: str) -> Optional[str]:
        try:
            with open(self.input_hash_path(task), encoding="ascii") as handle:
                return handle.read().strip() or None
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DstreamError(
                f"could not read {self.input_hash_path(task)}: {exc}",
                hint="check the permissions of the state directory",
            ) from None

    def set_input_hash(self, task: str, digest: str) -> None:
        self._ensure_directory()
        path = self.input_hash_path(task)
        try:
            with open(path + ".tmp", "w", encoding="ascii") as handle:
                handle.write(digest + "\n")
            os.replace(path + ".tmp", path)
        except OSError as exc:
            raise self._io_error("write", path, exc) from None

    # -- run history (`dstream runs`) -----------------------------------------------------
    def _runs_path(self, task: str) -> str:
        check_task_name(task)
        return os.path.join(self.directory, "." + file_stem(task) + ".runs.jsonl")

    def runs(self, task: str) -> list[dict[str, object]]:
        try:
            with open(self._runs_path(task), "rb") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._io_error("read", self._runs_path(task), exc) from None
        out: list[dict[str, object]] = []
        for line in lines:
            try:
                doc = decode_json(line)
            except ValueError:
                continue  # a line cut by a crash mid-write: the others still count
            if isinstance(doc, dict):
                out.append(dict(doc))
        return out[-RUN_HISTORY:]

    def add_run(self, task: str, run: dict[str, object]) -> None:
        path = self._runs_path(task)
        with self._locked(task):
            kept = self.runs(task)[-(RUN_HISTORY - 1) :]
            data = b"".join(encode_json(r) + b"\n" for r in [*kept, run])
            try:
                with open(path + ".tmp", "wb") as handle:
                    handle.write(data)
                os.replace(path + ".tmp", path)
            except OSError as exc:
                raise self._io_error("write", path, exc) from None

    def _io_error(self, action: str, path: str, exc: OSError) -> DstreamError:
        hint = "check the path and permissions of the state directory (state { path = ... })"
        if exc.errno == errno.ENOSPC:
            hint = "the disk is full: free space, then run again (the previous checkpoint is kept)"
        return DstreamError(f"could not {action} {path}: {exc.strerror or exc}", hint=hint)
