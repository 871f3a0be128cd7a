"""The sessions a lease relies on: libpq options that notice a dead network within the
TTL, one bound on the whole connect and on every call on an established session, and the
refusal of a connection pooler that does not keep a session."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional, TypedDict, TypeVar

from dstream.errors import DstreamError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg import Error as PsycopgError
    from psycopg.abc import PQGen
    from psycopg.rows import TupleRow

    Conn = Connection[TupleRow]

_PROBE_SETTING = "dstream.session_probe"
RV = TypeVar("RV")
# libpq's least connect_timeout (and psycopg's, which enforces it in whole seconds): a
# smaller one is taken as 2.
LEAST_CONNECT_TIMEOUT = 2


class StateUnreachable(DstreamError):
    """The state database could not be reached, or did not answer in time (down,
    restarting, cut off, stalled)."""


def session_gone() -> tuple[type[Exception], ...]:
    """The errors after which a session is gone and a new one may do: psycopg's
    OperationalError (lost, cut, refused) and the server ending a session left idle in a
    transaction (SQLSTATE 25P03, `limit_waits`), which psycopg raises as another class."""
    import psycopg

    return (psycopg.OperationalError, psycopg.errors.IdleInTransactionSessionTimeout)


class ConnectOptions(TypedDict):
    keepalives: int
    keepalives_idle: int
    keepalives_interval: int
    keepalives_count: int
    tcp_user_timeout: int


def connect_options(ttl: float) -> ConnectOptions:
    """libpq options for a connection that must notice a dead network within the TTL.
    Not connect_timeout: `_connect_within` gives each attempt its share of
    statement_bound(ttl) (psycopg < 3.2, which tries the hosts itself, the whole)."""
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, int(ttl / 3)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": int(ttl * 1000 / 3),
    }


def connect_bound(ttl: float) -> float:
    """The longest a whole connect takes (`open_session`), however many addresses: the
    statement bound, which its attempts share, and libpq's least past it, for the
    attempt after one that answered (`_share`). A stop bound counts this one."""
    return statement_bound(ttl) + LEAST_CONNECT_TIMEOUT


def statement_bound(ttl: float) -> float:
    """How long one call on an established session may take (a third of the TTL, at
    least 2 s): past it the session is cut. The attempts of a connect share it too, and
    past it no further address is tried but the one after an address that answered
    (`connect_bound`)."""
    return max(2.0, ttl / 3)


class _Cutter:
    """One thread that cuts the socket of every call past its bound. A blackholed
    network (a frozen VM or proxy, a hung pooler: sockets open, nothing answered) is
    seen by no TCP timer when a peer's kernel still acknowledges, and a statement
    timeout is the server's: only the client can end the wait. shutdown() wakes the
    libpq call blocked on that socket at once, with "server closed the connection";
    the session is then gone, and the caller connects again."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: dict[int, tuple[float, int]] = {}  # call -> (monotonic deadline, fd)
        self._fired: set[int] = set()
        self._calls = itertools.count()
        self._thread: Optional[threading.Thread] = None
        self._asleep_until: Optional[float] = None  # the loop's next wake-up (None: idle)

    def arm(self, fd: int, seconds: float) -> int:
        with self._wake:
            call = next(self._calls)
            deadline = time.monotonic() + seconds
            self._due[call] = (deadline, fd)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="pg-cutter", daemon=True)
                self._thread.start()
            if self._asleep_until is None or deadline < self._asleep_until:
                self._wake.notify()  # else it wakes in time anyway: no switch per statement
            return call

    def disarm(self, call: int) -> bool:
        """Whether the call was cut. Under the lock the loop cuts with: once this
        returns, the fd (still the session's: it is closed only after) is left alone."""
        with self._wake:
            self._due.pop(call, None)
            if call in self._fired:
                self._fired.discard(call)
                return True
            return False

    def _loop(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for call, (deadline, fd) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[call]
                        self._fired.add(call)
                        _shut(fd)
                self._asleep_until = min((due for due, _ in self._due.values()), default=None)
                wake = self._asleep_until
                self._wake.wait(None if wake is None else max(0.0, wake - now))


def _shut(fd: int) -> None:
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=os.dup(fd))  # its own fd: closing it closes no other
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


_CUTTER = _Cutter()


