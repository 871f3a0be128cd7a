"""Several "hosts" on one machine for the scale tests: each host is a directory with
its own dstream.hcl and output file, and a real `dstream` process (optionally inside
a network namespace), sharing one PostgreSQL state.

What the tests look at: the lease row (who holds the task, which epoch), the stored
checkpoint (sampled all along: it must never move backwards) and the hosts' output
files (together they must hold every seq up to the final checkpoint).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import orjson
import psycopg
from psycopg.rows import TupleRow

from dstream.runtime.watchdog import NAME
from dstream.state.lease import LeaseSettings
from tests.crash.harness import read_output
from tests.relay import FreezableProxy
from tests.services import before_a_repeat, require_service, wait_until
from tests.workspace import dstream_argv

TASK = "t"
STATE = """\
state {{
  backend = "postgres"
  dsn = "{dsn}"
  table = "{table}"
  lease_ttl = "{ttl}s"
  lease_renew_interval = "{renew}s"
}}
"""
# config()'s one task, restarted after a failure.
RESTARTED = """\
task "{task}" {{
  commit_interval = "200ms"
  stop_grace = "{stop_grace}"
  restart {{
    attempts = 20
    backoff = "200ms"
    max_backoff = "1s"
  }}
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = 2
      max_count        = 0
      checkpoint_every = 20
    }}
  }}
  output {{
    provider_path = "{output}"
    config {{ path = "out.jsonl" }}
  }}
}}
"""
# counter()'s task: one of several in a project, each with an output file of its own.
COUNTER = """\
task "{name}" {{
  commit_interval = "{commit_interval}"
  stop_grace = "1s"
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = {interval}
      max_count        = {max_count}
      checkpoint_every = 10
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "{out}" }}
  }}
}}
"""


def config(
    dsn: str, table: str, ttl: float, renew: float, *, stop_grace: str = "1s",
    output: str = "dstream-file",
) -> str:  # fmt: skip
    """A host's dstream.hcl: task TASK (counter -> file) on the shared PostgreSQL state."""
    task = RESTARTED.format(task=TASK, stop_grace=stop_grace, output=output)
    return project(dsn, table, task, ttl=ttl, renew=renew)


def counter(
    name: str,
    *,
    interval: int = 20,
    max_count: int = 0,
    commit_interval: str = "200ms",
    out: str = "",
) -> str:
    """A task block: counter (`max_count` envelopes, 0: no end; `interval` ms apart) ->
    dstream-file `out` (out_<name>.jsonl by default)."""
    return COUNTER.format(
        name=name,
        interval=interval,
        max_count=max_count,
        commit_interval=commit_interval,
        out=out or f"out_{name}.jsonl",
    )


def project(dsn: str, table: str, *tasks: str, ttl: float = 6, renew: float = 1) -> str:
    """A dstream.hcl of these task blocks on the shared PostgreSQL state."""
    return STATE.format(dsn=dsn, table=table, ttl=ttl, renew=renew) + "".join(tasks)


# Bounds a wait: a deadline passed is a hang, not slowness.
WAIT = 60.0
# The lease of the in-process stores (PostgresStore): short, so that a lease lost or
# run out is seen within seconds.
SETTINGS = LeaseSettings(ttl=3.0, renew_interval=0.5)


@dataclass
class Lease:
    owner: str
    epoch: int
    expires_in: float

    @property
    def pid(self) -> int:
        return int(self.owner.split(":")[1])


class Database:
    """Reads of the shared state, on one autocommit connection of the test's own, kept
    (not opened per poll, which would add connection time to a measured takeover) and
    opened again after the server restarted; the `database` fixture closes it."""

    def __init__(self, dsn: str, table: str, task: str = TASK) -> None:
        self.dsn = dsn
        self.table = table
        self.task = task
        self._conn: Optional[psycopg.Connection[TupleRow]] = None
        self._lock = threading.Lock()  # the Sampler polls from its thread

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> psycopg.Cursor[TupleRow]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=2)
            try:
                return self._conn.execute(sql, params)
            except psycopg.OperationalError:
                self._conn.close()  # the session is gone: the next call connects again
                raise

    def _query(self, sql: str) -> Any:
        try:
            return self._execute(sql, (self.task,)).fetchone()
        except psycopg.Error:
            return None  # restarting: the next sample sees it

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def lease(self) -> Optional[Lease]:
        row = self._query(
            f"SELECT owner, epoch, extract(epoch FROM expires_at - now())::float8"
            f" FROM {self.table}_lease WHERE task = %s"
        )
        return Lease(row[0], int(row[1]), float(row[2])) if row else None

    def checkpoint(self) -> Optional[int]:
        row = self._query(f"SELECT checkpoint::text FROM {self.table} WHERE task = %s")
        return int(orjson.loads(row[0])["seq"]) if row else None

    def audit_writes(self) -> None:
        """From now on, record every checkpoint write to the table (any task): who wrote
        it (the writing host's application_name, see Host), and the lease's epoch and
        owner at that moment, read inside the writer's transaction (after its fence, if
        it has one)."""
        t = self.table
        self._execute(
            f"CREATE TABLE {t}_audit (writer text, task text, epoch bigint, seq bigint, owner text)"
        )
        self._execute(
            f"CREATE FUNCTION {t}_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" INSERT INTO {t}_audit SELECT current_setting('application_name'), NEW.task,"
            f" coalesce(l.epoch, 0), (NEW.checkpoint::jsonb ->> 'seq')::bigint,"
            f" coalesce(l.owner, '') FROM (SELECT NEW.task AS task) w"
            f" LEFT JOIN {t}_lease l ON l.task = w.task; RETURN NEW; END $$"
        )
        self._execute(
            f"CREATE TRIGGER {t}_audit AFTER INSERT OR UPDATE ON {t}"
            f" FOR EACH ROW EXECUTE FUNCTION {t}_audit()"
        )

    def writes(self) -> list[Write]:
        """Every write of this task since `audit_writes`, in order."""
        rows = self._execute(
            f"SELECT writer, epoch, seq, owner FROM {self.table}_audit WHERE task = %s",
            (self.task,),
        ).fetchall()
        return [Write(str(w), int(e), int(s), str(o)) for w, e, s, o in rows]


