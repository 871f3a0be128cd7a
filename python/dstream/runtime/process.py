"""A provider as a running process: start, handshake, read, signal, reap.

Providers run in their own session and process group (a terminal's Ctrl-C reaches
dstream only, which then stops them in the contract's order), and every signal goes to
that whole group. Their trees die with dstream however it ends: on Linux a provider
gets SIGKILL when dstream dies (PR_SET_PDEATHSIG) and runtime/watchdog.py kills the
groups of those still running; a provider that exited has its group's stragglers
killed when it is closed (docs/delivery.md, "Process tree").
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

import orjson

from dstream import logs
from dstream.config.model import ProviderSpec, TaskSpec
from dstream.errors import ProviderError, ProviderRefused
from dstream.protocol import frames
from dstream.protocol.messages import Handshake, command_line, parse_handshake
from dstream.runtime.resolve import resolve
from dstream.runtime.watchdog import watchdog

# A provider refused at its handshake: its own message says what to change.
REFUSAL_HINT = (
    "the provider's message says what it needs: usually a fix in its config block in "
    "dstream.hcl, or what it names to install"
)

STDERR_TAIL_LINES = 20
MAX_STDERR_LINE = 64 * 1024
STDERR_DRAIN = 0.5  # seconds to wait for an exited provider's last stderr lines

# (task, role, raw stderr line) -> None; dstream.logs decides how it is shown.
LogSink = Callable[[str, str, str], None]


def default_log_sink(task: str, role: str, text: str) -> None:
    logs.provider_line(task, role, text, None, several=False)


_prctl: Optional[Callable[..., int]] = None


def _child_setup(parent_pid: int) -> Optional[Callable[[], None]]:
    """What a provider runs between fork and exec. prctl is looked up here, in dstream:
    importing ctypes in the child instead costs 4-10 ms per provider, and Popen waits
    for the child's exec before it returns."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return None
    if _prctl is None:
        import ctypes

        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl = _prctl

    def setup() -> None:
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # dstream died before prctl took effect
            os._exit(1)

    return setup


class ProviderProcess:
    """One started provider. `label` names it in every message ("input 'dstream-pg'")."""

    def __init__(
        self,
        popen: Any,
        *,
        role: str,
        label: str,
        task_name: str = "",
        log_sink: LogSink = default_log_sink,
    ) -> None:
        self.popen = popen
        self.role = role
        self.label = label
        self.pid = popen.pid
        self.features: frozenset[str] = frozenset()
        self.legacy = False
        # Write end of the commit-notice channel of an input's run (contract section 4),
        # or None; closed once the handshake shows the input does not want notices.
        self.commit_fd: Optional[int] = None
        self.first_line: Optional[bytes] = None  # as read by handshake(); None: none yet
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
        return self.pid if isinstance(self.popen, subprocess.Popen) else None

    # -- stdin -------------------------------------------------------------------------
    @property
    def stdin_fd(self) -> int:
        return int(self.popen.stdin.fileno())

    @property
    def stdout_fd(self) -> int:
        return int(self.popen.stdout.fileno())

    def send(self, data: bytes) -> None:
        """Write to the provider's stdin; a provider that already exited is not an error
        here (its exit code and stderr tell the story)."""
        try:
            self.popen.stdin.write(data)
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def close_stdin(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.popen.stdin.close()

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
        self, timeout: Optional[float], limit: int = frames.DEFAULT_MAX_FRAME_SIZE
    ) -> Optional[bytes]:
        """The next stdout line without its newline; None at EOF. Raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        scanned = 0  # a long line is searched once, not again with every chunk
        while True:
            nl = self._buf.find(b"\n", scanned)
            scanned = len(self._buf)
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return line.rstrip(b"\r")
            if self._stdout_eof:
                if self._buf:
                    line = bytes(self._buf)
                    self._buf.clear()
                    return line
                return None
            if len(self._buf) > limit:
                raise ProviderError(
                    f"{self.label} wrote a line longer than {limit} bytes",
                    provider=self.label,
                    hint="raise max_frame_size in the task",
                )
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.stdout_fd], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.stdout_fd, 1 << 16)
            if chunk:
                self._buf += chunk
            else:
                self._stdout_eof = True

    def close_stdout(self) -> None:
        """Stop reading the provider's stdout: a write it is blocked in (on a full pipe,
        deaf to SIGTERM until the write returns) fails with EPIPE, so it can exit."""
        with contextlib.suppress(OSError):
            self.popen.stdout.close()

    def take_buffered(self) -> bytes:
        """Bytes read past the handshake line: they belong to the data stream."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def handshake(self, timeout: float) -> Handshake:
        """Read and interpret the first stdout line (contract section 2). A legacy first
        line stays buffered as data (see take_buffered)."""
        try:
            line = self.read_line(timeout)
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
                remember_handshake(self.executable, Handshake("legacy"))
                return Handshake("legacy")
            raise ProviderError(
                f"{self.label} exited with code {code} before its handshake",
                provider=self.label,
                stderr_tail=self.stderr_tail(),
                hint="run the provider by hand with its config on stdin to see why",
            )
        result = parse_handshake(line, self.label)
        remember_handshake(self.executable, result)
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
        stream = self.popen.stderr
        try:
            while True:
                raw = stream.readline(MAX_STDERR_LINE)
                if not raw:
                    break
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not text:
                    continue
                self._tail.append(text)
                self._log_sink(self._task_name, self.role, text)
        except (OSError, ValueError):
            pass

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
        if pidfd_open is None or not isinstance(self.popen, subprocess.Popen):
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
            if isinstance(self.popen, subprocess.Popen) and hasattr(os, "killpg"):
                os.killpg(self.popen.pid, sig)  # the provider and anything it started
            else:
                self.popen.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_group(self) -> None:
        """SIGKILL the provider's process group even after the provider itself exited:
        what it started dies with it."""
        if not (isinstance(self.popen, subprocess.Popen) and hasattr(os, "killpg")):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        watchdog.forget(self.popen.pid)

    def exited(self) -> bool:
        """Whether the provider has exited, without reaping it (its pid stays its own,
        and the pump can still read how it ended)."""
        if self.popen.returncode is not None:
            return True
        if not isinstance(self.popen, subprocess.Popen) or not hasattr(os, "waitid"):
            return self.popen.poll() is not None
        try:
            info = os.waitid(os.P_PID, self.popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
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


def remember_handshake(executable: Optional[str], handshake: Handshake) -> None:
    """Keep what a provider said of itself for lifecycle commands and config checks
    that must not start it (runtime/describe.py)."""
    from dstream.runtime.describe import remember

    remember(executable, handshake)


# The environment a provider starts with (docs/protocol.md section 1; docs/security.md,
# "The provider environment"): this allowlist of dstream's own environment, then the
# names the provider's `inherit_env` lists, then its `env` map, then the protocol
# variables. Never anything else: dstream's variables (DSTREAM_VAR_*), the registry
# password or GITHUB_TOKEN stay in dstream.
PROXY_ENV = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)
# What describes this host (with LC_*): a container's image has its own.
HOST_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TMPDIR"})
LOCALE_PREFIX = "LC_"
INHERITED_ENV = HOST_ENV | PROXY_ENV | {"TZ"}