def open_session(dsn: str, ttl: float) -> Conn:
    """A connection (options: `connect_options`) made within `connect_bound(ttl)`
    however many addresses `dsn` names (`_connect_within`), every call of which is
    bounded by `statement_bound(ttl)`: past it the call raises psycopg.OperationalError
    ("no answer ... within"), and the session is closed, as a lost one would be."""
    return _connect_within(_bounded_connection(statement_bound(ttl)), dsn, ttl)


def _connect_within(cls: type[Conn], dsn: str, ttl: float) -> Conn:
    """Connect to the first address of `dsn` that answers, within connect_bound(ttl) in
    all. psycopg tries each attempt (every address of every host, `_attempts`) with
    the whole connect_timeout, one after the other: N silent addresses cost N
    timeouts, which no stop bound could count. Here each attempt is given an equal
    share of what is left of statement_bound(ttl), in whole seconds and at least
    libpq's least; those left less are not tried, and the error names them, unless the
    attempt before answered (`_share`). The names are resolved before the bound starts,
    by the resolver, as psycopg does (its own timeouts)."""
    import psycopg
    from psycopg import conninfo

    options = connect_options(ttl)
    if not hasattr(conninfo, "conninfo_attempts"):
        # psycopg < 3.2: libpq tries the hosts, all in one connect_timeout
        whole = int(statement_bound(ttl))
        return cls.connect(dsn, autocommit=True, connect_timeout=whole, **options)
    attempts = _attempts(dsn, options)
    bound, spent, started = statement_bound(ttl), 0.0, time.monotonic()
    failures: list[tuple[PsycopgError, str]] = []
    for index, attempt in enumerate(attempts):
        answered = bool(failures) and not isinstance(
            failures[-1][0], psycopg.errors.ConnectionTimeout
        )
        timeout = _share(bound - spent, len(attempts) - index, answered)
        if timeout is None:
            _fail(failures, [_address(a) for a in attempts[index:]], bound)
        try:
            return cls.connect(
                conninfo.make_conninfo("", **attempt), autocommit=True, connect_timeout=timeout
            )
        except psycopg.Error as exc:  # as psycopg does: the next address may answer
            failures.append((exc, _address(attempt)))
        spent = time.monotonic() - started
    _fail(failures, [], bound)


def _attempts(dsn: str, options: ConnectOptions) -> list[dict[str, Any]]:
    """The attempts psycopg makes for `dsn` with libpq `options`, one connect each: an
    address each, twice with target_session_attrs=prefer-standby (a pass that wants a
    standby, then one that takes any server). psycopg leaves the setting out of the
    second pass's attempts, so libpq would take the environment's
    (PGTARGETSESSIONATTRS): prefer-standby there made every attempt two, each with the
    whole timeout, and read-write would refuse a standby. They say `any`."""
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(dsn, **options)
    attempts = conninfo.conninfo_attempts(params)
    wanted = params.get("target_session_attrs", os.environ.get("PGTARGETSESSIONATTRS"))
    if wanted == "prefer-standby":  # as psycopg reads it: the dsn's, else the environment's
        return [{"target_session_attrs": "any", **attempt} for attempt in attempts]
    return attempts


