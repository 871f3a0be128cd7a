"""A warm start: `dstream run` starts its providers from a snapshot of the last run of
the same command, before the rest of dstream is imported (issue 22).

Before its first envelope a run spends ~130 M instructions in Python: the standard
modules a command line needs (threading, re, enum, argparse, subprocess, json) and
dstream's own, which evaluate dstream.hcl, open the state and start the providers. What
that work decides does not change from one run of the same configuration to the next.
So a run that started its providers writes down what it started (`remember`: argv,
directory, environment and command line of each, the pump's options) with everything
that decided it: the configuration's files by digest, the environment dstream and the
providers read, the providers' executables by stat, dstream's own build. The next
`dstream run` with the same arguments in the same directory (`launch`, called by the
console script before anything else is imported) finds that snapshot, checks every one
of those inputs, takes the task's run lock, reads its checkpoint and starts both
providers and the pump, with only os, marshal and dstream's Rust core loaded; then it
goes on as every run does. When the runtime reaches the task it adopts what was started
(`take`), after checking that it is exactly what it would have started itself.

A snapshot holds nothing that is not already in the project's own files or the host's
plain environment: it is written only for a configuration whose evaluation read no
environment variable (but DSTREAM_CONFIG), no `--var` and no sensitive value, whose
providers inherit no variable by name, and for a single task on the file state backend
with local executables that shook hands with protocol 1, on Linux (runtime/warmplan.py
decides). The environment is kept as one digest. Anything else, and any input that
changed, starts the run as always.

Here: launching and taking over; `key` says what decides a start and whether it is
unchanged; `child` forks, feeds and ends the providers.

Imports: the interpreter's own modules (os, marshal, _thread) and small C modules
(_sha256, fcntl, select, _signal (child.py), time, atexit), the package's held signals
(dstream/__init__.py), dstream's cache directory and the Rust core: nothing of
dstream's layers (protocol.frames alone would cost ~0.5 ms here, so the one name it
needs has a twin, child.ENV_COMMIT_FD); typing only for the type checker.
"""

from __future__ import annotations

import _thread
import marshal
import os