class Write(NamedTuple):
    """A checkpoint write, as `Database.audit_writes` records it."""

    writer: str  # the writing host's name
    epoch: int  # of the task's lease at the write (0: no lease)
    seq: int
    owner: str  # the lease's holder at the write ("": none)


@dataclass
class Sampler:
    """Samples the stored checkpoint in the background; `backwards` lists every step
    back it saw (the fencing epoch must make it empty)."""

    db: Database
    seen: list[int] = field(default_factory=list)
    backwards: list[tuple[int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            value = self.db.checkpoint()
            if value is None:
                continue
            if self.seen and value < self.seen[-1]:
                self.backwards.append((self.seen[-1], value))
            self.seen.append(value)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class Host:
    """One machine running `dstream run t --standby`: its own directory and output."""

    def __init__(self, root: Path, name: str, config: str, netns: Optional[str] = None) -> None:
        self.root = root / name
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "dstream.hcl").write_text(config)
        self.name = name
        self.netns = netns
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.runs = 0

    def start(self, *args: str) -> None:
        self.runs += 1
        self._sent: set[int] = set()  # the signals sent to this process
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        argv = [*prefix, *dstream_argv(*args)]
        # The host's name on its database sessions: Database.audit_writes records it.
        env = {**os.environ, "PGAPPNAME": self.name}
        with (
            open(self.root / f"stdout.{self.runs}", "wb") as out,
            open(self.root / f"stderr.{self.runs}", "wb") as err,
        ):
            self.proc = subprocess.Popen(argv, cwd=self.root, env=env, stdout=out, stderr=err)

    def run_standby(self) -> None:
        self.start("run", TASK, "--standby", "--json")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        """Send `sig`; a repeat, once the host has taken the first (services.py)."""
        assert self.proc is not None
        before_a_repeat(self._sent, sig)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = WAIT) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads((self.root / f"stdout.{self.runs}").read_bytes())
        return data

    def stderr(self) -> str:
        return (self.root / f"stderr.{self.runs}").read_text(errors="replace")

    def output_seqs(self) -> list[int]:
        return read_output(self.root / "out.jsonl").seqs

    def output_size(self) -> int:
        path = self.root / "out.jsonl"
        return path.stat().st_size if path.exists() else 0

    def provider_pids(self) -> list[int]:
        """The providers this host's dstream runs: its direct children, but not
        - a zombie: a child that has exited runs nothing (e.g. the watchdog's outer sh
          between its exit and its reaping);
        - the watchdog's outer sh before it exits (on a loaded machine, seen alive for a
          moment);
        - a child forked and not yet exec'd (its argv still dstream's own: the watchdog's
          outer sh a moment before it becomes one)."""
        assert self.proc is not None
        pids = []
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids.extend(int(pid) for pid in children.read_text().split())
        own = _argv(self.proc.pid)
        return [
            pid
            for pid in pids
            if alive([pid]) and not _is_watchdog(pid) and _argv(pid) not in (own, None)
        ]


# The `hosts` fixture (conftest.py): hosts(name, config) -> a Host stopped at teardown.
Hosts = Callable[[str, str], Host]


def _argv(pid: int) -> Optional[bytes]:
    """What `pid` runs (its /proc cmdline), or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _is_watchdog(pid: int) -> bool:
    """Whether `pid` runs runtime/watchdog.py's script (`sh -c SCRIPT NAME`)."""
    return NAME.encode() in (_argv(pid) or b"").split(b"\0")


def commands(pids: list[int]) -> list[str]:
    """What each process runs, for a failure message."""
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = Path(f"/proc/{pid}/stat").read_text()  # "pid (comm) state ..."
            found.append(argv or stat[stat.index("(") : stat.index(")") + 3])
    return found


def alive(pids: list[int]) -> bool:
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            return True
    return False


