"""Leases with fencing: one run of a task at a time across any number of hosts.

A lease is a row per task in `<state table>_lease`:

    task | owner | epoch | expires_at | acquired_at | renewed_at | config_hash

Every time and comparison is taken on the database clock (`now()`), so the hosts'
clocks never need to agree. Taking a lease is allowed when the row is missing, released
or expired, and bumps `epoch`: the epoch is a fencing token. A checkpoint write runs
`fence()` in its own transaction (`UPDATE ... WHERE task = $1 AND epoch = $2`), so a
runner whose lease was taken over (paused, partitioned, slow) cannot store anything:
the takeover's UPDATE and the fence's UPDATE lock the same row, whichever commits first
wins, and the other sees the new epoch.

Two layers, two types: `LeaseDeadlinePassed` (this process's own clock said the lease
can no longer be trusted: it acts first, before any statement) and `LeaseFenced` (the
database refused the epoch: a checkpoint write's fence, or a renewal; the backstop for
whatever the local deadline missed). Each says by when the providers must be gone
(`stop_by`): a little before the lease can expire, or at once when it already has.

This module is what a lease is: its settings, its errors, its row and SQL. The holder's
side, taking, renewing, the local deadline and releasing, is state/keeper.py.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Optional

from dstream.errors import DstreamError, LockLost
from dstream.records import record
from dstream.state.base import this_process_since
from dstream.state.session import connect_bound, statement_bound
from dstream.state.tables import SqlTable

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow

    #: a psycopg connection as the state opens it (rows are tuples)
    Conn = Connection[TupleRow]

DEFAULT_TTL = 15.0
DEFAULT_RENEW_INTERVAL = 3.0
# The state block's attributes that set them, named in errors.
TTL, RENEW_INTERVAL = "lease_ttl", "lease_renew_interval"
# Kept between the providers' kill and the lease's expiry, for the kill to land on a
# loaded host (at most half the margin, for short TTLs).
KILL_SLACK = 1.0


@record(frozen=True)
class LeaseSettings:
    ttl: float = DEFAULT_TTL
    renew_interval: float = DEFAULT_RENEW_INTERVAL

    @property
    def margin(self) -> float:
        """Time kept before the expiry to stop the providers (a third of the TTL)."""
        return self.ttl / 3

    @property
    def kill_slack(self) -> float:
        """Of the margin, what is kept after the providers' kill, before the expiry."""
        return min(KILL_SLACK, self.margin / 2)

    @property
    def silent_stop(self) -> float:
        """The longest the last calls of a stopped run or agent wait on a state database
        that does not answer: a write's patience (ttl - margin), then the cut of the call
        in flight and the connect of a new session (docs/scaling.md). 22 s with the
        defaults."""
        return self.ttl - self.margin + statement_bound(self.ttl) + connect_bound(self.ttl)

    def check(self, defaults: Collection[str] = ()) -> None:
        """Raise BadLease for settings that cannot work; `defaults`: the settings the
        configuration did not write (the message says so)."""

        def said(name: str, value: float) -> str:
            return f"{name} {value:g}s" + (" (the default)" if name in defaults else "")

        ttl, renew = said(TTL, self.ttl), said(RENEW_INTERVAL, self.renew_interval)
        if self.ttl < 1.0:
            raise BadLease(f"{ttl} is shorter than 1s", setting=TTL, hint="use lease_ttl >= 1s")
        if self.renew_interval <= 0:
            raise BadLease(
                f"{renew} is not above 0",
                setting=RENEW_INTERVAL,
                hint="use lease_renew_interval > 0s, or leave it out for the default",
            )
        if 2 * self.renew_interval > self.ttl - self.margin:
            raise BadLease(
                f"{renew} is too long for {ttl}: two renewals must fit before the stop "
                f"margin ({self.margin:g}s, a third of the TTL)",
                setting=RENEW_INTERVAL,
                hint=f"use lease_renew_interval <= {(self.ttl - self.margin) / 2:g}s, or a "
                "longer lease_ttl",
            )


class BadLease(DstreamError):
    """Lease settings that cannot work; `setting`: the one to change."""

    def __init__(self, reason: str, *, setting: str, hint: str) -> None:
        super().__init__(reason, hint=hint)
        self.setting = setting


class LeaseLost(LockLost):
    """The task's lease is gone: its providers must be gone by `stop_by` (monotonic).
    `held_until` (wall clock, default now): the last instant this process trusted the
    lease, its local deadline at the latest; its run forwarded nothing after it, so the
    run's history ends it there (runner.py), before any other holder's run began."""

    def __init__(
        self,
        reason: str,
        *,
        stop_by: float,
        held_until: Optional[float] = None,
        hint: Optional[str] = None,
    ) -> None:
        # Not a detail of DstreamError: a monotonic instant means nothing in --json.
        super().__init__(reason, hint=hint)
        self.stop_by = stop_by
        self.held_until = time.time() if held_until is None else held_until


class LeaseDeadlinePassed(LeaseLost):
    """No renewal came back before the local deadline (the database unreachable, this
    process paused): the run gives the lease up on its own clock, before it can expire."""


