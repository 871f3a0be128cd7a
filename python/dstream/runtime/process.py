"""A provider as a running process: start, handshake, read, signal, reap. What is
read of its pipes is runtime/pipes.py's; its spawn is runtime/spawn.py's; its signals,
waits and kills are runtime/child.py's (which says how a provider's tree dies with
dstream).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

from dstream import logs
from dstream.config.model import ProviderSpec, TaskSpec
from dstream.errors import EngineLost, OutOfMemory, ProviderError, ProviderRefused
from dstream.protocol import frames
from dstream.protocol.messages import Handshake, command_line, parse_handshake
from dstream.records import record
from dstream.runtime.child import ChildProcess
from dstream.runtime.description import remember  # what a provider says of itself, kept
from dstream.runtime.launch import provider_env
from dstream.runtime.pipes import STOP_POLL, LineReader, LineTooLong, StderrRelay
from dstream.runtime.resolve import resolve
from dstream.runtime.spawn import ContainerStart, execs_directly, pdeathsig_prefix, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO, Callable, Optional

    from dstream.runtime.child import ProcessHandle

    # (task, role, raw stderr line) -> None; dstream.logs decides how it is shown.
    LogSink = Callable[[str, str, str], None]


KILL_WAIT = 1.0  # seconds to reap a provider sent SIGKILL (a run's stop: runtime/stopping.py)

# A provider refused at its handshake: its own message says what to change.
REFUSAL_HINT = (
    "the provider's message says what it needs: usually a fix in its config block in "
    "dstream.hcl, or what it names to install"
)

# A provider that ended before its handshake; and, when its block passes nothing beyond
# the allow-list, what an original provider (which got dstream's whole environment)
# most often misses.
EARLY_EXIT_HINT = "run the provider by hand with its config on stdin to see why"
HOST_ENV_HINT = (
    "; it got only an allow-listed part of dstream's environment: a variable it reads "
    'from the host goes in its block as inherit_env = ["NAME"] (docs/migrating.md)'
)

STDERR_DRAIN = 0.5  # seconds to wait for an exited provider's last stderr lines

# A container the engine killed for running out of memory (OutOfMemory).
OUT_OF_MEMORY_HINT = (
    "raise the container's memory limit (the engine's, or its orchestrator's), or have "
    "the provider hold less at once (a smaller batch size in its config)"
)


def ended(code: Optional[int], *, out_of_memory: bool = False) -> str:
    """How a provider ended, for a person: "exited with code 3", or "was killed by
    SIGKILL (signal 9)" for Popen's -9 (a shell's 137 is a code it chose to exit with);
    None: dstream could not reap it. `out_of_memory`: the container engine says it
    killed the provider's container for memory (its code, 137, says only SIGKILL)."""
    if code is None:
        return "did not exit in time"
    if out_of_memory:
        return f"was killed for running out of memory (exit code {code})"
    name = exit_signal(code)
    if name is None:
        return f"exited with code {code}"
    number = f"signal {-code}"
    return f"was killed by {number}" if name == number else f"was killed by {name} ({number})"


def exit_signal(code: Optional[int]) -> Optional[str]:
    """The name of the signal that ended a provider (Popen's negative code: "SIGKILL",
    or "signal N" for one Python has no name for), else None."""
    if code is None or code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def wait_unless_stopped(
    wait: Callable[[float], bool], stopping: Callable[[], bool], timeout: Optional[float] = None
) -> Optional[bool]:
    """Call `wait(STOP_POLL)` (an Event's wait, a Lock's acquire) until it returns True:
    True; False once `timeout` seconds passed; None as soon as `stopping()` says the run
    was asked to stop."""
    until = None if timeout is None else time.monotonic() + timeout
    while not wait(STOP_POLL):
        if stopping():
            return None
        if until is not None and time.monotonic() >= until:
            return False
    return True


def default_log_sink(task: str, role: str, text: str) -> None:
    logs.provider_line(task, role, text, None, several=False)


def _stream(stream: Optional[IO[bytes]]) -> IO[bytes]:
    assert stream is not None, "providers are started with stdin, stdout and stderr piped"
    return stream


