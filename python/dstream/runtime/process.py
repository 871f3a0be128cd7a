"""A provider as a running process: start, handshake, read, signal, reap.

Providers run in their own session and process group (a terminal's Ctrl-C reaches
dstream only, which then stops them in the contract's order), and every signal goes to
that whole group. Their trees die with dstream however it ends: on Linux a provider
gets SIGKILL when dstream dies (PR_SET_PDEATHSIG) and runtime/watchdog.py kills the
groups of those still running; a provider that exited has its group's stragglers
killed when it is closed (docs/delivery.md, "Process tree"). PR_SET_PDEATHSIG is set by
setpriv(1) in front of the provider where the host has one (runtime/spawn.py says why).
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import subprocess
import threading
import time

from dstream import logs
from dstream.config.model import ProviderSpec, TaskSpec
from dstream.errors import Interrupted, ProviderError, ProviderRefused
from dstream.protocol import frames
from dstream.protocol.messages import Handshake, command_line, parse_handshake
from dstream.records import record
from dstream.runtime.describe import remember  # what a provider says of itself, kept
from dstream.runtime.forked import ForkedProcess
from dstream.runtime.launch import child_setup, provider_env
from dstream.runtime.resolve import resolve
from dstream.runtime.spawn import execs_directly, pdeathsig_prefix
from dstream.runtime.watchdog import watchdog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO, Callable, Optional, Protocol, Union

    # (task, role, raw stderr line) -> None; dstream.logs decides how it is shown.
    LogSink = Callable[[str, str, str], None]

    class ProcessHandle(Protocol):
        """What a ProviderProcess drives: a subprocess.Popen, or a container that behaves
        like one (runtime/container.py; its pid is the container id until the engine names
        the process)."""

        @property
        def pid(self) -> Union[int, str]: ...
        @property
        def stdin(self) -> Optional[IO[bytes]]: ...
        @property
        def stdout(self) -> Optional[IO[bytes]]: ...
        @property
        def stderr(self) -> Optional[IO[bytes]]: ...
        @property
        def returncode(self) -> Optional[int]: ...
        def poll(self) -> Optional[int]: ...
        def wait(self, timeout: Optional[float] = None) -> int: ...
        def send_signal(self, sig: int) -> None: ...


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

STDERR_TAIL_LINES = 20
MAX_STDERR_LINE = 64 * 1024
STDERR_DRAIN = 0.5  # seconds to wait for an exited provider's last stderr lines
STOP_POLL = 0.1  # seconds between two looks at a stop request while waiting for a line


def ended(code: Optional[int]) -> str:
    """How a provider ended, for a person: "exited with code 3", or "was killed by
    SIGKILL (signal 9)" for Popen's -9 (a shell's 137 is a code it chose to exit with);
    None: dstream could not reap it."""
    if code is None:
        return "did not exit in time"
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


def stopped_starting(label: str) -> Interrupted:
    """A stop asked for while the provider `label` had not begun to stream."""
    return Interrupted(
        f"{label} was still starting when the run was asked to stop",
        hint="run it again: it starts from the last stored checkpoint",
    )


def default_log_sink(task: str, role: str, text: str) -> None:
    logs.provider_line(task, role, text, None, several=False)


def _stream(stream: Optional[IO[bytes]]) -> IO[bytes]:
    assert stream is not None, "providers are started with stdin, stdout and stderr piped"
    return stream


class ProviderProcess:
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
        self.popen = popen
        # dstream's own child (not a container client): signalled as a group, reaped here
        self.own_child = isinstance(popen, (subprocess.Popen, ForkedProcess))
        self._group = popen.pid if isinstance(popen.pid, int) else 0  # pgid == pid
        self.role = role
        self.label = label
        self.pid = popen.pid
        self.features: frozenset[str] = frozenset()
        self.legacy = False
        # Write end of the commit-notice channel of an input's run (contract section 4),
        # or None; closed once the handshake shows the input does not want notices.
        self.commit_fd: Optional[int] = None
        self.first_line: Optional[bytes] = None  # as read by handshake(); None: none yet
        self.host_env_only = False  # Prepared's: its block passes no env, no inherit_env
        self.executable: Optional[str] = None  # what was started (not for a container)
        self.handshake_bytes = 0  # stream offset where data starts, for frame errors
        self._buf = bytearray()
        self._stdout_eof = False
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._log_sink = log_sink
        self._task_name = task_name
        self._stderr_thread = threading.Thread(
            target=self._forward_stderr, name=f"{role}-stderr", daemon=True
        )
        self._stderr_thread.start()

    @property
    def child_pid(self) -> Optional[int]:
        """The provider's pid when it is dstream's own child (not a container client)."""
        return self.popen.pid if self.own_child else None  # type: ignore[return-value]

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
        """The next stdout line without its newline (nor a "\r" before it); None at EOF.
        A line longer than `limit` is a ProviderError, as a frame is one for the pump,
        however it arrived. Raises TimeoutError, and Interrupted once `stopping()` says
        the run was asked to stop (checked every STOP_POLL seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        scanned = 0  # a long line is searched once, not again with every chunk
        while True:
            nl = self._buf.find(b"\n", scanned)
            scanned = len(self._buf)
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return self._within(line.rstrip(b"\r"), limit)
            if self._stdout_eof:
                if self._buf:
                    line = bytes(self._buf)
                    self._buf.clear()
                    return self._within(line, limit)
                return None
            if len(self._buf) > limit + 1:  # (one more: the "\r" of a "\r\n")
                raise self._too_long(limit)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait = remaining if stopping is None else min(remaining or STOP_POLL, STOP_POLL)
            ready, _, _ = select.select([self.stdout_fd], [], [], wait)
            if not ready:
                if stopping is not None and stopping():
                    raise stopped_starting(self.label)
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError
                continue
            chunk = os.read(self.stdout_fd, 1 << 16)
            if chunk:
                self._buf += chunk
            else:
                self._stdout_eof = True

    def _within(self, line: bytes, limit: int) -> bytes:
        if len(line) > limit:
            raise self._too_long(limit)
        return line

    def _too_long(self, limit: int) -> ProviderError:
        return ProviderError(
            f"{self.label} wrote a line longer than {limit} bytes",
            provider=self.label,
            hint="raise max_frame_size in the task",
        )

    def close_stdout(self) -> None:
        """Stop reading the provider's stdout: a write it is blocked in (on a full pipe,
        deaf to SIGTERM until the write returns) fails with EPIPE, so it can exit."""
        with contextlib.suppress(OSError):
            _stream(self.popen.stdout).close()

    def preload(self, data: bytes, eof: bool) -> None:
        """What a warm start already read of stdout (runtime/warmplan.py), first."""
        self._buf[0:0] = data
        self._stdout_eof = self._stdout_eof or eof

    def take_buffered(self) -> bytes:
        """Bytes read past the handshake line: they belong to the data stream."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def handshake(
        self, timeout: float, *, stopping: Optional[Callable[[], bool]] = None
    ) -> Handshake:
        """Read and interpret the first stdout line (contract section 2). A legacy first
        line stays buffered as data (see take_buffered). `stopping`: see read_line."""
        try:
            line = self.read_line(timeout, stopping=stopping)
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
                remember(self.executable, Handshake("legacy"))
                return Handshake("legacy")
            raise ProviderError(
                f"{self.label} {ended(code)} before its handshake",
                provider=self.label,
                stderr_tail=self.stderr_tail(),
                hint=EARLY_EXIT_HINT + (HOST_ENV_HINT if self.host_env_only else ""),
            )
        return self.accept_handshake(line)

    def accept_handshake(self, line: bytes) -> Handshake:
        """Take `line` as the provider's first stdout line (read by handshake(), or by a
        warm start's thread: runtime/warmplan.py)."""
        self.first_line = line
        result = parse_handshake(line, self.label)
        remember(self.executable, result)
        if result.status == "error":
            raise ProviderRefused(
                f"{self.label} refused to start: {result.message}",
                provider=self.label,
                stderr_tail=self.stderr_tail(settle=1.0),
                hint=REFUSAL_HINT,
            )
        if result.is_legacy:
            self.legacy = True
            self._buf[0:0] = line + b"\n"
        else:
            self.features = result.features
            self.handshake_bytes = len(line) + 1
        return result

    # -- stderr ------------------------------------------------------------------------
    def _forward_stderr(self) -> None:
        stream = _stream(self.popen.stderr)
        try:
            while True:
                raw = stream.readline(MAX_STDERR_LINE)
                if not raw:
                    break
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not text:
                    continue
                self._tail.append(text)
                # The line is kept in the tail; a sink that fails drops it, but the
                # reading goes on: a provider whose stderr pipe fills blocks for ever.
                with contextlib.suppress(OSError, ValueError):
                    self._log_sink(self._task_name, self.role, text)
        except (OSError, ValueError):
            pass  # the pipe itself: closed or gone

    def stderr_tail(self, settle: float = 0.0) -> list[str]:
        """The last stderr lines. `settle`: a provider that just reported failure is
        given that long to exit, so the lines it wrote on its way out are included."""
        if settle:
            self.wait(settle)
        if self.popen.poll() is not None:
            self._stderr_thread.join(timeout=1.0)
        return list(self._tail)

    # -- lifetime ----------------------------------------------------------------------
    def poll(self) -> Optional[int]:
        return self.popen.poll()

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if timeout:
            exited = self._wait_exit(timeout)
            if exited is False:
                return None
            if exited:
                timeout = None  # reap it now, without Popen's polling
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def _wait_exit(self, timeout: float) -> Optional[bool]:
        """Wait up to `timeout` for the process to exit, on a pidfd (Linux 5.3+): it is
        readable the moment the process exits, where Popen.wait(timeout) polls in sleeps
        growing to 50 ms. True: it exited; False: it did not in time; None: no pidfd."""
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is None or not self.own_child:
            return None
        if self.popen.poll() is not None:  # reaped: its pid may belong to another process
            return True
        try:
            fd = pidfd_open(self.popen.pid)
        except OSError:
            return None
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        return bool(ready)

    def signal(self, sig: int) -> None:
        # Not poll(): reaping here would take the exit status the pump may still read
        # (a torn last line); an exited, unreaped leader keeps its group's pgid.
        if self.popen.returncode is not None:
            return
        try:
            if self.own_child and hasattr(os, "killpg"):
                os.killpg(self._group, sig)  # the provider and anything it started
            else:
                self.popen.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_group(self) -> None:
        """SIGKILL the provider's process group even after the provider itself exited:
        what it started dies with it."""
        if not (self.own_child and hasattr(os, "killpg")):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._group, signal.SIGKILL)
        watchdog.forget(self._group)

    def exited(self) -> bool:
        """Whether the provider has exited, without reaping it (its pid stays its own,
        and the pump can still read how it ended)."""
        if self.popen.returncode is not None:
            return True
        if not self.own_child or not hasattr(os, "waitid"):
            return self.popen.poll() is not None
        try:
            info = os.waitid(os.P_PID, self._group, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self, grace: float) -> Optional[int]:
        """SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit code."""
        if self.poll() is None:
            self.terminate()
            if self.wait(grace) is None:
                self.kill()
        return self.wait(5)

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
            self._stderr_thread.join(timeout=STDERR_DRAIN)
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
    launch = resolve(spec, base_dir)
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
    return _attach(prepared, *_spawn(prepared), log_sink=log_sink)


