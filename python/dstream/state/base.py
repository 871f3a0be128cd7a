"""What every state backend provides: one checkpoint per task, replaced atomically.

A checkpoint is opaque to dstream: the exact bytes of the JSON value an input wrote
(`raw`), stored and handed back unchanged, never parsed into numbers on the way (a JSON
layer would round `18446744073709551617` or refuse `1e400`). The store keeps the newest
one the output acknowledged, when it was written and a per-task `sequence` that grows by
one with each `put`, so two writers sharing a store can tell whose value won.
"""

from __future__ import annotations

import abc
import os
import re
from contextlib import AbstractContextManager

from dstream import _core
from dstream.config.limits import TASK_NAME_HINT, task_name_problem
from dstream.errors import DstreamError, LockLost, UsageError
from dstream.protocol.values import Fragment, decode_json, encode_json
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Union

    from dstream.protocol.values import JsonValue

# Bumped if the on-disk / in-table layout ever changes; readers refuse newer formats.
FORMAT_VERSION = 1
RUN_HISTORY = 100  # runs kept per task for `dstream runs`
# The end of the times a store keeps (seconds since 1970): a date shows none later
# (datetime's years end at 9999).
_END_OF_TIME = 253402300800.0


@record(frozen=True)
class StateRecord:
    task: str
    raw: bytes  # the checkpoint: the exact JSON text of the value the input emitted
    updated_at: float  # seconds since the epoch (time.time())
    sequence: int  # 1 for the first put, +1 for each later put of the same task

    @property
    def checkpoint(self) -> JsonValue:
        """The checkpoint as a Python value, to look at (integers exact; a number beyond
        a double becomes inf): `raw` is what is handed back to the input."""
        return decode_json(self.raw)

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "checkpoint": Fragment(self.raw),  # verbatim in any JSON document
            "updated_at": self.updated_at,
            "sequence": self.sequence,
        }


class UnreadableRecord(DstreamError):
    """A stored record that is not one dstream wrote: edited by hand or by another
    program, torn, or another task's. `dstream state set` / `reset` replace it."""


# A stored checkpoint dstream never writes (`state set` refuses it too): an input reads a
# null state as none, so resuming from it would start the input from the beginning.
NULL_CHECKPOINT = b"null"
NULL_REASON = (
    "its checkpoint is null, which dstream never stores (an input would read it as no "
    "checkpoint and start from the beginning)"
)


@record(frozen=True)
class Unreadable:
    """A stored record `tasks()` could not read and left out."""

    task: Optional[str]  # whose record its place says it is (None: no task's place)
    where: str
    reason: str
    # False: not a record at all (a directory where one goes), which `state set` cannot
    # replace: the hint of `state list` does not offer it then.
    replaceable: bool = True