from dstream import hold_signals
from dstream.cache import discard, keep, read_owned
from dstream.warm.child import (
    Child,
    close_child,
    command_of,
    exec_done,
    kill_child,
    reap_child,
    signal_child,
    spawn_child,
    write_all,
)
from dstream.warm.key import (
    FORMAT,
    build_identity,
    eligible_arguments,
    fresh,
    snapshot_path,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Union

    from dstream._core import Pump, PumpResult

    Plan = dict[str, object]


HANDSHAKE_WAIT = 0.05  # seconds (see _start)
ENV_WARM = "DSTREAM_WARM_START"  # "0": never (the runtime starts every run itself)


# -- writing (the runtime, after a start it may repeat) ------------------------------------


def remember(cwd: str, args: list[str], plan: Plan) -> None:
    """Keep `plan` for the next `dstream ARGS` in `cwd`; a cache that cannot be written
    only means the next run starts as always."""
    plan = {**plan, "format": FORMAT, "build": build_identity(), "cwd": cwd, "args": args}
    keep(snapshot_path(cwd, args), marshal.dumps(plan), private=True)


def forget(cwd: str, args: list[str]) -> None:
    discard(snapshot_path(cwd, args))


# -- reading and launching (the console script, first thing) -----------------------------


class Launched:
    """What a warm start started for a task, until the runtime takes it (`take`).

    The input's first line is read on a thread of its own: if it is the handshake the
    snapshot recorded, and so is the output's first line after it (no checkpoint frame
    reaches an output before its own handshake in this run: the same executable may run
    another program now), that thread builds the pump and runs it; anything else
    (another line, EOF, no line in time) it leaves in `read` and `output_read` for the
    runtime's own handshake."""

    def __init__(self, plan: Plan, task: str, inp: Child, out: Child, lock_fd: int) -> None:
        self.plan, self.task, self.input, self.output, self.lock_fd = plan, task, inp, out, lock_fd
        self.read = b""  # what the thread read of the input's stdout and did not pump
        self.eof = False
        self.output_read = b""  # what it read of the output's stdout: the runtime's
        self.output_eof = False
        self.output_silent = False  # the output wrote no line within start_timeout
        self.pump: Optional[Pump] = None
        self.result: Optional[Union[PumpResult, BaseException]] = None
        self.decided = _thread.allocate_lock()  # held until the pump runs or is not to be
        self.finished = _thread.allocate_lock()  # held until the pump's run() returned
        self.decided.acquire()
        self.finished.acquire()
        self.stopped = False  # stop() ran

    def _first_line(self, timeout: float, longest: int) -> bytes:
        """The input's first line, once read whole within `timeout` and `longest` bytes;
        else b"" (what was read stays in `read`, EOF in `eof`)."""
        line, self.read, self.eof, _ = _first_line(self.input.stdout, timeout, longest)
        return line

    def _output_line(self, timeout: float, longest: int) -> bytes:
        """The output's first line, as `_first_line` (in `output_read`, `output_eof`;
        `output_silent`: none came in time)."""
        line, self.output_read, self.output_eof, late = _first_line(
            self.output.stdout, timeout, longest
        )
        self.output_silent = late and b"\n" not in self.output_read
        return line

    def run(self) -> None:
        from dstream import _core

        pumping = False
        try:
            expected: bytes = self.plan["handshake"]  # type: ignore[assignment]
            timeout: float = self.plan["start_timeout"]  # type: ignore[assignment]
            line = self._first_line(timeout, len(expected) + 2)
            answer = b""
            if line and line.rstrip(b"\r\n") == expected:
                answered: bytes = self.plan["output_handshake"]  # type: ignore[assignment]
                answer = self._output_line(timeout, len(answered) + 2)
                answer = answer if answer.rstrip(b"\r\n") == answered else b""
            if answer:
                options = _core.PumpOptions(
                    start_offset=len(line), input_pid=self.input.pid, task=self.task,
                    **self.plan["pump"],  # type: ignore[arg-type]
                )  # fmt: skip
                self.pump = _core.Pump(
                    self.input.stdout, self.output.stdin, options, self.read[len(line) :]
                )
                self.read = b""
                pumping = True
        except BaseException as exc:  # the runtime's handshake finds the fault again
            self.result = exc
        finally:
            self.decided.release()
        if pumping:
            assert self.pump is not None
            try:
                self.result = self.pump.run()
            except BaseException as exc:  # re-raised where the runtime waits for it
                self.result = exc
        self.finished.release()

    def stop(self) -> None:
        """Kill both providers, stop the pump, close what is left: for a start the run
        does not take over (`abandon`), or one it found was not its own. Once, and to
        the end whatever signal comes meanwhile (`uninterrupted`)."""
        if not self.stopped:
            uninterrupted(self._stop)

    def _stop(self) -> None:
        self.stopped = True
        # Killed first: the thread reading the input's first line then reads EOF, and a
        # pump ends at once, so the waits below are short.
        for child in (self.input, self.output):
            signal_child(child)
        decided = self.decided.acquire(timeout=1.0)
        if decided and self.pump is not None:
            self.pump.stop()
            self.finished.acquire(timeout=5.0)
        # Its fds are closed only once the thread let go of them (a closed fd number may
        # be reused at once); before the reaping waits, as kill_child does.
        if decided or self.decided.acquire(timeout=5.0):
            for child in (self.input, self.output):
                close_child(child)
        for child in (self.input, self.output):
            reap_child(child)
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


def _first_line(fd: int, timeout: float, longest: int) -> tuple[bytes, bytes, bool, bool]:
    """(the first line of `fd` once read whole within `timeout` and `longest` bytes, else
    b""; everything read; EOF came; the time ran out)."""
    import select
    import time

    read, deadline = b"", time.monotonic() + timeout
    while b"\n" not in read:
        if len(read) > longest:  # not the line it waits for: the runtime's
            return b"", read, False, False
        left = deadline - time.monotonic()
        ready = left > 0 and select.select([fd], [], [], left)[0]
        chunk = os.read(fd, 1 << 16) if ready else b""
        if not chunk:
            return b"", read, bool(ready), not ready
        read += chunk
    return read[: read.index(b"\n") + 1], read, False, False


def uninterrupted(call: Callable[[], None]) -> None:
    """`call()` with SIGINT and SIGTERM held (dstream's HeldSignals) until it returns,
    then handed to the handlers they had: a stop of what a warm start started must not
    break off half-way, its providers half killed, their pipes and the run lock open (a
    second Ctrl-C made a traceback of it at exit: chaos report, item 2). A signal that
    comes before they are held raises there, with nothing begun; one that comes as they
    are put back goes to its own handler. Outside the main thread no handler interrupts
    anything, and none can be set."""
    held = hold_signals()
    try:
        call()
    finally:
        held.release()
    held.deliver()


_launched: Optional[Launched] = None
_args: Optional[list[str]] = None  # the console script's arguments, when it may be warm
failure: Optional[BaseException] = None  # what made a warm start fail (a bug): the run says


def console_args() -> Optional[list[str]]:
    """The arguments of the `dstream` console script when a warm start may repeat its
    run (None in any other process, such as a test calling the CLI itself)."""
    return _args


def decline() -> None:
    """This run is never to be repeated by a warm start (the built-in demo)."""
    global _args
    _args = None


def take(task: str) -> Optional[Launched]:
    """What the warm start started for `task`, once: the runtime owns it from now on."""
    global _launched
    launched, _launched = _launched, None
    if launched is not None and launched.task != task:
        _launched = launched
        return None
    return launched


def held_lock(path: str) -> Optional[int]:
    """The fd of the run lock at `path` when the warm start holds it: the state store
    takes it over (state/file.py), and closing it releases the lock."""
    launched = _launched
    if launched is None or launched.lock_fd < 0 or launched.plan["lock"] != path:
        return None
    fd, launched.lock_fd = launched.lock_fd, -1
    return fd


def abandon() -> None:
    """Stop what a warm start started that the runtime did not take over (the run ended
    before it reached the task): nothing of it outlives the run. A SIGINT or SIGTERM
    meanwhile is handled once it is stopped (Launched.stop)."""
    global _launched
    launched = _launched
    if launched is not None:
        launched.stop()
        _launched = None


def _abandon_at_exit() -> None:
    """abandon() as the interpreter exits: the run has ended and its exit code is
    decided, so a SIGINT or SIGTERM now has nothing to stop but this, which goes on to
    its end (it made "Exception ignored in atexit callback" and a traceback). One that
    came before the stop began is raised with nothing begun: it begins again."""
    while _launched is not None:
        try:
            abandon()
        except KeyboardInterrupt:  # SIGTERM's Terminated too (cli/entry.py)
            continue


def launch(args: list[str]) -> None:
    """Start `dstream ARGS`'s providers and pump from its snapshot when every input of
    that snapshot is as it was; otherwise do nothing (the run starts as always)."""
    global _launched, _args
    if os.environ.get(ENV_WARM) == "0" or not eligible_arguments(args):
        return
    _args = list(args)
    cwd = os.getcwd()
    path = snapshot_path(cwd, args)
    kept = read_owned(path)
    if kept is None:
        return
    try:
        plan = marshal.loads(kept)
    except (ValueError, EOFError, TypeError):
        return
    try:
        if not isinstance(plan, dict) or not fresh(plan, cwd, args):
            return
    except (KeyError, TypeError, ValueError, AttributeError):  # not a snapshot it wrote
        return
    lock_fd = _lock(str(plan["lock"]))
    if lock_fd is None:
        return
    try:
        state = _checkpoint(plan)
        if state is False:
            os.close(lock_fd)
            return
        _launched = _start(plan, lock_fd, state)  # type: ignore[arg-type]
        import atexit

        atexit.register(_abandon_at_exit)  # what the run does not take over ends with it
    except BaseException:
        os.close(lock_fd)
        raise


def _lock(path: str) -> Optional[int]:
    """The task's run lock (state/file.py, FileStore.hold_run), or None when another run
    holds it: that run's error or a standby wait is the runtime's to give."""
    import fcntl

    try:  # never through a link: the runtime refuses one there and says so
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _checkpoint(plan: Plan) -> Union[bytes, bool, None]:
    """The stored checkpoint's bytes, None when there is none, False when the runtime
    must decide (a state file it has to explain, or a checkpoint of another input)."""
    from dstream import _core

    try:
        with open(str(plan["input_hash_path"]), "rb") as handle:
            stored_hash = handle.read().strip().decode("ascii")
    except FileNotFoundError:
        stored_hash = None
    except (OSError, ValueError):
        return False
    try:
        with open(str(plan["state_path"]), "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None if stored_hash in (None, plan["input_hash"]) else False
    except OSError:
        return False
    if stored_hash != plan["input_hash"]:
        return False
    value = _core.checkpoint_value(raw)
    if value is None or b"\n" in value or b"\r" in value:
        return False
    return bytes(value)


def _start(plan: Plan, lock_fd: int, state: Optional[bytes]) -> Launched:
    providers: dict[str, dict[str, object]] = plan["providers"]  # type: ignore[assignment]
    started: list[Child] = []
    try:
        # Both forked before either is waited for: their execs overlap. The input first:
        # its handshake is the first thing the stream waits for.
        inp = spawn_child(providers["input"])
        started.append(inp)
        out = spawn_child(providers["output"])
        started.append(out)
        write_all(inp.stdin, command_of(providers["input"], state))
        os.close(inp.stdin)  # as runtime/process.py: an input's stdin ends after its command
        inp.stdin = -1
        write_all(out.stdin, command_of(providers["output"], None))
        for child in started:
            exec_done(child)
    except BaseException:
        for child in started:
            kill_child(child)
        raise
    launched = Launched(plan, str(plan["task"]), inp, out, lock_fd)
    _thread.start_new_thread(launched.run, ())
    # The first envelope is what a warm start is for: the rest of the run's start waits
    # (GIL released) until the pump runs, or for HANDSHAKE_WAIT at most, so that the
    # thread does not wait for the interpreter's lock while the imports hold it.
    if launched.decided.acquire(timeout=HANDSHAKE_WAIT):
        launched.decided.release()
    return launched
