"""One provider process under test, driven byte by byte.

The conformance suite needs what dstream's runtime deliberately hides: writing a
malformed command line, keeping stdin open or closing it at a chosen moment, signalling
at a chosen moment, and seeing every stdout byte, a torn last line included. So it runs
providers itself instead of through dstream.runtime.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

from dstream.config.model import ProviderSpec, TaskSpec
from dstream.protocol import frames as wire
from dstream.records import field, record
from dstream.runtime.launch import provider_env
from dstream.runtime.pipes import stderr_line

STDERR_TAIL_LINES = 20
# The task name a provider under test is told (DSTREAM_TASK, the command line's "task").
TASK = "conformance"
# What the original DStream did not set: the legacy check's runs go without them.
PROTOCOL_ENV = (wire.ENV_PROTOCOL, wire.ENV_ROLE, wire.ENV_TASK, wire.ENV_LOG_LEVEL)
# The fewest frames a run of the suite can judge: a legacy input's first line counts as
# one of them (probe.py), and at least one more must be read after it.
MIN_FRAMES = 2


class Timeout(Exception):
    """The provider wrote nothing within the allowed time. `lines`: what `read_all` had
    read until then."""

    def __init__(self, lines: Optional[list[Line]] = None) -> None:
        super().__init__("timed out")
        self.lines = lines or []


@record
class Line:
    """One stdout line: its bytes without the newline, where it started in the stream,
    whether it was terminated (a last line cut by EOF is not) and where it ended (the
    offset after its newline: where a stream cut after it was cut)."""

    raw: bytes
    offset: int
    terminated: bool = True
    end: int = 0


@record
class Target:
    """What is being tested and with which settings."""

    argv: list[str]
    role: str
    label: str
    config: dict[str, object] = field(default_factory=dict)
    bad_config: Optional[dict[str, object]] = None
    # On top of what `dstream run` gives (run_environment), as a block's `env` map.
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0  # bound on every wait for the provider to answer
    grace: float = 10.0  # bound on the exit after SIGTERM or stdin EOF
    frames: int = 50  # most frames read from an input / written to an output, >= MIN_FRAMES
    max_frame_size: int = wire.DEFAULT_MAX_FRAME_SIZE
    cwd: Optional[str] = None


def run_environment(
    executable: str,
    role: Optional[str],
    env: dict[str, str],
    *,
    protocol: bool = True,
) -> dict[str, str]:
    """The environment `dstream run` starts this provider with (runtime/launch.py,
    provider_env: the allow-list of dstream's own, `env` as a block's env map, the
    protocol variables), so a provider passes here only with what it gets there: never
    dstream's credentials. `role` None: not known yet (the describe probe that asks
    it). `protocol` False: as the original DStream started it, without the protocol
    variables."""
    spec = ProviderSpec(role=role or "input", provider_path=executable, env=dict(env))
    other = ProviderSpec(role="output" if spec.role == "input" else "input")
    inp, out = (spec, other) if spec.role == "input" else (other, spec)
    result = provider_env(spec, TaskSpec(name=TASK, input=inp, output=out))
    if not protocol:
        dropped: tuple[str, ...] = PROTOCOL_ENV
    else:
        dropped = () if role else (wire.ENV_ROLE,)
    for name in dropped:
        result.pop(name, None)
    return result


class Session:
    """A started provider: stdin is a pipe the checks write to; stdout and stderr are
    read by threads so neither can block the provider."""

    def __init__(self, target: Target, *, protocol_env: bool = True) -> None:
        env = run_environment(target.argv[0], target.role, target.env, protocol=protocol_env)
        self.target = target
        # An input gets the commit-notice channel as under dstream (contract section 4).
        notices = os.pipe() if protocol_env and target.role == "input" else None
        if notices is not None:
            env[wire.ENV_COMMIT_FD] = str(notices[0])
        try:
            self.popen = subprocess.Popen(
                target.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=target.cwd,
                start_new_session=(sys.platform != "win32"),
                pass_fds=notices[:1] if notices else (),
            )
        finally:
            if notices is not None:
                os.close(notices[0])
        self.notice_fd: Optional[int] = notices[1] if notices else None
        self._lines: queue.Queue[Optional[Line]] = queue.Queue()
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.eof = False
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    # -- stdin -------------------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Write to stdin; False when the provider no longer reads it."""
        stdin = self.popen.stdin
        if stdin is None or stdin.closed:
            return False
        try:
            stdin.write(data)
            stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.popen.stdin:
                self.popen.stdin.close()

    def send_notice(self, data: bytes) -> bool:
        """Write to the commit-notice channel; False when the provider closed it."""
        if self.notice_fd is None:
            return False
        try:
            os.write(self.notice_fd, data)
            return True
        except OSError:
            return False

    def close_notices(self) -> None:
        fd, self.notice_fd = self.notice_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- stdout / stderr ---------------------------------------------------------------
    def _read_stdout(self) -> None:
        stream = self.popen.stdout
        assert stream is not None
        offset = 0
        limit = self.target.max_frame_size + 2
        try:
            while True:
                raw = stream.readline(limit)
                if not raw:
                    break
                terminated = raw.endswith(b"\n")
                body = raw[:-1] if terminated else raw
                self._lines.put(Line(body.rstrip(b"\r"), offset, terminated, end=offset + len(raw)))
                offset += len(raw)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _read_stderr(self) -> None:
        stream = self.popen.stderr
        assert stream is not None
        try:
            while (text := stderr_line(stream)) is not None:  # as dstream reads it
                if text:
                    self._tail.append(text)
        except (OSError, ValueError):
            pass

    def read_line(self, timeout: Optional[float] = None) -> Optional[Line]:
        """The next stdout line, None at EOF; raises Timeout. Blank lines are skipped, as
        dstream skips them."""
        deadline = time.monotonic() + (self.target.timeout if timeout is None else timeout)
        while True:
            if self.eof:
                return None
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise Timeout from None
            if line is None:
                self.eof = True
                return None
            if line.raw.strip():
                return line

    def read_all(self, timeout: Optional[float] = None) -> list[Line]:
        """Every line until EOF; raises Timeout when EOF does not come in time."""
        deadline = time.monotonic() + (self.target.grace if timeout is None else timeout)
        lines: list[Line] = []
        while True:
            try:
                line = self.read_line(max(0.0, deadline - time.monotonic()))
            except Timeout:
                raise Timeout(lines) from None
            if line is None:
                return lines
            lines.append(line)

    def stderr_tail(self) -> list[str]:
        if self.popen.poll() is not None:
            self._readers[1].join(timeout=1.0)
        return list(self._tail)

    # -- lifetime ----------------------------------------------------------------------
    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        try:
            return self.popen.wait(self.target.grace if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig: int) -> None:
        """Like dstream: the provider's whole process group, so a wrapper script's child
        gets it too."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sys.platform != "win32":
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    def close(self) -> None:
        """Kill whatever is left; every check ends here."""
        self.close_stdin()
        self.close_notices()
        if self.popen.poll() is None:
            self.signal(signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        for reader in self._readers:
            reader.join(timeout=2.0)
        if any(reader.is_alive() for reader in self._readers):
            return  # a grandchild outside the group holds the pipes; let the GC close them
        for stream in (self.popen.stdout, self.popen.stderr):
            with contextlib.suppress(OSError):
                if stream:
                    stream.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
