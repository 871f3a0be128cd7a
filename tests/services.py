"""Real services for tests, started on loopback in a temporary directory and stopped by
PID. Plain functions and context managers, so any test area can reuse them (the
session fixtures in tests/conftest.py are made from them):

    from tests.services import postgres, require_service
    with postgres() as server: ...  # server.dsn

A test that needs a service calls `require_service(...)` when it cannot be started: it
fails under DSTREAM_REQUIRE_SERVICES=1 (CI) and skips with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, Optional, Protocol, TypeVar

import pytest


class ServiceUnavailable(RuntimeError):
    """The service could not be started here (not installed, failed to start, ...)."""


def require_service(reason: str) -> NoReturn:
    if os.environ.get("DSTREAM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(f"service unavailable: {reason} (set DSTREAM_REQUIRE_SERVICES=1 to fail)")


T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T], timeout: float = 60.0, tick: float = 0.02) -> T:
    """`check()`'s first true value; an AssertionError naming `what` once `timeout`
    seconds have passed (a deadline bounds a hang, it says nothing about speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(tick)


def before_a_repeat(sent: set[int], sig: int) -> None:
    """Call before sending `sig`, once the process has taken the last one (its stop
    notice said so): the same stop signal again within ECHO_WINDOW of the first is
    taken as that one delivered twice (runtime/signals.py), so a repeat waits the
    window out, to be a second signal. `sent`: the signals sent so far (updated)."""
    from dstream.runtime.signals import ECHO_WINDOW

    if sig in sent:
        time.sleep(ECHO_WINDOW)
    sent.add(sig)


def table_for(request: pytest.FixtureRequest, prefix: str) -> str:
    """A table name of the test's own, so tests sharing one server never see each
    other's rows."""
    return prefix + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Signal `pid` and wait for it to go (it need not be our child); SIGKILL after
    `timeout`."""
    if not _pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be ours
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)


def service_user(name: str) -> Optional[pwd.struct_passwd]:
    """As root, the system user `name` that a server runs as (servers refuse root, or
    keep their state in that user's home); None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise ServiceUnavailable(f"running as root and there is no `{name}` user") from None


def start_logged(
    what: str,
    argv: list[str],
    log: Path,
    ready: Callable[[subprocess.Popen[bytes]], bool],
    *,
    env: Optional[dict[str, str]] = None,
    timeout: float = 15.0,
) -> subprocess.Popen[bytes]:
    """`argv` started with its output in `log`, once `ready(proc)` says so; when it
    exits or `timeout` passes first, it is stopped and the test fails (or skips) with
    the tail of its log."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out, env=env)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready(proc):
            return proc
        time.sleep(0.05)
    stop_pid(proc.pid)
    proc.wait()
    require_service(f"{what} did not start: {log.read_text(errors='replace')[-500:]}")


class _Server(Protocol):
    def stop(self) -> None: ...


class _Startable(_Server, Protocol):
    def start(self) -> None: ...


ServerT = TypeVar("ServerT", bound=_Server)
StartableT = TypeVar("StartableT", bound=_Startable)


def started(server: StartableT) -> StartableT:
    """`server` once its `start()` returned (for `running`)."""
    server.start()
    return server


@contextlib.contextmanager
def running(what: str, start: Callable[[], ServerT]) -> Iterator[ServerT]:
    """`with running("X", start_x) as server:` — `start()`'s server for the block,
    stopped after it; skip, or fail under DSTREAM_REQUIRE_SERVICES=1, if it cannot
    start."""
    try:
        server = start()
    except (ServiceUnavailable, OSError, subprocess.SubprocessError) as exc:
        require_service(f"{what}: {exc}")
    try:
        yield server
    finally:
        server.stop()


# -- PostgreSQL --------------------------------------------------------------------------
def _pg_bindir() -> str:
    found = shutil.which("pg_ctl")
    if found:
        return os.path.dirname(found)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
    )
    if not candidates:
        raise ServiceUnavailable(
            "PostgreSQL is not installed (no pg_ctl); apt-get install postgresql"
        )
    return os.path.dirname(candidates[-1])


@dataclass
class PostgresServer:
    directory: str
    port: int
    bindir: str
    as_user: Optional[str]  # run the server binaries as this user (we are root)
    listen: tuple[str, ...] = ("127.0.0.1",)  # more addresses: trusted from anywhere

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> str:
        return os.path.join(self.directory, "data")

    def _command(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        return prefix + list(args)

    def _check(self, *args: str) -> None:
        done = subprocess.run(
            self._command(*args), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = os.path.join(self.directory, "log")
            tail = Path(log).read_text()[-2000:] if os.path.exists(log) else ""
            raise ServiceUnavailable(
                f"{os.path.basename(args[0])} failed ({done.returncode}): "
                f"{done.stderr.strip()[-2000:]} {tail}"
            )

    def start(self) -> None:
        self._check(
            os.path.join(self.bindir, "initdb"),
            "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
        )  # fmt: skip
        if len(self.listen) > 1:  # e.g. a veth address reached from a network namespace
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as hba:
                hba.write("host all all 0.0.0.0/0 trust\n")
        self.serve()

    def serve(self) -> None:
        """Start the server on its data directory (`halt` stopped it; `start` made it)."""
        options = " ".join(
            f"-c {option}"
            for option in (
                f"port={self.port}",
                f"listen_addresses={','.join(self.listen)}",
                f"unix_socket_directories={self.directory}",
                "wal_level=logical",  # the CDC tests decode the WAL
                "max_replication_slots=20",  # a slot per CDC test
                "max_wal_senders=20",
                "fsync=off",  # no test here crashes the server itself
                "synchronous_commit=off",
                "max_connections=60",
                "shared_buffers=16MB",
            )
        )
        self._check(
            os.path.join(self.bindir, "pg_ctl"),
            "-D", self.data, "-l", os.path.join(self.directory, "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    @property
    def pid(self) -> Optional[int]:
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as handle:
                return int(handle.readline().strip())
        except (OSError, ValueError):
            return None

    def halt(self) -> None:
        """`pg_ctl stop` (fast mode): every session ends and no connection is accepted
        until `serve`; the data stay."""
        self._check(
            os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "60",
            "stop",
        )  # fmt: skip

    def restart(self) -> None:
        """`pg_ctl restart` (fast mode): every session ends, the data stay."""
        self._check(
            os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast",
            "-l", os.path.join(self.directory, "log"), "-w", "-t", "60", "restart",
        )  # fmt: skip

    def stop(self) -> None:
        pid = self.pid
        if pid is not None:
            stop_pid(pid, signal.SIGINT)  # SIGINT: PostgreSQL's "fast" shutdown
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(
    tmpdir: Optional[str] = None, listen: tuple[str, ...] = ("127.0.0.1",)
) -> PostgresServer:
    """A fresh PostgreSQL cluster on a free 127.0.0.1 port, trust auth, user postgres,
    wal_level=logical. `.dsn` connects to it; `.stop()` stops it by PID and removes it.

    initdb refuses to run as root, so as root the server runs as user `postgres` in a
    directory it owns (pytest's tmp_path is private to root, hence a fresh one under
    `tmpdir` or the system temp dir)."""
    bindir = _pg_bindir()
    owner = service_user("postgres")
    as_user = owner.pw_name if owner else None
    base = tmpdir if tmpdir and not as_user else None
    directory = tempfile.mkdtemp(prefix="dstream-pg-", dir=base)
    if owner is not None:
        os.chmod(directory, 0o755)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(directory, free_port(), bindir, as_user, listen)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def postgres(tmpdir: Optional[str] = None) -> contextlib.AbstractContextManager[PostgresServer]:
    """`with postgres() as server:` — a running server for the block (`server.dsn`);
    skip, or fail under DSTREAM_REQUIRE_SERVICES=1, if none can start."""
    return running("PostgreSQL", lambda: start_postgres(tmpdir))


# -- pgbouncer ---------------------------------------------------------------------------
@dataclass
class Pooler:
    directory: str
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            pid = int(Path(self.directory, "pid").read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None:
            stop_pid(pid)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer(server: PostgresServer, pool_mode: str) -> Pooler:
    """pgbouncer on a free 127.0.0.1 port in front of `server`, trust auth, daemonized
    (stopped by the PID in its pidfile). It refuses root: as root it runs as postgres."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(binary):
        raise ServiceUnavailable("pgbouncer is not installed; apt-get install pgbouncer")
    owner = service_user("postgres")
    directory = tempfile.mkdtemp(prefix="dstream-pgbouncer-")
    pooler = Pooler(directory, free_port())
    Path(directory, "users.txt").write_text('"postgres" ""\n')
    Path(directory, "pgbouncer.ini").write_text(
        f"""[databases]
postgres = host=127.0.0.1 port={server.port} dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {pooler.port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = {pool_mode}
logfile = {directory}/log
pidfile = {directory}/pid
"""
    )
    if owner is not None:
        os.chmod(directory, 0o755)
        for name in ("", "users.txt", "pgbouncer.ini"):
            os.chown(os.path.join(directory, name), owner.pw_uid, owner.pw_gid)
    prefix = ["runuser", "-u", owner.pw_name, "--"] if owner else []
    done = subprocess.run(
        [*prefix, binary, "-d", os.path.join(directory, "pgbouncer.ini")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pooler.stop()
        raise ServiceUnavailable(f"pgbouncer failed ({done.returncode}): {done.stderr[-2000:]}")
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", pooler.port), 1):
            return pooler
        if time.monotonic() > deadline:
            pooler.stop()
            raise ServiceUnavailable("pgbouncer did not listen within 20 s")
        time.sleep(0.05)


def pgbouncer(server: PostgresServer, pool_mode: str) -> contextlib.AbstractContextManager[Pooler]:
    return running("pgbouncer", lambda: start_pgbouncer(server, pool_mode))


def lock_waiters(lock: Path) -> int:
    """How many waits for a lock on `lock` the kernel lists: the lines of /proc/locks
    such as `1: -> FLOCK  ADVISORY  WRITE 1006 fe:00:10012085 0 EOF` (MAJOR:MINOR:INODE)."""
    inode = os.stat(lock).st_ino
    count = 0
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[1] == "->" and fields[6].rsplit(":", 1)[-1] == str(inode):
            count += 1
    return count
