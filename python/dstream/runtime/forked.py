"""A provider the warm start forked (dstream/warm), driven as the subprocess.Popen
the runtime would have started: the same pipes as file objects, the same session,
reaped here with the same return codes (-N for a signal)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

from dstream.warm.child import Child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Optional


class ForkedProcess:
    def __init__(self, child: Child, args: list[str]) -> None:
        self.args = args
        self.pid = child.pid
        self.returncode: Optional[int] = None
        # An input's stdin ended after its command line, as Popen's would have been
        # closed by then: a closed file object.
        # The pipes live as long as the process: closed by ProviderProcess, not here.
        stdin = child.stdin if child.stdin >= 0 else os.devnull
        self.stdin: IO[bytes] = open(stdin, "wb")  # noqa: SIM115
        if child.stdin < 0:
            self.stdin.close()
        self.stdout: IO[bytes] = open(child.stdout, "rb")  # noqa: SIM115
        self.stderr: IO[bytes] = open(child.stderr, "rb")  # noqa: SIM115
        self._lock = threading.Lock()  # one reaper at a time, as Popen's _waitpid_lock

    def poll(self) -> Optional[int]:
        with self._lock:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:  # cannot happen to our own unreaped child
                    return self.returncode
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if timeout is None:
            with self._lock:
                if self.returncode is None:
                    _, status = os.waitpid(self.pid, 0)
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        deadline = time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                return code
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            # Polled as Popen does; ProviderProcess waits on a pidfd before it asks.
            time.sleep(min(remaining, 0.005))

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)