@record(frozen=True)
class Unread:
    """What an output left unread in its stdin pipe when it exited."""

    frames: int  # data and checkpoints, as line ends: one it began to read counts
    size: int  # bytes


class UnreadProbe:
    """A second reader of an output's stdin pipe (ProviderProcess.watch_unread). Being
    a reader, not a writer, it does not keep the output from seeing the end of its
    stream; read once the output is gone (and its process group killed), it empties
    what nobody will read any more: at most the pipe's size (the pump's `pipe_size`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def take(self) -> Unread:
        """What is left in the pipe; closes the probe."""
        count = size = 0
        try:
            while True:
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    break
                count += chunk.count(b"\n")
                size += len(chunk)
        except OSError:  # EAGAIN: emptied while something still holds its write end
            pass
        finally:
            os.close(self._fd)
        return Unread(count, size)


class ProviderProcess(ChildProcess):
    """One started provider. `label` names it in every message ("input 'dstream-pg'")."""

    def __init__(
        self,
        popen: ProcessHandle,
        *,
        role: str,
        label: str,
        task_name: str = "",
        log_sink: LogSink = default_log_sink,
    ) -> None:
        super().__init__(popen)
        self.role = role
        self.label = label
        self.task_name = task_name
        self._group_ended = False  # end_group() was called
        self.features: frozenset[str] = frozenset()
        self.legacy = False
        # Write end of the commit-notice channel of an input's run (contract section 4),
        # or None; closed once the handshake shows the input does not want notices.
        self.commit_fd: Optional[int] = None
        # As read by handshake() (an output's by streaming.OutputReader); None: none yet.
        self.first_line: Optional[bytes] = None
        self.host_env_only = False  # Prepared's: its block passes no env, no inherit_env
        self.executable: Optional[str] = None  # what was started (not for a container)
        self.image_id: Optional[str] = None  # a container's image ("sha256:..."), if known
        self.handshake_bytes = 0  # stream offset where data starts, for frame errors
        self._stdout = LineReader(_stream(popen.stdout), label)
        self._stderr = StderrRelay(_stream(popen.stderr), log_sink, task=task_name, role=role)

    def engine_lost(self) -> Optional[EngineLost]:
        """A container whose engine never said how it ended: that is its error, not
        the exit code standing in for the one that never came."""
        if self.own_child:  # a process: its exit code is known
            return None
        from dstream.runtime.container import ContainerProcess  # not on a local run's path

        if not isinstance(self.popen, ContainerProcess):
            return None
        return self.popen.lost_error(self.label, self.stderr_tail())

    @property
    def out_of_memory(self) -> bool:
        """The container engine killed this provider's container for running out of
        memory (a local process: never known, its SIGKILL says nothing more)."""
        if self.own_child:
            return False
        from dstream.runtime.container import ContainerProcess  # not on a local run's path

        return isinstance(self.popen, ContainerProcess) and self.popen.out_of_memory

    def stdin_broke(self) -> bool:
        """A container whose stdin broke before the end of its stream (ContainerProcess:
        it closed it, or exited with bytes for it still coming): it left the stream
        early, as a local process does whose stdin pipe broke under the pump."""
        if self.own_child:
            return False
        from dstream.runtime.container import ContainerProcess  # not on a local run's path

        return isinstance(self.popen, ContainerProcess) and self.popen.stdin_broke()

    def ended(self, code: Optional[int]) -> str:
        """How it ended (`ended`), for the error of the exit `code` it was reaped with."""
        return ended(code, out_of_memory=self.out_of_memory)

    def exit_error(self, how: str, hint: str) -> ProviderError:
        """Its error for having ended as `how` (what self.ended said, and what it meant
        for the stream) says: an OutOfMemory, whose hint comes first, when the engine
        killed its container for memory."""
        if self.out_of_memory:
            error: type[ProviderError] = OutOfMemory
            hint = f"{OUT_OF_MEMORY_HINT}; {hint}"
        else:
            error = ProviderError
        return error(
            f"{self.label} {how}", provider=self.label, stderr_tail=self.stderr_tail(), hint=hint
        )

    # -- stdin -------------------------------------------------------------------------
    @property
    def stdin_fd(self) -> int:
        return _stream(self.popen.stdin).fileno()

    @property
    def stdout_fd(self) -> int:
        return _stream(self.popen.stdout).fileno()

    def send(self, data: bytes) -> None:
        """Write to the provider's stdin; a provider that already exited is not an error
        here (its exit code and stderr tell the story)."""
        try:
            stdin = _stream(self.popen.stdin)
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def close_stdin(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            _stream(self.popen.stdin).close()

    def watch_unread(self) -> Optional[UnreadProbe]:
        """A reader of this provider's stdin pipe, opened before dstream closes its own
        (write) end: once the provider exited, what it never read is still in the pipe
        and the probe counts it. None when the pipe cannot be reopened (no /proc)."""
        try:
            fd = os.open(
                f"/proc/self/fd/{self.stdin_fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except (OSError, ValueError):
            return None
        return UnreadProbe(fd)

    def send_notice(self, data: bytes) -> None:
        """Write a commit notice: on the notice channel, or on stdin for a container
        (see start_provider). A reader gone is not an error here."""
        if self.commit_fd is None:
            self.send(data)
            return
        try:
            os.write(self.commit_fd, data)
        except OSError:
            self.close_commit_channel()

    def close_commit_channel(self) -> None:
        fd, self.commit_fd = self.commit_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- stdout ------------------------------------------------------------------------
    def read_line(
        self,
        timeout: Optional[float],
        limit: int = frames.DEFAULT_MAX_FRAME_SIZE,
        *,
        stopping: Optional[Callable[[], bool]] = None,
    ) -> Optional[bytes]:
        """The next stdout line (pipes.LineReader.read_line: None at EOF, a line longer
        than `limit` a ProviderError). Raises TimeoutError, and Interrupted once
        `stopping()` says the run was asked to stop (checked every STOP_POLL seconds)."""
        return self._stdout.read_line(timeout, limit, stopping=stopping)

    def unread_stdout(self) -> Optional[int]:
        """Bytes its stdout pipe holds that nobody read yet (FIONREAD: counted, not
        read); None when that cannot be told (closed, not a pipe, not Unix)."""
        try:
            import fcntl  # here: not on Windows, and no cost to a warm start
            import termios

            count = bytearray(4)
            fcntl.ioctl(self.stdout_fd, termios.FIONREAD, count)
        except (ImportError, OSError, ValueError):
            return None
        return int.from_bytes(count, sys.byteorder, signed=True)

    def stdout_held(self) -> bool:
        """Whether something still holds its stdout open after it exited (its own end
        closed with it): what it started. A pipe's read end reports a hang-up (POLLHUP)
        once no writer is left, whatever it still holds to read. Never known of a
        container (its engine holds the pipe), nor of a stdout dstream closed."""
        if not self.own_child:
            return False
        try:
            poller = select.poll()
            poller.register(self.stdout_fd, select.POLLIN)  # POLLHUP is always reported
            events = poller.poll(0)
        except (AttributeError, OSError, ValueError):  # no poll() (Windows), closed
            return False
        return not any(mask & select.POLLHUP for _, mask in events)

    def end_group(self, *, warn: bool = True) -> None:
        """It exited: what it started and left running is killed with its process group
        now (docs/delivery.md, "Process tree"), not when it is closed. A stdout still
        held open by such a leftover would hold its reader for nothing: unless `warn` is
        False, a warning says so; what the provider wrote is still read. Once only."""
        if self._group_ended:
            return
        self._group_ended = True
        if warn and self.stdout_held():
            logs.log.warning(
                "%s exited, but something it started still holds its stdout open: "
                "dstream kills its process group, and reads what the %s wrote",
                self.label, self.role, task=self.task_name,
            )  # fmt: skip
        self.kill_group()

    def close_stdout(self) -> None:
        """Stop reading the provider's stdout: a write it is blocked in (on a full pipe,
        deaf to SIGTERM until the write returns) fails with EPIPE, so it can exit."""
        with contextlib.suppress(OSError):
            _stream(self.popen.stdout).close()

    def preload(self, data: bytes, eof: bool) -> None:
        """What a warm start already read of stdout (runtime/warmplan.py), first."""
        self._stdout.preload(data, eof)

    def take_buffered(self) -> bytes:
        """Bytes read past the handshake line: they belong to the data stream."""
        return self._stdout.take_buffered()

    def handshake(
        self,
        timeout: float,
        *,
        limit: int = frames.DEFAULT_MAX_FRAME_SIZE,
        stopping: Optional[Callable[[], bool]] = None,
    ) -> Handshake:
        """Read and interpret the first stdout line (contract section 2), within `limit`
        bytes (the task's max_frame_size). A legacy first line stays buffered as data
        (see take_buffered). `stopping`: see read_line."""
        try:
            line = self.read_line(timeout, limit, stopping=stopping)
        except LineTooLong:
            # No handshake is that long: a legacy input's first frame, oversized. It
            # stays buffered, and the pump judges it at offset 0 as it judges any frame
            # (the task's invalid_frames policy). Nothing is learnt of its kind.
            self.legacy = True
            return Handshake("legacy")
        except TimeoutError:
            raise ProviderError(
                f"{self.label} did not answer within {timeout:g} s of start",
                provider=self.label,
                stderr_tail=self.stderr_tail(),
                hint="check the provider's config and logs; raise start_timeout in the task "
                "if it needs longer to connect",
            ) from None
        self.first_line = line
        if line is None:
            code = self.wait(timeout=5)
            if code == 0:
                # The original's way of having nothing to send: an empty stream.
                self.legacy = True
                remember(self.executable, Handshake("legacy"), image_id=self.image_id)
                return Handshake("legacy")
            lost = self.engine_lost()
            if lost is not None:
                raise lost
            raise self.exit_error(
                f"{self.ended(code)} before its handshake",
                EARLY_EXIT_HINT + (HOST_ENV_HINT if self.host_env_only else ""),
            )
        return self.accept_handshake(line)

    def accept_handshake(self, line: bytes) -> Handshake:
        """Take `line` as the provider's first stdout line (read by handshake(), or by a
        warm start's thread: runtime/warmplan.py)."""
        self.first_line = line
        result = parse_handshake(line, self.label)
        remember(self.executable, result, image_id=self.image_id)
        if result.status == "error":
            raise ProviderRefused(
                f"{self.label} refused to start: {result.message}",
                role=self.role,
                provider=self.label,
                stderr_tail=self.stderr_tail(settle=1.0),
                hint=REFUSAL_HINT,
                field=result.field,
            )
        if result.is_legacy:
            self.legacy = True
            # The line is data. A byte order mark before it (.NET's console writes one)
            # is not: it made the line a log line, and the frame was lost. Offsets still
            # count it, as they count a handshake.
            data = line.removeprefix(frames.UTF8_BOM)
            self.handshake_bytes = len(line) - len(data)
            self._stdout.preload(data + b"\n", eof=False)
        else:
            self.features = result.features
            self.handshake_bytes = len(line) + 1
        return result

    # -- stderr ------------------------------------------------------------------------
    def stderr_tail(self, settle: float = 0.0) -> list[str]:
        """The last stderr lines. `settle`: a provider that just reported failure is
        given that long to exit, so the lines it wrote on its way out are included."""
        if settle:
            self.wait(settle)
        if self.popen.poll() is not None:
            self._stderr.join(timeout=1.0)
        return self._stderr.tail()

    # -- lifetime (signals, waits: child.ChildProcess) --------------------------------
    def kill_and_close(self) -> None:
        """SIGKILL, reaped within KILL_WAIT, then closed: its pipes, and what it started."""
        self.kill()
        self.wait(KILL_WAIT)
        self.close()

    def close(self) -> None:
        if self.popen.poll() is not None:
            # What it started and left running dies with it (its group outlives it as
            # long as a member does, so the pgid cannot have been reused).
            self.kill_group()
            # Its last stderr lines are shown before dstream goes on (and maybe exits);
            # bounded, as something it started may still hold the pipe open.
            self._stderr.join(timeout=STDERR_DRAIN)
        self.close_commit_channel()
        for stream in (self.popen.stdin, self.popen.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


@record
class Prepared:
    """Everything a provider's start is decided by: what runs, where, with which
    environment and command line. A warm start (dstream/warm) keeps it and the run
    it hands over to compares it with its own (runtime/warmplan.py)."""

    role: str
    task: str
    label: str
    image: Optional[str]
    prefix: list[str]  # setpriv, where it sets the parent-death signal (runtime/spawn.py)
    argv: list[str]
    cwd: str
    env: dict[str, str]  # without the commit-notice channel's fd, given at the start
    command: bytes
    notices: bool  # an input's run: it gets the commit-notice channel (contract section 4)
    host_env_only: bool = False  # its block has no env and no inherit_env (HOST_ENV_HINT)


def prepare_provider(
    spec: ProviderSpec,
    *,
    task: TaskSpec,
    command: str,
    state: object = None,  # object: a parsed value or the stored bytes as a Fragment
    destroy: bool = False,
    base_dir: str = ".",
    epoch: Optional[int] = None,
) -> Prepared:
    """What starting `spec` for `command` means: resolved, its environment (`epoch`, the
    run's lease, becomes DSTREAM_EPOCH) and its command line (`state` in an input's)."""
    launch = resolve(spec, base_dir, task=task.name)
    prefix: list[str] = []
    if not launch.image and execs_directly(launch.argv[0]):
        prefix = pdeathsig_prefix()
    return Prepared(
        role=spec.role,
        task=task.name,
        label=f"{spec.role} {spec.source!r}",
        image=launch.image,
        prefix=prefix,
        argv=launch.argv,
        cwd=base_dir,
        env=provider_env(spec, task, container=bool(launch.image), epoch=epoch),
        command=command_line(
            command, spec.config, task=task.name, role=spec.role, state=state, destroy=destroy
        ),
        notices=spec.role == "input" and command == "run",
        host_env_only=not spec.env and not spec.inherit_env,
    )


def start_provider(prepared: Prepared, *, log_sink: LogSink = default_log_sink) -> ProviderProcess:
    """Start a provider as `prepared` says and write its command line (contract section
    1). Its stderr lines go to `log_sink`."""
    return _attach(prepared, *spawn(prepared), log_sink=log_sink)


def start_providers(
    prepared: Sequence[Prepared],
    *,
    log_sink: LogSink = default_log_sink,
    containers: Optional[ContainerStart] = None,
) -> list[ProviderProcess]:
    """Start several providers, in the order given, as `start_provider` does: each is
    spawned before any is attached (a provider_image as `containers` says). Attaching
    starts a thread and waits for it to run, which on a busy machine held the next exec
    up by milliseconds; a run's input, spawned first, is what its stream waits for
    (issue 22). When one cannot be spawned, those already spawned are killed before its
    error is raised."""
    spawned: list[tuple[Prepared, ProcessHandle, Optional[int]]] = []
    try:
        for one in prepared:
            spawned.append((one, *spawn(one, containers)))
    except BaseException:
        for one, popen, commit_fd in spawned:
            proc = ProviderProcess(
                popen, role=one.role, label=one.label, task_name=one.task, log_sink=log_sink
            )
            proc.commit_fd = commit_fd
            proc.kill_and_close()
        raise
    return [_attach(*each, log_sink=log_sink) for each in spawned]


def _attach(
    prepared: Prepared, popen: ProcessHandle, commit_fd: Optional[int], *, log_sink: LogSink
) -> ProviderProcess:
    """The spawned provider's process, its stderr forwarded, its command line written."""
    proc = ProviderProcess(
        popen, role=prepared.role, label=prepared.label, task_name=prepared.task,
        log_sink=log_sink,
    )  # fmt: skip
    proc.host_env_only = prepared.host_env_only
    if not prepared.image:
        proc.executable = prepared.argv[0]
    else:
        from dstream.runtime.container import ContainerProcess  # not on a local run's path

        proc.image_id = popen.image_id if isinstance(popen, ContainerProcess) else None
    proc.commit_fd = commit_fd
    proc.send(prepared.command)
    if prepared.role == "input" and not prepared.image:
        # As the original did: an input that reads stdin to EOF starts at once. (A
        # container input keeps stdin until its handshake: no descriptor crosses into
        # a container, so its notices still travel on stdin.)
        proc.close_stdin()
    return proc