def start_providers(
    prepared: Sequence[Prepared], *, log_sink: LogSink = default_log_sink
) -> list[ProviderProcess]:
    """Start several providers, in the order given, as `start_provider` does: each is
    spawned before any is attached. Attaching starts a thread and waits for it to run,
    which on a busy machine held the next exec up by milliseconds; a run's input,
    spawned first, is what its stream waits for (issue 22). When one cannot be
    spawned, those already spawned are killed before its error is raised."""
    spawned: list[tuple[Prepared, ProcessHandle, Optional[int]]] = []
    try:
        for one in prepared:
            spawned.append((one, *_spawn(one)))
    except BaseException:
        for one, popen, commit_fd in spawned:
            proc = ProviderProcess(
                popen, role=one.role, label=one.label, task_name=one.task, log_sink=log_sink
            )
            proc.commit_fd = commit_fd
            proc.kill_and_close()
        raise
    return [_attach(*each, log_sink=log_sink) for each in spawned]


def _spawn(prepared: Prepared) -> tuple[ProcessHandle, Optional[int]]:
    """The provider's process, and the write end of its commit-notice channel if any."""
    label, env = prepared.label, dict(prepared.env)
    notices: Optional[tuple[int, int]] = None
    if prepared.image:
        from dstream.runtime.container import start_container

        popen: ProcessHandle = start_container(
            prepared.image, env=env, name=f"dstream-{prepared.task}-{prepared.role}"
        )
    else:
        # An input's run gets the commit-notice channel: a pipe whose read end it
        # inherits, named in the environment (contract section 4).
        notices = os.pipe() if prepared.notices else None
        if notices is not None:
            env[frames.ENV_COMMIT_FD] = str(notices[0])
        watchdog.ready()
        try:
            popen = subprocess.Popen(
                prepared.prefix + prepared.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=prepared.cwd,
                start_new_session=True,
                preexec_fn=None if prepared.prefix else child_setup(os.getpid()),
                pass_fds=notices[:1] if notices else (),
            )
        except OSError as exc:
            if notices is not None:
                os.close(notices[1])
            raise ProviderError(
                f"could not start {label}: {exc.strerror or exc}",
                provider=label,
                hint="check that the file is an executable for this platform",
            ) from exc
        finally:
            if notices is not None:
                os.close(notices[0])
        watchdog.watch(popen.pid)  # its session is its process group: pgid == pid
    return popen, notices[1] if notices is not None else None


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
    proc.commit_fd = commit_fd
    proc.send(prepared.command)
    if prepared.role == "input" and not prepared.image:
        # As the original did: an input that reads stdin to EOF starts at once. (A
        # container input keeps stdin until its handshake: no descriptor crosses into
        # a container, so its notices still travel on stdin.)
        proc.close_stdin()
    return proc
