"""The sessions a lease relies on: libpq options that notice a dead network within the
TTL, and the refusal of a connection pooler that does not keep a session."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Callable, TypedDict

from dstream.errors import DstreamError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow

    Conn = Connection[TupleRow]

_PROBE_SETTING = "dstream.session_probe"


class ConnectOptions(TypedDict):
    autocommit: bool
    connect_timeout: int
    keepalives: int
    keepalives_idle: int
    keepalives_interval: int
    keepalives_count: int
    tcp_user_timeout: int


def connect_options(ttl: float) -> ConnectOptions:
    """libpq options for a connection that must notice a dead network within the TTL."""
    return {
        "autocommit": True,
        "connect_timeout": max(2, int(ttl / 3)),
        "keepalives": 1,
        "keepalives_idle": max(1, int(ttl / 3)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": int(ttl * 1000 / 3),
    }


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