def _share(left: float, addresses: int, answered: bool) -> Optional[int]:
    """One address's connect_timeout out of `left` seconds for `addresses` still to
    try: an equal part in whole seconds, at least libpq's least and never more than
    `left`; None when not even that is left. But the last address tried `answered`
    (any error but a timeout: refused, or the server's): it left its time to this one,
    which is tried with libpq's least while any is left, so a primary that is down fails
    over to its standby whatever the TTL. Only then can the connect end past the bound,
    by less than LEAST_CONNECT_TIMEOUT (`connect_bound`); silent addresses never take
    it past."""
    whole = int(left)
    if whole < LEAST_CONNECT_TIMEOUT:
        return LEAST_CONNECT_TIMEOUT if answered and left > 0 else None
    return min(whole, max(LEAST_CONNECT_TIMEOUT, whole // addresses))


def _address(attempt: dict[str, Any]) -> str:
    """An attempt's address for a message, as psycopg words it (no password), and the
    server it wanted if the dsn said (prefer-standby tries an address twice)."""
    host, port, hostaddr = (attempt.get(name) for name in ("host", "port", "hostaddr"))
    where = f"host: {host!r}, port: {port!r}, hostaddr: {hostaddr!r}"
    wanted = attempt.get("target_session_attrs")
    return where if wanted is None else f"{where}, target_session_attrs: {wanted!r}"


def _fail(failures: list[tuple[PsycopgError, str]], untried: list[str], bound: float) -> NoReturn:
    """Raise what every attempt ended with, as psycopg does (the last error's class),
    with the addresses the bound left no time for."""
    last = failures[-1][0]  # the first attempt is always tried (bound >= 2 s)
    if len(failures) == 1 and not untried:
        raise last.with_traceback(None)
    lines = [str(last), f"Every address of the dsn, sharing {bound:g}s:"]
    lines += [f"- {where}: {error}" for error, where in failures]
    lines += [
        f"- {where}: not tried: of the {bound:g}s, less than {LEAST_CONNECT_TIMEOUT}s was left"
        for where in untried
    ]
    raise type(last)("\n".join(lines), pgconn=last.pgconn).with_traceback(None)


@functools.cache
def _bounded_connection(bound: float) -> type[Conn]:
    """The connection class whose calls last `bound` seconds at most, made on first use
    (psycopg is imported only then)."""
    import psycopg

    class Bounded(psycopg.Connection["TupleRow"]):
        # Every exchange of a connection (a statement, BEGIN, COMMIT, fetching rows)
        # goes through wait(); connecting does not (its timeout is connect_timeout).
        def wait(self, gen: PQGen[RV], *args: Any, **kwargs: Any) -> RV:
            call = _CUTTER.arm(self.pgconn.socket, bound)
            try:
                return super().wait(gen, *args, **kwargs)
            except psycopg.OperationalError:
                if _CUTTER.disarm(call):
                    raise psycopg.OperationalError(
                        f"no answer from the state database within {bound:g}s (the "
                        "network or the server stalled): the session was cut"
                    ) from None
                raise
            except psycopg.Error:
                raise
            except BaseException:
                # Interrupted midway (a forced stop raises in the waiting thread): the
                # exchange is half done, so nothing more is sent on the session — not
                # even the ROLLBACK of an enclosing transaction, which would find a
                # command in progress. Disarmed first: a closed fd may be reused.
                _CUTTER.disarm(call)
                self.close()
                raise
            finally:
                _CUTTER.disarm(call)

    return Bounded


def limit_waits(conn: Conn, ttl: float, lock_wait: float = 0.0) -> Conn:
    """Session limits that keep a paused peer from stopping the others (set per
    session, as a pooler in session mode keeps them; libpq's startup `options` it may
    refuse).

    - A session idle inside a transaction for half the TTL is ended by the server: a
      holder paused mid-write (SIGSTOP, a frozen VM) keeps its row locks no longer,
      so its expired lease can be taken over.
    - `lock_wait` > 0: a statement waits that long at most for another session's row
      lock (a lease keeper, whose renewals must not queue behind a take-over blocked
      on a paused peer's write)."""
    conn.execute(
        "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
        (f"{int(ttl * 1000 / 2)}ms",),
    )
    if lock_wait > 0:
        wait = f"{int(lock_wait * 1000)}ms"
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (wait,))
    return conn


def check_session_pooling(conn: Conn, where: str, connect: Callable[[], Conn]) -> None:
    """Refuse a pooler in transaction (or statement) mode: it hands each transaction to
    any server session, so a session setting set in one transaction is gone (or another
    client's) in the next. Set one in a transaction; then, while a second client holds
    a transaction open (so that a pooler cannot hand `conn` the same server session
    again by chance), read it back and compare backend pids. A direct connection or a
    session-mode pooler keeps both."""
    token = secrets.token_hex(8)
    with conn.transaction():
        first = conn.execute(
            "SELECT pg_backend_pid(), set_config(%s, %s, false)", (_PROBE_SETTING, token)
        ).fetchone()
    other = connect()
    try:
        with other.transaction():
            other.execute("SELECT 1")
            with conn.transaction():
                second = conn.execute(
                    "SELECT pg_backend_pid(), current_setting(%s, true)", (_PROBE_SETTING,)
                ).fetchone()
    finally:
        other.close()
    if not first or not second or first[0] != second[0] or second[1] != token:
        raise DstreamError(
            f"the state database {where} does not keep a session across transactions: "
            "a connection pooler in transaction mode sits in between",
            hint="point the state dsn at PostgreSQL itself or at a pooler in session mode "
            "(pgbouncer pool_mode = session); leases need session guarantees",
        )