def missing(hosts: list[Host], upto: int) -> list[int]:
    """Every seq up to `upto` that no host's output holds."""
    delivered: set[int] = set()
    for host in hosts:
        delivered.update(host.output_seqs())
    return sorted(set(range(1, upto + 1)) - delivered)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextlib.contextmanager
def network_namespace() -> Iterator[tuple[str, str]]:
    """A network namespace joined to this one by a veth pair: yields (its name, the
    address of our end, which a server here listens on). Needs root (CAP_NET_ADMIN)."""
    tag = os.getpid() % 100000
    name, outer, inner = f"dstream-scale-{tag}", f"dsh{tag}", f"dsn{tag}"
    subnet = f"10.213.{tag % 250}"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", name)
        _ip("addr", "add", f"{subnet}.1/24", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{subnet}.2/24", "dev", inner)
        _ip("netns", "exec", name, "ip", "link", "set", inner, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except (OSError, subprocess.SubprocessError) as exc:
        require_service(f"a network namespace with a veth pair (root needed): {exc}")
    try:
        yield name, f"{subnet}.1"
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("link", "del", outer)
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("netns", "del", name)


def partition(netns: str, address: str, *, cut: bool) -> None:
    """Drop (or stop dropping) everything the namespace sends to `address`."""
    subprocess.run(
        ["ip", "netns", "exec", netns, "iptables", "-A" if cut else "-D", "OUTPUT",
         "-d", address, "-j", "DROP"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def held_by(db: Database, who: Host) -> bool:
    lease = db.lease()
    return lease is not None and lease.expires_in > 0 and lease.pid == who.pid


def released(db: Database) -> bool:
    """The lease is there and nobody holds it (given up, or run out)."""
    lease = db.lease()
    return lease is not None and lease.expires_in <= 0


# The text of a take-over's statement (LeaseTable.acquire, state/lease.py): a
# FreezableProxy freezes on it, `freeze(on=TAKE_OVER)`, to stall a standby mid-take.
TAKE_OVER = b"ON CONFLICT (task) DO UPDATE SET owner"


# What a standby run logs once it waits for its task (tests/cli's standby tests too).
WAITING = "taking over when it is free"


def waiting(standby: Host) -> bool:
    return WAITING in standby.stderr()


def holder_and_standby(db: Database, holder: Host, standby: Host, *standby_args: str) -> None:
    """`holder` runs TASK and holds its lease; `standby` waits to take it over."""
    holder.start("run", TASK, "--json")
    wait_until("the holder to take the lease", lambda: held_by(db, holder))
    standby.start("run", TASK, "--standby", *standby_args)
    wait_until("the standby to wait", lambda: waiting(standby))


def deliver(host: Host, sig: int) -> None:
    """Send `sig` and wait until the process took it (no longer pending), so that a
    second signal is a second delivery, not merged into the first."""
    host.signal(sig)
    bit = 1 << (sig - 1)

    def taken() -> bool:
        try:
            status = Path(f"/proc/{host.pid}/status").read_text()
        except OSError:
            return True  # it ended
        pending = ("SigPnd", "ShdPnd")
        masks = [line.split()[1] for line in status.splitlines() if line[:6] in pending]
        return not any(int(mask, 16) & bit for mask in masks)

    wait_until(f"pid {host.pid} to take signal {sig}", taken)


def ends_while_silent(host: Host, proxy: FreezableProxy, signals: tuple[int, ...]) -> int:
    """Deliver `signals` to a host whose call the frozen proxy holds: it must end while
    the proxy stays frozen, and say nothing of a crash. Its exit code."""
    assert proxy.holding(), "nothing of the host is stuck in the proxy: no stall to test"
    for i, sig in enumerate(signals):
        if i:  # a second signal once the first was taken (its stop notice), not its echo
            wait_until("the stop notice", lambda: "stopping" in host.stderr())
        deliver(host, sig)
    code = host.wait()  # a hang is a TimeoutExpired here, the proxy still frozen
    assert proxy.frozen
    said = (host.root / f"stdout.{host.runs}").read_text() + host.stderr()
    assert "Traceback" not in said and "error ignored" not in said, said
    return code


def registration_expired(dsn: str, table: str, owner: str, within: float = 0.0) -> bool:
    """Whether the agent `owner`'s registration has run out (the others count it out),
    or will within `within` seconds."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT expires_at <= now() + make_interval(secs => %s) FROM {table}_agents "
            "WHERE agent = %s",
            (within, owner),
        ).fetchone()
    return bool(row and row[0])


def streaming(db: Database, since: int) -> bool:
    value = db.checkpoint()
    return value is not None and value > since + 100


def finish(db: Database, hosts: list[Host], sampler: Sampler) -> None:
    """Stop both hosts cleanly; check the delivery contract over the whole test."""
    for host in hosts:
        host.stop()
    sampler.close()
    final = db.checkpoint()
    assert final is not None
    assert not sampler.backwards, f"the stored checkpoint moved backwards: {sampler.backwards}"
    assert missing(hosts, final) == [], "seqs up to the stored checkpoint are missing"
