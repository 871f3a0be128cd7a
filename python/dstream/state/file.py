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
    Unreadable,
    UnreadableRecord,
    already_running,
    check_task_name,
    compact,
    encode_checkpoint,
    is_time,
    run_problem,
    skip_run,
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


def task_of(file_name: str) -> Optional[str]:
    """The task whose record is the file `file_name` (file_stem reversed); None for a
    name file_stem gives no task."""
    if not file_name.endswith(SUFFIX):
        return None
    stem = file_name[: -len(SUFFIX)]
    name = bytearray()
    index = 0
    while index < len(stem):
        if stem[index] == "%":
            try:
                name.append(int(stem[index + 1 : index + 3], 16))
            except ValueError:
                return None
            index += 3
        else:
            name += stem[index].encode("utf-8")
            index += 1
    try:
        task = name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return task if task and file_stem(task) == stem else None


def _shown(value: object) -> str:
    """A value of a state file in a message: as JSON, cut short."""
    try:
        text = encode_json(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _not_a_record(path: str, why: str) -> UnreadableRecord:
    return UnreadableRecord(
        f"state file {path} is not a dstream state record ({why})",
        hint="it was edited by hand or by another program; fix it, or replace it "
        "with `dstream state set TASK JSON` / remove it with `dstream state reset TASK`",
    )


def _parse_record(raw: bytes, path: str) -> StateRecord:
    """The record in the state file at `path`, whose contents are `raw`: one dstream
    wrote for the task the file is named after, in a format it reads. UnreadableRecord
    otherwise; DstreamError for a newer format."""
    try:
        # The checkpoint's own bytes, verbatim (compacted: files of older versions were
        # indented); the other fields parsed (1e400 in the checkpoint is inf there, and
        # unused).
        checkpoint = _core.checkpoint_value(raw)
        doc = decode_json(raw)
    except (ValueError, RecursionError):
        checkpoint = doc = None
    if checkpoint is None or not isinstance(doc, dict):
        raise _not_a_record(path, "it is not a JSON object with a checkpoint")
    fmt = doc.get("format", 1)  # every version writes it: one without is the first
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise _not_a_record(path, f"its format is {_shown(fmt)}, not a version number")
    if fmt > FORMAT_VERSION:
        raise DstreamError(
            f"state file {path} has format {fmt}, newer than this "
            f"dstream understands ({FORMAT_VERSION})",
            hint="upgrade dstream, or reset the task's state if it may start over",
        )
    task = doc.get("task")
    if not isinstance(task, str):
        raise _not_a_record(path, "it names no task")
    if task_of(os.path.basename(path)) != task:
        raise _not_a_record(path, f"it holds the state of task {task[:40]!r}")
    updated, sequence = doc.get("updated_at"), doc.get("sequence")
    if not is_time(updated) or isinstance(sequence, bool) or not isinstance(sequence, int):
        raise _not_a_record(path, "its updated_at and sequence are not a time and a number")
    assert isinstance(updated, (int, float))  # is_time said so
    return StateRecord(task, compact(checkpoint), float(updated), sequence)


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
        self._unreadable: list[Unreadable] = []

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
        return _parse_record(raw, path)

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
                    self._unreadable.append(Unreadable(task_of(name), path, exc.reason))
                    continue
                if record is not None:  # removed by a reset since listdir
                    records.append(record)
        self._unreadable.sort(key=lambda unreadable: unreadable.where)
        return sorted(records, key=lambda record: record.task)

    def unreadable(self) -> list[Unreadable]:
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

    def _history(self, path: str) -> list[bytes]:
        """The lines of the run history at `path`, as written."""
        try:
            with open(path, "rb") as handle:
                return handle.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._io_error("read", path, exc) from None

    def runs(self, task: str) -> list[dict[str, object]]:
        path = self._runs_path(task)
        out: list[dict[str, object]] = []
        for number, line in enumerate(self._history(path), 1):
            if not line.strip():
                continue
            try:
                doc = decode_json(line)
            except ValueError:  # cut short, or edited by hand: the others still count
                skip_run(f"{path}:{number}", "it is not JSON")
                continue
            problem = run_problem(doc, task)
            if problem is not None:
                skip_run(f"{path}:{number}", problem)
            elif isinstance(doc, dict):  # run_problem checked it is
                out.append(dict(doc))
        return out[-RUN_HISTORY:]

    def add_run(self, task: str, run: dict[str, object]) -> None:
        """The lines before are kept as written: one `runs` skips stays for the user to
        see (it names its line), not dropped by the next run."""
        path = self._runs_path(task)
        with self._locked(task):
            kept = [line for line in self._history(path) if line.strip()][-(RUN_HISTORY - 1) :]
            data = b"".join(line + b"\n" for line in [*kept, encode_json(run)])
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
