"""The providers a warm start forks (dstream/warm): started as runtime/spawn.py's
Popen starts them, with the command line each gets, and ended when the runtime does
not take them over."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

ENV_COMMIT_FD = "DSTREAM_COMMIT_FD"  # protocol.frames.ENV_COMMIT_FD's twin (tested)
REAP_WAIT = 1.0  # runtime/process.py's KILL_WAIT's twin (tested): reap_child's wait


class Child:
    """A provider the warm start forked: its pid and the parent's ends of its pipes."""

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.commit_fd: Optional[int] = None  # write end of an input's notice channel
        self.report = -1  # read end of the pipe its exec closes (exec_done)


def command_of(provider: dict[str, object], state: Optional[bytes]) -> bytes:
    """The provider's command line: an input's with its checkpoint (or null) in the
    place the runtime marked (runtime/warmplan.py), an output's as it was."""
    parts: list[bytes] = provider["command"]  # type: ignore[assignment]
    if len(parts) == 1:
        return parts[0]
    before, after = parts
    return before + (b"null" if state is None else state) + after


def env_of(provider: dict[str, object]) -> dict[str, str]:
    """The provider's environment: the names it takes from dstream's, then its own."""
    inherit: list[str] = provider["inherit"]  # type: ignore[assignment]
    fixed: dict[str, str] = provider["env"]  # type: ignore[assignment]
    return {**{name: os.environ[name] for name in inherit if name in os.environ}, **fixed}


def spawn_child(provider: dict[str, object]) -> Child:
    """fork and exec as runtime/spawn.py's spawn does: its own session, stdin, stdout
    and stderr piped, SIGPIPE back to its default, the parent-death signal set in the
    child (by the Rust core: an exec of setpriv more would cost ~1.5 ms; by setpriv
    where the core cannot); an input also gets the read end of its commit-notice
    channel."""
    import _signal

    from dstream import _core, encoded_environ

    prefix: list[str] = provider["prefix"]  # type: ignore[assignment]
    argv: list[str] = provider["argv"]  # type: ignore[assignment]
    env = env_of(provider)
    notice = os.pipe() if provider["role"] == "input" else None
    if notice is not None:
        env[ENV_COMMIT_FD] = str(notice[0])
    environ = encoded_environ(env)  # before the fork: the child only makes system calls
    cwd = str(provider["cwd"])
    parent = os.getpid()
    stdin, stdout, stderr, report = os.pipe(), os.pipe(), os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing but system calls until exec
        try:
            os.dup2(stdin[0], 0)
            os.dup2(stdout[1], 1)
            os.dup2(stderr[1], 2)
            if notice is not None:
                os.set_inheritable(notice[0], True)
            os.chdir(cwd)
            os.setsid()
            _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
            if _core.die_with_parent():
                if os.getppid() != parent:  # dstream died before the signal was set
                    os._exit(1)
                os.execve(argv[0], argv, environ)
            full = prefix + argv
            os.execve(full[0], full, environ)
        except OSError as exc:
            os.write(report[1], str(exc.errno).encode())
        finally:
            os._exit(127)
    for fd in (stdin[0], stdout[1], stderr[1], report[1]):
        os.close(fd)
    child = Child(pid, stdin[1], stdout[0], stderr[0])
    child.report = report[0]
    if notice is not None:
        os.close(notice[0])
        child.commit_fd = notice[1]
    return child


def exec_done(child: Child) -> None:
    """Wait for the child's exec: its end of the report pipe closes then (close-on-exec),
    or the child writes the errno exec failed with (the runtime starts it again and
    says why)."""
    failed = os.read(child.report, 32)
    os.close(child.report)
    child.report = -1
    if failed:
        raise OSError(int(failed), "warm start: exec failed")


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:  # it exited: the runtime finds out how
        pass


def kill_child(child: Child) -> None:
    """End a child nobody takes over: SIGKILLed, dstream's ends of its pipes closed
    before the wait (one that dies late, stuck in the kernel, never waits on them), and
    reaped."""
    signal_child(child)
    close_child(child)
    reap_child(child)


def signal_child(child: Child) -> None:
    """SIGKILL the child, then its process group (what it started). The child by its
    pid first: from its fork until its setsid() it has no group, and killpg alone missed
    it (ESRCH) while it went on to exec the provider (chaos report, item 1). Killed
    first, it makes no group; its pid, not reaped yet, is no other process's, and nor
    is a group of that number."""
    import _signal

    quietly(os.kill, child.pid, _signal.SIGKILL)
    quietly(os.killpg, child.pid, _signal.SIGKILL)


def reap_child(child: Child) -> None:
    """Reap the SIGKILLed child, REAP_WAIT seconds at most: a process stuck in the
    kernel (an unreachable NFS mount) cannot die at once, and the run's end must not
    wait for it (init reaps it once dstream exits)."""
    import time

    deadline, pause = time.monotonic() + REAP_WAIT, 0.0005
    while True:
        try:
            if os.waitpid(child.pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:  # reaped already
            return
        if time.monotonic() >= deadline:
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def close_child(child: Child) -> None:
    for fd in (child.stdin, child.stdout, child.stderr, child.commit_fd, child.report):
        if fd is not None and fd >= 0:
            quietly(os.close, fd)
    child.stdin = child.stdout = child.stderr = child.report = -1
    child.commit_fd = None


def quietly(call: Callable[..., object], *args: object) -> None:
    """`call(*args)`, an OSError ignored (contextlib.suppress: an import this module's
    place before the others cannot pay for)."""
    try:
        call(*args)
    except OSError:
        return