class LeaseFenced(LeaseLost):
    """The database refused this run's epoch (a checkpoint write's fence, or a renewal):
    the lease expired or another run holds it."""


class LeaseReleased(LeaseLost):
    """A write for a task whose lease this process gave up (its run ended, the lease was
    released, or released and taken again since the write began): refused here, before
    any statement, so a write that outlived its run stores nothing."""


class Answers:
    """Whether the state database answered one store's last exchange with it, on either
    of its connections (the store's and its lease keeper's share one). One that did not
    (a call cut for want of an answer, a connect timed out, a session lost) counts as
    silent until it answers again: after a stop, a call that cannot matter is not made
    on it, since it would only wait out its bound (releasing a lease, an agent leaving
    the registry, the run's history). Another store of the same database keeps its own:
    it may not have met the silence."""

    def __init__(self) -> None:
        self._silent = False

    def answered(self) -> None:
        self._silent = False

    def unanswered(self) -> None:
        self._silent = True

    @property
    def silent(self) -> bool:
        return self._silent


@record(frozen=True)
class LeaseRow:
    task: str
    owner: str
    epoch: int
    expires_in: float  # seconds on the database clock; <= 0 when expired or released
    acquired_at: float  # seconds since the epoch (database clock)
    config_hash: str


def new_owner(label: str = "") -> str:
    """A holder's identity: host:pid:ticks@boot/pidns:random, this process
    (this_process_since: when it started and its PID namespace, so that a later process
    of its pid, or one of another namespace, is not taken for it; host:pid where /proc
    does not say) and a random part (each store of a process holds its own). An older
    dstream's holders are host:pid:ticks@boot:random and host:pid:random (state/held.py
    reads them all)."""
    return f"{label or this_process_since()}:{secrets.token_hex(3)}"


class LeaseTable(SqlTable):
    """The SQL of leases. Every method takes an autocommit connection."""

    COLUMNS = (
        "task text PRIMARY KEY, owner text NOT NULL, epoch bigint NOT NULL,"
        " expires_at timestamptz NOT NULL, acquired_at timestamptz NOT NULL,"
        " renewed_at timestamptz NOT NULL, config_hash text NOT NULL DEFAULT ''"
    )

    def acquire(self, conn: Conn, task: str, owner: str, ttl: float, config_hash: str) -> int:
        """The new epoch, or 0 when a live holder has it."""
        row = conn.execute(
            self._sql(
                "INSERT INTO {t} AS l (task, owner, epoch, expires_at, acquired_at,"
                " renewed_at, config_hash)"
                " VALUES (%s, %s, 1, now() + make_interval(secs => %s), now(), now(), %s)"
                " ON CONFLICT (task) DO UPDATE SET owner = EXCLUDED.owner,"
                " epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at,"
                " acquired_at = now(), renewed_at = now(), config_hash = EXCLUDED.config_hash"
                " WHERE l.expires_at <= now()"
                " RETURNING epoch"
            ),
            (task, owner, ttl, config_hash),
        ).fetchone()
        return int(row[0]) if row else 0

    def renew(
        self, conn: Conn, owner: str, held: list[tuple[str, int]], ttl: float
    ) -> set[tuple[str, int]]:
        """Renew every (task, epoch) `owner` holds in one statement (an agent holds
        many); the ones renewed. A missing one was taken over or had expired."""
        rows = conn.execute(
            self._sql(
                "UPDATE {t} SET expires_at = now() + make_interval(secs => %s),"
                " renewed_at = now()"
                " WHERE owner = %s AND expires_at > now() AND (task, epoch) IN"
                " (SELECT * FROM unnest(%s::text[], %s::bigint[]))"
                " RETURNING task, epoch"
            ),
            (ttl, owner, [task for task, _ in held], [epoch for _, epoch in held]),
        ).fetchall()
        return {(row[0], int(row[1])) for row in rows}

    def release(self, conn: Conn, task: str, owner: str, epoch: int) -> None:
        """Expire it now, so the next holder takes it without waiting for the TTL."""
        conn.execute(
            self._sql(
                "UPDATE {t} SET expires_at = now() WHERE task = %s AND owner = %s AND epoch = %s"
            ),
            (task, owner, epoch),
        )

    def fence(self, conn: Conn, task: str, epoch: int) -> bool:
        """Inside the caller's transaction: True while `epoch` still holds the lease.
        The row stays locked until that transaction ends, so no takeover slips in."""
        cur = conn.execute(
            self._sql(
                "UPDATE {t} SET renewed_at = renewed_at"
                " WHERE task = %s AND epoch = %s AND expires_at > now()"
            ),
            (task, epoch),
        )
        return bool(cur.rowcount == 1)

    def rows(self, conn: Conn) -> list[LeaseRow]:
        found = conn.execute(
            self._sql(
                "SELECT task, owner, epoch, extract(epoch FROM expires_at - now())::float8,"
                " extract(epoch FROM acquired_at)::float8, config_hash FROM {t} ORDER BY task"
            )
        ).fetchall()
        return [LeaseRow(r[0], r[1], int(r[2]), float(r[3]), float(r[4]), r[5]) for r in found]