def provider_env(
    spec: ProviderSpec, task: TaskSpec, *, container: bool = False, epoch: Optional[int] = None
) -> dict[str, str]:
    def inherited(name: str) -> bool:
        if container:
            return name in INHERITED_ENV and name not in HOST_ENV
        return name in INHERITED_ENV or name.startswith(LOCALE_PREFIX)

    env = {name: value for name, value in os.environ.items() if inherited(name)}
    env.update({name: os.environ[name] for name in spec.inherit_env if name in os.environ})
    env.update(spec.env)
    env[frames.ENV_PROTOCOL] = str(frames.PROTOCOL_VERSION)
    env[frames.ENV_ROLE] = spec.role
    env[frames.ENV_TASK] = task.name
    level = logs.level_name() or os.environ.get(frames.ENV_LOG_LEVEL)
    if level:
        env[frames.ENV_LOG_LEVEL] = level
    if epoch is not None:
        env[frames.ENV_EPOCH] = str(epoch)
    return env


def start_provider(
    spec: ProviderSpec,
    *,
    task: TaskSpec,
    command: str,
    state: Any = None,
    extra: Optional[dict[str, Any]] = None,
    base_dir: str = ".",
    log_sink: LogSink = default_log_sink,
    epoch: Optional[int] = None,
) -> ProviderProcess:
    """Start a provider and write its command line (contract section 1). Its stderr
    lines go to `log_sink`; `epoch` (the run's lease) becomes DSTREAM_EPOCH."""
    launch = resolve(spec, base_dir)
    label = f"{spec.role} {spec.source!r}"
    env = provider_env(spec, task, container=bool(launch.image), epoch=epoch)
    notices: Optional[tuple[int, int]] = None
    if launch.image:
        from dstream.runtime.container import start_container

        popen: Any = start_container(launch.image, env=env, name=f"dstream-{task.name}-{spec.role}")
    else:
        # An input's run gets the commit-notice channel: a pipe whose read end it
        # inherits, named in the environment (contract section 4).
        notices = os.pipe() if spec.role == "input" and command == "run" else None
        if notices is not None:
            env[frames.ENV_COMMIT_FD] = str(notices[0])
        try:
            popen = subprocess.Popen(
                launch.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=base_dir,
                start_new_session=True,
                preexec_fn=_child_setup(os.getpid()),
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
    proc = ProviderProcess(
        popen, role=spec.role, label=label, task_name=task.name, log_sink=log_sink
    )
    if not launch.image:
        proc.executable = launch.argv[0]
    if not launch.image and notices is not None:
        proc.commit_fd = notices[1]
    line = command_line(command, spec.config, task=task.name, role=spec.role, state=state)
    if extra:
        envelope = orjson.loads(line)
        envelope.update(extra)
        line = orjson.dumps(envelope) + b"\n"
    proc.send(line)
    if spec.role == "input" and not launch.image:
        # As the original did: an input that reads stdin to EOF starts at once. (A
        # container input keeps stdin until its handshake: no descriptor crosses into
        # a container, so its notices still travel on stdin.)
        proc.close_stdin()
    return proc
