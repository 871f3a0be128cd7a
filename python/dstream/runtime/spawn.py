"""How a provider process is started (`spawn`): in a session and process group of its
own, with its pipes, its commit-notice channel, and its parent-death signal set without
forking dstream's interpreter. What drives it once started is runtime/child.py's.

PR_SET_PDEATHSIG (a provider dies with dstream: runtime/child.py) must be set in the
child between fork and exec. A Python function there (Popen's preexec_fn) makes Popen
fork the whole dstream process and run the interpreter's at-fork handlers in the child:
5-10 ms per provider before its exec. setpriv(1) of util-linux sets the same signal and
execs the provider, so Popen can use vfork: about half a millisecond. Where setpriv is
missing or too old (--pdeathsig came with util-linux 2.33), the function is used.

One difference: the function also exited when dstream had died before prctl took
effect; setpriv cannot check that. A dstream SIGKILLed in the fraction of a millisecond
between setpriv's exec and the provider's registration with the watchdog leaves that
provider to find EOF on its stdin (the command line never came) and exit on its own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from dstream import encoded_environ
from dstream.errors import ProviderError
from dstream.protocol import frames
from dstream.protocol.frames import DEFAULT_START_TIMEOUT
from dstream.records import record
from dstream.runtime.launch import child_setup
from dstream.runtime.watchdog import watchdog

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream.runtime.child import ProcessHandle
    from dstream.runtime.process import Prepared

SETPRIV_PATHS = ("/usr/bin/setpriv", "/bin/setpriv")


@record(frozen=True)
class ContainerStart:
    """How a provider_image is started: each engine call waits `timeout` at most (the
    task's start_timeout), `stopping()` gives the start up when the run is asked to
    stop, `owned`: the task's lock is held, so its dead runs' containers are removed."""

    timeout: float = DEFAULT_START_TIMEOUT
    stopping: Optional[Callable[[], bool]] = None
    owned: bool = False


_prefix: Optional[list[str]] = None  # looked up once per process


def pdeathsig_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL --` when this host has a setpriv that knows the flag
    (its option table names it: no process is started to ask), else []."""
    global _prefix
    if _prefix is None:
        found: list[str] = []
        if sys.platform.startswith("linux"):
            for path in SETPRIV_PATHS:
                with contextlib.suppress(OSError), open(path, "rb") as handle:
                    if b"pdeathsig" in handle.read() and os.access(path, os.X_OK):
                        found = [path, "--pdeathsig", "KILL", "--"]
                        break
        _prefix = found
    return _prefix


def execs_directly(path: str) -> bool:
    """Whether the kernel runs `path` itself (ELF or #!). Anything else fails in exec;
    it is started without setpriv, so that Popen reports the failure as it always did
    (through setpriv it would be setpriv's exit code and a line on stderr)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError:
        return False
    return magic == b"\x7fELF" or magic.startswith(b"#!")


def spawn(
    prepared: Prepared, start: Optional[ContainerStart] = None
) -> tuple[ProcessHandle, Optional[int]]:
    """The provider's process, and the write end of its commit-notice channel if any.
    `start`: how a run starts a container (default: as a lifecycle command does)."""
    label, env = prepared.label, dict(prepared.env)
    notices: Optional[tuple[int, int]] = None
    if prepared.image:
        from dstream.runtime.container import start_container, unless_stopped

        image, how = prepared.image, start or ContainerStart()

        def started() -> ProcessHandle:
            return start_container(
                image,
                env=env,
                name=f"dstream-{prepared.task}-{prepared.role}",
                task=prepared.task,
                role=prepared.role,
                timeout=how.timeout,
                owned=how.owned,
            )

        popen: ProcessHandle = (
            unless_stopped(started, how.stopping, label) if how.stopping else started()
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
                env=encoded_environ(env),
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
