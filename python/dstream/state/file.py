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
mid-write belongs to nobody once the lock is ours, and is removed before the new one
is created.

The records are the checkpoints runs resume from, so the directory must be the user's
alone: one another user could write to (not the user's, or group/other-writable
without the sticky bit) is refused, since its owner could replace a record or plant a
link that a write would follow onto any file the user may write. dstream creates the
directory 0700 and its files 0600, opens none of them through a link, and creates
each temporary file anew (O_EXCL).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator

from dstream import _core, warm
from dstream.errors import DstreamError
from dstream.protocol.values import Fragment, decode_json, encode_json
from dstream.state.base import (
    FORMAT_VERSION,
    NULL_CHECKPOINT,
    NULL_REASON,
    RUN_HISTORY,
    UNRECORDED_HINT,
    StateRecord,
    StateStore,
    Unanswered,
    Unreadable,
    UnreadableRecord,
    already_running,
    check_task_name,
    compact,
    is_time,
    run_entry,
    stored_form,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
SUFFIX = ".json"
RUN_LOCK = ".run.lock"  # .<task>.run.lock: held for a whole run (hold_run)
LOCK_TRY = 0.05  # seconds between two tries of a task's lock after a forced stop


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
    stored = compact(checkpoint)
    if stored == NULL_CHECKPOINT:
        raise _not_a_record(path, NULL_REASON)
    return StateRecord(task, stored, float(updated), sequence)


def _user(uid: int) -> str:
    import pwd

    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:  # no name in the user database
        return f"uid {uid}"


def _private_group(gid: int, uid: int) -> bool:
    """Whether group `gid` is user `uid`'s own (the user-private groups of Debian, Ubuntu
    and Fedora, whose users have a umask of 002): its write bit lets nobody else in. The
    rule Debian's OpenSSH applies to a group-writable ~/.ssh."""
    import grp
    import pwd

    try:
        group, owner = grp.getgrgid(gid), pwd.getpwuid(uid)
    except KeyError:
        return False
    if owner.pw_gid != gid or any(member != owner.pw_name for member in group.gr_mem):
        return False
    return all(user.pw_gid != gid or user.pw_uid == uid for user in pwd.getpwall())


_WHY_OWN = (
    "It holds the checkpoints runs resume from: whoever can write there can replace one, "
    "or plant a link dstream would write through"
)


class NotAStateFile(DstreamError):
    """Something other than a regular file where a state file goes (a directory, a
    FIFO): no question of its owner, and nothing `state set` can replace."""


_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def _not_a_file(path: str, mode: int) -> NotAStateFile:
    kind = next((name for test, name in _KINDS if test(mode)), "special file")
    remove = "rm -r" if stat.S_ISDIR(mode) else "rm"
    return NotAStateFile(
        f"{path} is a {kind}, not a state file: remove it",
        hint=f"{remove} {path}: dstream keeps only regular files there, and writes none over "
        "it; if you did not make it, check who else can write to the state directory",
    )


def _not_own(path: str, problem: str) -> DstreamError:
    return DstreamError(
        f"{path} {problem}, not to {_user(os.geteuid())}: dstream uses only files of its "
        "user's own in a state directory",
        hint="if dstream wrote it when run as another user (root), give the directory and "
        "its files to the user that runs dstream now (chown -R); else remove it, and check "
        "who else can write to the state directory",
    )


def _refusal(directory: str, st: os.stat_result) -> Optional[DstreamError]:
    """Why dstream does not use the state directory `st` describes: another user could
    write to it. None when only this user can."""
    if st.st_uid != os.geteuid():
        return DstreamError(
            f"the state directory {directory} belongs to {_user(st.st_uid)}, not to "
            f"{_user(os.geteuid())} who runs dstream",
            hint="use a directory of your own (state { path = ... }, --state-dir), or give "
            f"this one and its files to the user that runs dstream (chown -R). {_WHY_OWN}",
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_ISVTX:  # as /tmp: others may add names, not replace dstream's
        return None
    if mode & stat.S_IWOTH or (mode & stat.S_IWGRP and not _private_group(st.st_gid, st.st_uid)):
        return DstreamError(
            f"the state directory {directory} can be written by other users (mode "
            f"{mode:04o}, no sticky bit)",
            hint=f"chmod go-w {directory}, or use a directory of your own "
            f"(state {{ path = ... }}, --state-dir). {_WHY_OWN}",
        )
    return None


def _temporary(path: str) -> str:
    """Where the next contents of `path` are written first: .<name>.tmp beside it."""
    directory, name = os.path.split(path)
    return os.path.join(directory, (name if name.startswith(".") else "." + name) + ".tmp")


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

    def _check_directory(self) -> bool:
        """Whether the state directory exists; a DstreamError when it is not one only
        this user can write to (see the module's docstring)."""
        try:
            st = os.stat(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise self._io_error("open the state directory", self.directory, exc) from None
        if not stat.S_ISDIR(st.st_mode):
            raise DstreamError(
                f"the state directory {self.directory} is not a directory",
                hint="point state { path = ... } (or --state-dir) at a directory",
            )
        refusal = _refusal(self.directory, st)
        if refusal is not None:
            raise refusal
        return True

    def _ensure_directory(self) -> None:
        if self._check_directory():
            return
        missing = []
        probe = self.directory
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise self._io_error("create the state directory", self.directory, exc) from None
        # New directory entries are durable only once their parents are synced.
        for created in reversed(missing):
            _fsync_dir(os.path.dirname(created))
        self._check_directory()  # created meanwhile by someone else: theirs, not ours

    def _open_own(self, path: str, flags: int) -> int:
        """An fd of the file at `path`, opened without following a link (created 0600
        with O_CREAT) and only when it is a regular file of this user's. OSError as
        os.open raises it; DstreamError for a link, or for another's file (a sticky
        directory lets others add names)."""
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.EACCES:  # another user's file (root's, of an earlier run)
                with contextlib.suppress(OSError):
                    owner = os.lstat(path).st_uid
                    if owner != os.geteuid():
                        raise _not_own(path, f"belongs to {_user(owner)}") from None
            if exc.errno != errno.ELOOP:
                raise
            raise DstreamError(
                f"{path} is a symbolic link: dstream never makes one in a state directory, "
                "and never reads or writes through one",
                hint=f"remove it (rm {path}) if you made it; else someone else did, who "
                "could write to the state directory: check who",
            ) from None
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
            return fd
        os.close(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_a_file(path, st.st_mode)
        raise _not_own(path, f"belongs to {_user(st.st_uid)}")

    def _read_bytes(self, path: str) -> Optional[bytes]:
        """The contents of the file at `path` in the state directory; None when there is
        none."""
        if not self._check_directory():
            return None
        try:
            fd = self._open_own(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._io_error("read", path, exc) from None
        try:
            with os.fdopen(fd, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise self._io_error("read", path, exc) from None

    def _replace(self, path: str, data: bytes) -> None:
        """`path` atomically replaced by a file holding `data`, durable when this
        returns. The caller holds the task's lock, so the temporary name is free: what a
        killed writer left there (or a planted link) is removed first, and unlink takes
        a link away without touching what it points to."""
        tmp = _temporary(path)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_dir(self.directory)
        except OSError as exc:
            raise self._io_error("write", path, exc) from None

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
            fd = self._open_own(path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise self._io_error("open the lock file", path, exc) from None
        try:
            os.fchmod(fd, 0o600)  # one an earlier version made 0644
        except OSError as exc:
            os.close(fd)
            raise self._io_error("open the lock file", path, exc) from None
        return fd

    @contextlib.contextmanager
    def _locked(self, task: str, *, until: Optional[float] = None) -> Iterator[None]:
        """The task's write lock (released by the kernel if we are killed); `until`: a
        forced stop's deadline (monotonic), past which it is not waited for."""
        fd = self._open_lock(task, ".lock")
        try:
            if until is not None:
                self._lock_until(fd, until)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _lock_until(fd: int, until: float) -> None:
        """Take the lock of `fd`, trying until `until` (monotonic; once at least): held
        then, it is held by a write in flight (one the forced stop left behind)."""
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            left = until - time.monotonic()
            if left <= 0:
                raise Unanswered(
                    "the state file's lock is held by a write still in flight",
                    hint=UNRECORDED_HINT,
                )
            time.sleep(min(LOCK_TRY, left))  # the last try at the deadline, not after it

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
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
            except OSError as exc:  # a full disk, a file-size limit: nothing is stored either
                raise self._io_error("write", self.run_lock_path(task), exc) from None
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- reading -------------------------------------------------------------------------
    def _read(self, path: str) -> Optional[StateRecord]:
        raw = self._read_bytes(path)
        return None if raw is None else _parse_record(raw, path)

    def get(self, task: str) -> Optional[StateRecord]:
        return self._read(self.path_of(task))

    def tasks(self) -> list[StateRecord]:
        if not self._check_directory():
            return []
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
                    replaceable = not isinstance(exc, NotAStateFile)
                    self._unreadable.append(
                        Unreadable(task_of(name), path, exc.reason, replaceable)
                    )
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
        raw = stored_form(task, checkpoint)  # fail before touching the disk
        with self._locked(task):
            previous = self._read(path)
            record = {
                "format": FORMAT_VERSION,
                "task": task,
                "sequence": (previous.sequence if previous else 0) + 1,
                "updated_at": time.time(),
                "checkpoint": Fragment(raw),  # the exact bytes, never re-encoded
            }
            self._replace(path, encode_json(record, indent=True) + b"\n")

    def reset(self, task: str) -> bool:
        path = self.path_of(task)
        if not self._check_directory():
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
        path = self.input_hash_path(task)
        raw = self._read_bytes(path)
        try:
            return None if raw is None else raw.decode("ascii").strip() or None
        except ValueError:
            raise DstreamError(
                f"{path} is not a digest dstream wrote (it is not ASCII text)",
                hint=f"remove it (rm {path}): the next run then takes the input's current "
                "configuration as the checkpoint's",
            ) from None

    def set_input_hash(self, task: str, digest: str) -> None:
        with self._locked(task):
            self._replace(self.input_hash_path(task), digest.encode("ascii") + b"\n")

    # -- run history (`dstream runs`) -----------------------------------------------------
    def _runs_path(self, task: str) -> str:
        check_task_name(task)
        return os.path.join(self.directory, "." + file_stem(task) + ".runs.jsonl")

    def _history(self, path: str) -> list[bytes]:
        """The lines of the run history at `path`, as written."""
        raw = self._read_bytes(path)
        return [] if raw is None else raw.splitlines()

    def runs(self, task: str) -> list[dict[str, object]]:
        path = self._runs_path(task)
        out: list[dict[str, object]] = []
        for number, line in enumerate(self._history(path), 1):
            if not line.strip():
                continue
            run = run_entry(line, task, f"{path}:{number}")
            if run is not None:
                out.append(run)
        return out[-RUN_HISTORY:]

    def add_run(self, task: str, run: dict[str, object], *, until: Optional[float] = None) -> None:
        """The lines before are kept as written: one `runs` skips stays for the user to
        see (it names its line), not dropped by the next run. After a forced stop the
        task's lock is tried until the stop's deadline (`until`): every record then
        shares that one deadline, however many tasks it records."""
        path = self._runs_path(task)
        with self._locked(task, until=until):
            kept = [line for line in self._history(path) if line.strip()][-(RUN_HISTORY - 1) :]
            self._replace(path, b"".join(line + b"\n" for line in [*kept, encode_json(run)]))

    def _io_error(self, action: str, path: str, exc: OSError) -> DstreamError:
        hint = "check the path and permissions of the state directory (state { path = ... })"
        if exc.errno == errno.ENOSPC:
            hint = "the disk is full: free space, then run again (the previous checkpoint is kept)"
        return DstreamError(f"could not {action} {path}: {exc.strerror or exc}", hint=hint)