def is_time(value: object) -> bool:
    """Whether `value` is a moment as a store keeps one: seconds since 1970, which a
    date can show."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value < _END_OF_TIME


def run_problem(run: object, task: str) -> Optional[str]:
    """Why `run` is not an entry of `task`'s run history as `add_run` writes one (it
    was edited by hand), or None: what `dstream runs` may show without a second look."""
    if not isinstance(run, dict):
        return "it is not a JSON object"
    for key in ("started_at", "ended_at"):
        if key not in run:
            return f"it has no {key}"
        if not is_time(run[key]):
            return f"its {key} is not a time (seconds since 1970, before the year 10000)"
    for key in ("envelopes", "exit_code", "attempts"):
        if key in run and (isinstance(run[key], bool) or not isinstance(run[key], int)):
            return f"its {key} is not a whole number"
    if not isinstance(run.get("result", ""), str):
        return "its result is not a string"
    other = run.get("task", task)
    if other != task:
        return f"it is a run of task {str(other)[:40]!r}"
    return None


def run_entry(text: Union[bytes, str], task: str, where: str) -> Optional[dict[str, object]]:
    """The history entry stored as `text`, or None when no reader can show it (cut
    short, nested too deep, edited by hand): then said, naming `where`, and skipped."""
    try:
        run = decode_json(text)
    except (ValueError, RecursionError) as exc:  # the other entries still count
        skip_run(where, f"it is not JSON dstream can read: {exc}")
        return None
    problem = run_problem(run, task)
    if problem is not None:
        skip_run(where, problem)
        return None
    return dict(run) if isinstance(run, dict) else None  # run_problem checked it is


def skip_run(where: str, problem: str) -> None:
    """Say that the history entry at `where` is left out, and why (as `state list`
    names a state file it cannot read): the other runs are still shown."""
    from dstream import logs

    logs.log.warning("run history %s: %s: skipped", where, problem)


_TOKENS = rb'("(?:[^"\\]|\\.)*")|[ \t\r\n]+'


def compact(raw: bytes) -> bytes:
    """`raw` without whitespace outside strings: one line, the same value byte for byte
    (numbers and strings untouched), so it fits in a command line."""
    if b"\n" not in raw and b"\r" not in raw:
        return raw
    return re.sub(_TOKENS, lambda m: m.group(1) or b"", raw)


def encode_checkpoint(task: str, checkpoint: object) -> bytes:
    """The checkpoint as JSON bytes: `bytes` are already its JSON text and are kept as
    they are once checked to be one JSON value; anything else is a Python value to
    encode. A clear error when it is neither."""
    if isinstance(checkpoint, bytes):
        raw = checkpoint.strip(b" \t\r\n")
        if raw and _core.checkpoint_value(b'{"checkpoint":' + raw + b"}") == raw:
            return compact(raw)
        reason = "it is not one JSON value"
    else:
        try:
            return encode_json(checkpoint)
        except TypeError as exc:
            reason = str(exc)
    raise DstreamError(
        f"the checkpoint of task {task!r} is not a JSON value: {reason}",
        hint="a checkpoint must be JSON (object, array, string, number, bool or null)",
    )


def stored_form(task: str, checkpoint: object) -> bytes:
    """The bytes a store writes for `checkpoint` (encode_checkpoint), null refused: no
    store holds one (NULL_REASON), and a reader refuses one written by anything else."""
    raw = encode_checkpoint(task, checkpoint)
    if raw == NULL_CHECKPOINT:
        raise DstreamError(
            f"the checkpoint of task {task!r} is null, which dstream never stores: an input "
            "would read it as no checkpoint and start from the beginning",
            hint=f"to make task {task!r} start from the beginning, reset its state "
            f"(`dstream state reset {task}`)",
        )
    return raw


def check_task_name(task: str) -> None:
    """Refuse what no task of a configuration can be named (its loading refuses those
    with file:line:col): a name that reaches a store unchecked came from the command
    line (`dstream state show NAME`)."""
    problem = task_name_problem(task) if isinstance(task, str) else "not a string"
    if problem:
        raise UsageError(problem, hint=TASK_NAME_HINT)


def this_host() -> str:
    """The host's name, as every owner and holder this host's processes name says it."""
    return os.uname().nodename


def this_process() -> str:
    """host:pid, which starts every owner this process names (unless labelled)."""
    return f"{this_host()}:{os.getpid()}"


def started(pid: Union[int, str]) -> Optional[str]:
    """When process `pid` of this host started, as `ticks@boot`: field 22 of its
    /proc/PID/stat (clock ticks after boot) and the boot's id, which no later process
    of that pid shares (a pid is reused; PID 1 of a container is always in use). None
    where /proc does not say (the process is gone, no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # "pid (comm) state ...": comm may hold spaces and parentheses.
            fields = stat.read().rsplit(")", 1)[1].split()
        return f"{fields[19]}@{_boot()}"  # fields[0] is field 3, state
    except (OSError, IndexError):
        return None


def _boot() -> str:
    """This boot's id (every PID namespace of the machine shares it). OSError: no /proc."""
    with open("/proc/sys/kernel/random/boot_id") as boot:
        return boot.read().strip()


# The PID namespace of a machine's first process (the kernel's PROC_PID_INIT_INO): a
# process of it sees every process of the machine in /proc, those of every container.
INITIAL_PID_NAMESPACE = "4026531836"


def pid_namespace(pid: Union[int, str] = "self") -> Optional[str]:
    """The PID namespace process `pid` of this host is in: the inode of /proc/PID/ns/pid
    (a container's, `unshare --pid`'s, or INITIAL_PID_NAMESPACE). None where /proc does
    not say."""
    try:
        return str(os.stat(f"/proc/{pid}/ns/pid").st_ino)
    except OSError:
        return None


def this_process_since() -> str:
    """host:pid:ticks@boot/pidns, which names this process and no later one of its pid,
    nor one of another PID namespace that has its pid: when it started (`started`) and
    the PID namespace its pid is of (`pid_namespace`). host:pid:ticks@boot where /proc
    does not say the namespace; host:pid where it does not say when it started."""
    since = started("self")
    if not since:
        return this_process()
    namespace = pid_namespace()
    return f"{this_process()}:{since}/{namespace}" if namespace else f"{this_process()}:{since}"


@record(frozen=True)
class NamedProcess:
    """A process as this_process_since names one. "" for what the name does not say:
    an older dstream's said host:pid, then host:pid:ticks@boot."""

    host: str
    pid: str  # of its own PID namespace
    since: str  # `started`'s ticks@boot
    namespace: str  # `pid_namespace`'s

    @property
    def boot(self) -> str:
        return self.since.partition("@")[2]

    @property
    def where(self) -> str:
        """What the process is of, for a message: "this host", or "PID namespace N of
        this host" when the name says a namespace other than this process's."""
        if self.namespace and self.namespace != pid_namespace():
            return f"PID namespace {self.namespace} of this host"
        return "this host"


def named_process(name: str) -> NamedProcess:
    """The process `name` names (this_process_since's, or an older dstream's form).
    Nothing is checked: ended_here refuses what is not a process of this host."""
    host, pid, since = [*name.split(":", 2), "", ""][:3]
    since, _, namespace = since.partition("/")
    return NamedProcess(host, pid, since, namespace)


def ended_here(process: NamedProcess) -> bool:
    """Whether `process` is known to have ended (look_up)."""
    return look_up(process) == (True, None)


def look_up(process: NamedProcess) -> tuple[bool, Optional[int]]:
    """(known, pid here): whether this host can tell if `process` runs, and if it does,
    its pid in this process's namespace (the process of that pid started when it did);
    known with no pid: it has ended. Known when it ran on this host in another boot
    (ended); in this PID namespace (ended when no process has its pid, or the one that
    has it started at another time); elsewhere when this process sees every process of
    the machine (the initial PID namespace, /proc not hiding any) and whether one is it.
    Another host's, or of another namespace that this process may not see, is not known:
    its pid here is another process's, or none."""
    if process.host != this_host() or not process.pid.isdigit():
        return False, None
    try:
        if process.boot and process.boot != _boot():
            return True, None  # every process of that boot has ended
    except OSError:
        return False, None
    here = pid_namespace()
    if process.namespace and process.namespace == here:
        return _look_up_here(process)
    if here != INITIAL_PID_NAMESPACE:
        return False, None
    return _look_up_everywhere(process)


def _look_up_here(process: NamedProcess) -> tuple[bool, Optional[int]]:
    """look_up of a process of this process's PID namespace."""
    try:
        os.kill(int(process.pid), 0)
    except ProcessLookupError:
        return True, None
    except OSError:  # EPERM: a process of another user has that pid; when it started tells
        pass
    now = started(process.pid) if process.since else None
    if now is None:
        return False, None
    return True, (int(process.pid) if now == process.since else None)


def _look_up_everywhere(process: NamedProcess) -> tuple[bool, Optional[int]]:
    """look_up by every process of the machine (this one sees them all): one whose pid
    in its own namespace is `process`'s, of its namespace, started when it did."""
    if not _sees_all():
        return False, None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status:
                ids = [line.split()[1:] for line in status if line.startswith("NSpid:")]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        except OSError:  # not this process's to read: it may be the one
            return False, None
        if not ids or not ids[0]:
            return False, None  # a kernel that does not say (before 4.1)
        if ids[0][-1] != process.pid:
            continue
        if not process.since:
            return False, None  # a process has its pid: it or another one
        if started(entry.name) != process.since or not _of(entry.name, process.namespace):
            continue
        return True, int(entry.name)
    return True, None


def _of(pid: str, namespace: str) -> bool:
    """Whether process `pid` may be of PID namespace `namespace` ("": not known): False
    only when /proc says another."""
    # None: gone meanwhile (then no other process has its start), or not ours to read.
    found = pid_namespace(pid)
    return found is None or namespace in ("", found)


def _sees_all() -> bool:
    """Whether /proc shows this process every process (not mounted with hidepid)."""
    try:
        with open("/proc/self/mountinfo") as mounts:
            for line in mounts:
                fields = line.split()
                if fields[4] == "/proc" and re.search(r"hidepid=(?!0\b|off\b)", line):
                    return False
    except (OSError, IndexError):
        return False
    return True


class StateStore(abc.ABC):
    """A place for the newest acknowledged checkpoint of each task.

    `put` is durable when it returns and atomic: whatever instant a crash happens at,
    `get` later returns either the previous record or the new one, never a mix.
    Implementations are safe to share between threads of one process and between
    processes (several `dstream run` on one store).
    """

    #: short name for messages and `dstream state list`, e.g. "file /x/.dstream/state"
    description: str = ""
    #: runs hold leases with a fencing epoch (and keep a configuration hash with them)
    has_leases: bool = False

    @property
    def owner(self) -> str:
        """Who this process is to the store, as the history of a run it records names it
        (`dstream runs`): host:pid; a store with leases names their holder."""
        return this_process()

    @abc.abstractmethod
    def get(self, task: str) -> Optional[StateRecord]: ...

    @abc.abstractmethod
    def put(self, task: str, checkpoint: object) -> None:
        """Store `checkpoint`: its exact JSON text as `bytes` (what a run stores), or a
        Python value (encoded; `dstream state set`, tests). See encode_checkpoint."""

    @abc.abstractmethod
    def reset(self, task: str) -> bool:
        """Forget the task's checkpoint; True when there was one."""

    @abc.abstractmethod
    def tasks(self) -> list[StateRecord]:
        """Every stored record, sorted by task name."""

    def unreadable(self) -> list[Unreadable]:
        """Each stored record the last `tasks()` could not read and left out, so one
        corrupt record does not hide the others."""
        return []

    @abc.abstractmethod
    def hold_run(self, task: str, *, config_hash: str = "") -> AbstractContextManager[None]:
        """Mark `task` as running until the context exits (Terraform's state lock): two
        runs of one task would read the same checkpoint, both consume the source and
        overwrite each other's state. Raises `already_running` when it is held
        elsewhere, never waits. A holder that dies releases it (the kernel drops a dead
        process's flock; the server ends a dead session's advisory lock)."""

    def held_elsewhere(self, task: str) -> bool:
        """Whether another run holds `task`, read without taking anything and without
        waiting on a silent database (False when that is not known: the next try to
        take it tells). A store without leases cannot tell."""
        return False

    def lease_epoch(self, task: str) -> Optional[int]:
        """The fencing epoch of the run this store holds for `task` (postgres leases);
        None where the backend has no leases."""
        return None

    def on_lease_lost(self, task: str, callback: Callable[[LockLost], None]) -> None:
        """Call `callback` when the run of `task` loses its lease (never, without leases)."""
        return None

    def follow_lease_deadline(self, task: str, callback: Callable[[float], None]) -> None:
        """Give `callback` the local deadline (monotonic) of the lease this store holds for
        `task`, at once and after each renewal; it must return at once (a pump's
        `set_deadline`). Never, without leases."""
        return None

    def lease_deadline_passed(self, task: str) -> None:
        """The run of `task` saw its lease's local deadline pass (its pump stopped
        there): the lease is lost, as if the keeper's watchdog had seen it (its
        `on_lease_lost` callback is called). Nothing, without leases."""
        return None

    def input_hash(self, task: str) -> Optional[str]:
        """The digest of the input configuration the stored checkpoint came from (see
        `dstream run --resume-changed`); None when none was stored."""
        return None

    def set_input_hash(self, task: str, digest: str) -> None:
        """Remember the input configuration the next checkpoints come from (fenced
        like `put` where the backend has leases; left alone while another process holds
        the task's lease, since that run's checkpoints come from its own input)."""
        return None

    def add_run(self, task: str, run: dict[str, object], *, until: Optional[float] = None) -> None:
        """Append one finished run to the task's history (`dstream runs`), keeping the
        newest RUN_HISTORY. Not fenced where the backend has leases: it touches no
        checkpoint, and a run that lost its lease is the one an operator looks for.
        `until`: the process's stop was forced, and this is its deadline (monotonic,
        runtime/signals.py): the write waits for nothing past it, and raises Unanswered
        instead (once it passed, or at once where a wait cannot be cut short). So does
        a store whose database did not answer its last call."""
        return None

    def runs(self, task: str) -> list[dict[str, object]]:
        """The task's recent runs, oldest first (at most RUN_HISTORY)."""
        return []

    @property
    def silent(self) -> bool:
        """The store's database did not answer its last call (never, without one): a
        call that cannot matter is not made on it, it would only wait out its bound."""
        return False

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        return None  # the file backend holds nothing open between calls

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AlreadyRunning(DstreamError):
    """Another run holds the task (its lock or lease)."""


class Unanswered(DstreamError):
    """A call that cannot matter (a run's history) was not made, because it would wait:
    the store's database did not answer its last call (the call would only wait out its
    bound), or a forced stop's deadline allows no wait and the call could not be made
    without one."""


# The hint of an Unanswered: what was not recorded changes nothing else. It claims no
# stored checkpoint: the task may have none (its summary says whether the next resumes).
UNRECORDED_HINT = "the run's outcome and its checkpoints do not depend on its history"


# What a refused command can do about a run lock (the file backend's flock): the
# kernel drops it with its process, whatever ended that.
LOCK_HINT = (
    "wait for that run to end or stop it (Ctrl-C / SIGTERM); the lock goes with "
    "its process, so there is never a stale lock to remove by hand"
)


def already_running(
    task: str, where: str, holder: str = "", hint: str = LOCK_HINT
) -> AlreadyRunning:
    """`hint`: what to do about that holder (a lease's is not a lock's: state/held.py)."""
    by = f" ({holder})" if holder else ""
    return AlreadyRunning(
        f"task {task!r} is already running{by}: its state in {where} is locked", hint=hint
    )
