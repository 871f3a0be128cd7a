"""A process of a PID namespace of its own (`unshare --pid --fork --mount-proc`, as a
container's dstream, or one of `hostNetwork: true`, is), for the tests of what a
dstream says of, and does with, what another process names as its own: a lease's
holder (tests/state/test_held_lease_hint.py) and a container's owner
(tests/oci/test_container_owner.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.services import require_service, wait_until
from tests.workspace import children, environ

# A python that says who it is, as dstream names a process (a lease's holder, a
# container's owner), then sleeps until it is killed.
_SAYS_WHO = (
    "import time; from dstream.state.base import this_process_since; "
    "print(this_process_since(), flush=True); time.sleep(3600)"
)


def pid_namespace() -> list[str]:
    """The command prefix that runs a process as PID 1 of a PID namespace of its own."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc"]
    if shutil.which("unshare") is None:
        require_service("unshare (util-linux), for a PID namespace of the test's own")
    if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode:
        require_service("no PID namespaces here (unshare --pid --fork --mount-proc)")
    return prefix


@contextmanager
def named_elsewhere() -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    """A live process of a PID namespace of its own: its name (state/base.py
    this_process_since, as it says it), its pid here (killing it, the namespace's init,
    ends the namespace) and the `unshare` that started it. Both killed at exit."""
    proc = subprocess.Popen(
        [*pid_namespace(), sys.executable, "-c", _SAYS_WHO],
        env=environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        name = proc.stdout.readline().decode().strip()
        assert name, "the process in its own PID namespace said nothing"
        pids = wait_until("the namespace's init", lambda: children(proc.pid))
        yield name, pids[0], proc
    finally:
        for pid in pids:  # the namespace's init: the namespace ends with it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
