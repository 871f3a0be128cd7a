"""A provider as an operating-system process: spawned in a session and process group
of its own (runtime/spawn.py), signalled as a group, awaited and killed (`ChildProcess`,
which runtime/process.py's ProviderProcess is).

Providers run in their own session and process group (a terminal's Ctrl-C reaches
dstream only, which then stops them in the contract's order), and every signal goes to
that whole group. Their trees die with dstream however it ends: on Linux a provider
gets SIGKILL when dstream dies (PR_SET_PDEATHSIG) and runtime/watchdog.py kills the
groups of those still running; a provider that exited has its group's stragglers
killed when it is closed (docs/delivery.md, "Process tree"). PR_SET_PDEATHSIG is set by
setpriv(1) in front of the provider where the host has one (runtime/spawn.py says why).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess

from dstream.runtime.forked import ForkedProcess
from dstream.runtime.watchdog import watchdog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Optional, Protocol, Union

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


class ChildProcess:
    """A started provider's process: dstream's own child, signalled as a group and
    reaped here, or a container's client process (its engine does the rest)."""

    def __init__(self, popen: ProcessHandle) -> None:
        self.popen = popen
        # dstream's own child (not a container client): signalled as a group, reaped here
        self.own_child = isinstance(popen, (subprocess.Popen, ForkedProcess))
        self._group = popen.pid if isinstance(popen.pid, int) else 0  # pgid == pid
        self.pid = popen.pid

    @property
    def child_pid(self) -> Optional[int]:
        """The provider's pid when it is dstream's own child (not a container client)."""
        return self.popen.pid if self.own_child else None  # type: ignore[return-value]

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
