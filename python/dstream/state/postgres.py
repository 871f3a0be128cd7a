"""Checkpoints in a PostgreSQL table, for several machines sharing one state.

    state {
      backend = "postgres"
      dsn     = "postgresql://..."
      table   = "dstream_state"
    }

One row per task; `put` is a single-statement upsert in autocommit mode, so it is
atomic and, with PostgreSQL's default `synchronous_commit = on`, durable when it
returns. The column is `json`, not `jsonb`: a checkpoint is opaque and kept byte for
byte (jsonb would reorder keys and refuses strings holding \u0000). `sequence` is
incremented by the upsert itself, inside the row lock, so concurrent writers on any
number of machines never lose an increment.

A run holds its task through a lease with a fencing epoch (state/lease.py, in
`<table>_lease`; state/keeper.py holds it): each checkpoint write checks the epoch in
its own transaction, so a run that lost its lease stores nothing. The input
configuration's hash lives in `<table>_input` (state/history.py), written the same way;
the run history in `<table>_runs`, appended unfenced (`add_run`: it touches no
checkpoint, and a run that lost its lease is the one an operator looks for).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

from dstream.config.connstr import UNPARSEABLE_DSN, UNPARSEABLE_DSN_HINT, dsn_secrets
from dstream.config.model import AGENTS_TABLE, INPUT_TABLE, LEASE_TABLE, RUNS_TABLE
from dstream.config.redact import remember
from dstream.errors import ConfigError, DstreamError, LockLost
from dstream.state.agents import AgentTable
from dstream.state.base import (
    NULL_CHECKPOINT,
    NULL_REASON,
    UNRECORDED_HINT,
    StateRecord,
    StateStore,
    Unanswered,
    Unreadable,
    UnreadableRecord,
    check_task_name,
    compact,
    stored_form,
    this_process_since,
)
from dstream.state.held import held_by
from dstream.state.history import InputHashTable, RunTable
from dstream.state.keeper import CLOSE_WAIT, LeaseKeeper
from dstream.state.lease import Answers, LeaseRow, LeaseSettings, LeaseTable
from dstream.state.session import (
    StateUnreachable,
    check_session_pooling,
    limit_waits,
    open_session,
    session_gone,
)
from dstream.state.tables import SqlTable

if TYPE_CHECKING:
    from psycopg import sql
    from psycopg.rows import TupleRow

    from dstream.config.model import Location
    from dstream.state.lease import Conn

RECONNECT_PAUSE = 0.2  # seconds between two attempts to reach a restarting database
T = TypeVar("T")


def libpq_text(exc: BaseException, dsn: str) -> str:
    """A psycopg/libpq error's text for a message, without the DSN libpq quotes in some
    (`... in URI: "postgresql://user:password@..."`). A DSN libpq cannot parse never gets
    this far: PostgresStore refuses it before connecting (docs/providers/postgres.md).
    On one line: libpq breaks its own ("refused\n\tIs the server running ..."), which an
    error block would show as escapes."""
    text = str(exc).strip()
    for quoted in (f': "{dsn}"', f'"{dsn}"', dsn):
        text = text.replace(quoted, "" if quoted.startswith(":") else "the dsn")
    return " ".join(text.split())  # after the DSN is out: its own spacing matches


def dsn_parses(dsn: str) -> bool:
    """Whether libpq can parse `dsn` (its errors then quote nothing of it but hosts)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except ProgrammingError:
        return False
    return True


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, without the password, for messages; each of several
    hosts with its port, paired as libpq pairs them (one port for all, or one each)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # an unparseable DSN is reported by connect itself
        return "<unparseable dsn>"
    hosts = str(parts.get("host") or "localhost").split(",")
    ports = str(parts.get("port") or "5432").split(",")
    if len(ports) != len(hosts):  # one for every host (or a list libpq refuses)
        ports = [ports[0]] * len(hosts)
    where = ",".join(f"{host or 'localhost'}:{port or '5432'}" for host, port in zip(hosts, ports))
    return f"{where}/{parts.get('dbname') or parts.get('user') or ''}"


class CheckpointTable(SqlTable):
    COLUMNS = (
        "task text PRIMARY KEY, checkpoint json NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), sequence bigint NOT NULL"
    )


class PostgresStore(StateStore):
    has_leases = True

    def __init__(
        self,
        dsn: str,
        table: str = "dstream_state",
        *,
        location: Optional[Location] = None,
        lease: Optional[LeaseSettings] = None,
        owner: str = "",
    ) -> None:
        # Before anything can quote the dsn (libpq does); config/schema.py's
        # check_postgres_state has refused what libpq would misread, and a bad table.
        remember(dsn_secrets(dsn))
        try:
            import psycopg
            from psycopg import sql
        except ImportError:
            from dstream.extras import install_command

            raise ConfigError(
                "the postgres state backend needs the 'postgres' extra, which is not installed",
                location=location,
                hint=install_command("postgres"),
            ) from None
        if not dsn_parses(dsn):
            # Not libpq's message: it quotes the piece it stopped at, maybe the password's.
            raise DstreamError(f"the state 'dsn' {UNPARSEABLE_DSN}", hint=UNPARSEABLE_DSN_HINT)
        self._psycopg = psycopg
        parts = table.split(".")
        self._table = sql.Identifier(*parts)
        self._table_name = table
        self._table_parts = parts
        self._dsn = dsn
        self.description = f"postgres {describe_dsn(dsn)} table {table}"
        self._lock = threading.Lock()
        self._conn: Optional[Conn] = None
        self._unreadable: list[Unreadable] = []  # what the last tasks() left out
        settings = lease or LeaseSettings()
        settings.check()
        self._checkpoints = CheckpointTable(self._table, table)
        self._leases = LeaseTable(self._beside(LEASE_TABLE), table)
        self._runs = RunTable(self._beside(RUNS_TABLE), table)
        self._inputs = InputHashTable(self._beside(INPUT_TABLE), table)
        self._answers = Answers()  # whether the database answers, seen by both connections
        self._keeper = LeaseKeeper(
            self._lease_connection, self._leases, settings, self.description, owner,
            answers=self._answers,
        )  # fmt: skip
        with self._lock:
            self._connect()

    # -- connection ----------------------------------------------------------------------
    def _connect(self) -> None:
        psycopg = self._psycopg
        try:
            conn = open_session(self._dsn, self._keeper.settings.ttl)
        except psycopg.Error as exc:
            raise StateUnreachable(
                f"could not connect to the state database {describe_dsn(self._dsn)}: "
                f"{libpq_text(exc, self._dsn)}",
                hint="check `dsn` in the state block and that PostgreSQL is running and reachable",
            ) from None
        try:
            limit_waits(conn, self._keeper.settings.ttl)
            with conn.transaction():
                # Two processes creating the table at once would race on the catalog.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    ("dstream_state:" + self._table_name,),
                )
                # Only the missing ones (state/tables.py): a user may lack CREATE.
                self._checkpoints.create(conn)
                self._leases.create(conn)
                self._runs.create(conn)
                self._inputs.create(conn)
            check_session_pooling(conn, describe_dsn(self._dsn), self._plain_connection)
        except psycopg.OperationalError as exc:  # lost, or cut: a reconnect may do
            conn.close()
            raise self._unreachable("prepare the state tables", exc) from None
        except psycopg.Error as exc:
            conn.close()
            raise self._error("prepare the state tables", exc) from None
        except DstreamError:
            conn.close()
            raise
        self._conn = conn
        self._answers.answered()

    def _beside(self, suffix: str) -> sql.Identifier:
        """The identifier of the table `<state table><suffix>`, in the same schema."""
        parts = self._table_parts
        return self._psycopg.sql.Identifier(*parts[:-1], parts[-1] + suffix)

    def _lease_connection(self) -> Conn:
        """The lease keeper's own connection: it must notice a dead network in time (the
        store's connection checked the dsn for a transaction pooler already), and wait on
        no row lock past half a renewal interval (session.limit_waits)."""
        settings = self._keeper.settings
        conn = self._plain_connection()
        try:
            return limit_waits(conn, settings.ttl, settings.renew_interval / 2)
        except BaseException:
            conn.close()
            raise

    def _plain_connection(self) -> Conn:
        return open_session(self._dsn, self._keeper.settings.ttl)

    def _run(
        self,
        action: str,
        work: Callable[[Conn], T],
        *,
        check: Optional[Callable[[], object]] = None,
        once: bool = False,
    ) -> T:
        """Run `work(connection)`, reconnecting if the connection was lost (the server
        restarted, a proxy dropped it): the run pauses, for as long as its lease could
        last unrenewed (past that, the lease keeper stops it anyway), counted from the
        call, so that a call that waited for another's turn on the connection does not
        wait its whole patience again. A retried upsert may count twice in `sequence`;
        that only has to grow, so it is harmless. `check()` runs before every attempt and
        raises when the call is to be made no more (a fenced write whose lease is lost:
        it would be refused, so no new session is opened for it); `once`: no second
        attempt (a call that may fail, such as leaving the agent registry)."""
        psycopg = self._psycopg
        settings = self._keeper.settings
        patience = time.monotonic() + settings.ttl - settings.margin
        with self._lock:
            if self._conn is None:
                raise DstreamError(
                    "the state store is closed", hint="a bug in dstream: please report it"
                )
            retried: tuple[type[Exception], ...] = (*session_gone(), StateUnreachable)
            while True:
                try:
                    if check is not None:
                        check()
                    if self._conn.closed:
                        self._connect()
                    result = work(self._conn)
                except retried as exc:
                    self._answers.unanswered()
                    self._conn.close()
                    # No attempt begins past the patience: its pause counts too.
                    if once or time.monotonic() + RECONNECT_PAUSE > patience:
                        if isinstance(exc, StateUnreachable):
                            raise
                        raise self._unreachable(action, exc) from None
                    time.sleep(RECONNECT_PAUSE)
                    continue
                except psycopg.Error as exc:
                    self._answers.answered()  # an error is an answer
                    raise self._error(action, exc) from None
                self._answers.answered()
                return result

    def _error(self, action: str, exc: Exception) -> DstreamError:
        return DstreamError(
            f"could not {action} in {self.description}: {libpq_text(exc, self._dsn)}",
            hint="check that the database is up and the user may read and write the table",
        )

    def _unreachable(self, action: str, exc: Exception) -> StateUnreachable:
        """The session was lost, or cut for want of an answer (session.open_session)."""
        return StateUnreachable(
            f"could not {action} in {self.description}: {libpq_text(exc, self._dsn)}",
            hint="check that PostgreSQL is running and reachable, and not stalled",
        )

    # -- operations ----------------------------------------------------------------------
    def _select(self, where: bool) -> sql.Composed:
        from psycopg import sql

        query = (
            "SELECT task, checkpoint::text, extract(epoch FROM updated_at)::float8, sequence"
            " FROM {}"
        )
        query += " WHERE task = %s" if where else " ORDER BY task"
        return sql.SQL(query).format(self._table)

    def _record(self, row: TupleRow) -> StateRecord:
        """The row as a record; UnreadableRecord for one dstream never writes (a null
        checkpoint, set outside dstream: the column's NOT NULL keeps SQL's NULL out)."""
        task, checkpoint, updated_at, sequence = row
        # `json` keeps the text as written: the checkpoint's exact bytes come back
        stored = compact(checkpoint.encode())
        if stored == NULL_CHECKPOINT:
            raise UnreadableRecord(
                f"the record of task {task!r} in {self.description} is not a dstream "
                f"state record ({NULL_REASON})",
                hint="it was set outside dstream: replace it with `dstream state set TASK "
                "JSON`, or remove it with `dstream state reset TASK` to start from the beginning",
            )
        return StateRecord(task, stored, float(updated_at), int(sequence))

    def get(self, task: str) -> Optional[StateRecord]:
        check_task_name(task)
        row = self._run(
            "read the checkpoint", lambda c: c.execute(self._select(True), (task,)).fetchone()
        )
        return self._record(row) if row else None

    def tasks(self) -> list[StateRecord]:
        rows = self._run("list checkpoints", lambda c: c.execute(self._select(False)).fetchall())
        records, self._unreadable = [], []
        for row in rows:
            try:
                records.append(self._record(row))
            except UnreadableRecord as exc:  # listed apart: the others are still shown
                self._unreadable.append(Unreadable(row[0], self.description, exc.reason))
        return records

    def unreadable(self) -> list[Unreadable]:
        return list(self._unreadable)

    def put(self, task: str, checkpoint: object) -> None:
        check_task_name(task)
        encoded = stored_form(task, checkpoint).decode()
        query = self._psycopg.sql.SQL(
            "INSERT INTO {} AS s (task, checkpoint, updated_at, sequence)"
            " VALUES (%s, %s::json, clock_timestamp(), 1)"
            " ON CONFLICT (task) DO UPDATE SET checkpoint = EXCLUDED.checkpoint,"
            " updated_at = EXCLUDED.updated_at, sequence = s.sequence + 1"
        ).format(self._table)

        epoch = self._keeper.write_epoch(task)  # the holding the write began under

        def store(conn: Conn) -> None:
            with self._fenced(conn, task, epoch):
                conn.execute(query, (task, encoded))

        self._run("store the checkpoint", store, check=self._still_held(task, epoch))

    def reset(self, task: str) -> bool:
        check_task_name(task)
        query = self._psycopg.sql.SQL("DELETE FROM {} WHERE task = %s").format(self._table)
        count = self._run("reset the checkpoint", lambda c: c.execute(query, (task,)).rowcount)
        return bool(count)

    # -- what a run leaves besides its checkpoint -------------------------------------------
    def input_hash(self, task: str) -> Optional[str]:
        check_task_name(task)
        return self._run("read the input's hash", lambda c: self._inputs.get(c, task))

    def set_input_hash(self, task: str, digest: str) -> None:
        check_task_name(task)

        epoch = self._keeper.write_epoch(task)

        def store(conn: Conn) -> None:
            with self._fenced(conn, task, epoch):
                if epoch is not None or not self._run_elsewhere(conn, task):
                    self._inputs.set(conn, task, digest)

        self._run("store the input's hash", store, check=self._still_held(task, epoch))

    def _run_elsewhere(self, conn: Conn, task: str) -> bool:
        """Another process holds the task's lease. A run checks its input before it takes
        the lease: one that will be refused, or waits as a standby, must not change the
        digest of the input the running one's checkpoints come from."""
        return any(
            row.task == task
            and row.expires_in > 0
            and not row.owner.startswith(this_process_since() + ":")  # new_owner's
            for row in self._leases.rows(conn)
        )

    def runs(self, task: str) -> list[dict[str, object]]:
        check_task_name(task)
        return self._run("read the run history", lambda c: self._runs.runs(c, task))

    def add_run(self, task: str, run: dict[str, object], *, until: Optional[float] = None) -> None:
        """An append, not fenced (base.StateStore.add_run). Every call on the database
        can wait, up to its bound (docs/scaling.md), and none is cut at a deadline: none
        is made after a forced stop, whatever time its deadline leaves."""
        check_task_name(task)
        if until is not None:
            raise Unanswered(
                "the stop was forced, and a call on the state database could wait",
                hint=UNRECORDED_HINT,
            )
        self._not_silent()

        def store(conn: Conn) -> None:
            with conn.transaction():
                self._runs.add(conn, task, run)

        # Checked again once the call has the connection: a call of the run still on it
        # (a checkpoint's store its stop left behind) may have met the silence.
        self._run("record the run", store, check=self._not_silent)

    def _not_silent(self) -> None:
        """Raises Unanswered when the database did not answer this store's last call:
        a call that cannot matter (the run's history) is not made on it."""
        if self._answers.silent:
            raise Unanswered(
                "the state database did not answer the run's last call",
                hint=UNRECORDED_HINT,
            )

    # -- leases --------------------------------------------------------------------------
    def _still_held(self, task: str, began: Optional[int]) -> Callable[[], object]:
        """Raises, before an attempt of a write, when the holding it began under is lost
        or given up (as `_fenced` would on the session)."""
        return lambda: self._keeper.write_epoch(task, began)

    @contextlib.contextmanager
    def _fenced(self, conn: Conn, task: str, began: Optional[int] = None) -> Iterator[None]:
        """A transaction in which the task's lease epoch is checked (and its row locked)
        before the write: a run that lost its lease stores nothing. `began`: the epoch
        the write began under (`write_epoch` when it was called), checked again here, on
        every attempt: a write that waited for the connection while its lease was lost,
        released, or released and taken again, is refused (LeaseLost). Only a store that
        never held the task (`dstream state set` with no run) writes unfenced."""
        epoch = self._keeper.write_epoch(task, began)
        with conn.transaction():
            if epoch is not None and not self._leases.fence(conn, task, epoch):
                raise self._keeper.declare_lost(task, "another run took it over")
            yield

    @property
    def owner(self) -> str:
        """Who this store's leases name as their holder (state/lease.py new_owner:
        host:pid:ticks@boot/pidns:random)."""
        return self._keeper.owner

    @property
    def lease_settings(self) -> LeaseSettings:
        return self._keeper.settings

    def agents(self) -> AgentTable:
        return AgentTable(self._beside(AGENTS_TABLE), self._table_name)

    def transact(self, action: str, work: Callable[[Conn], T], *, once: bool = False) -> T:
        """`work(connection)` on the store's connection, reconnecting as its own
        operations do (for the agent registry); `once`: a single attempt."""
        return self._run(action, work, once=once)

    @property
    def silent(self) -> bool:
        """The database did not answer this store's last exchange with it, on either of
        its connections (lease.Answers)."""
        return self._answers.silent

    def lease_epoch(self, task: str) -> Optional[int]:
        return self._keeper.epoch(task)

    def on_lease_lost(self, task: str, callback: Callable[[LockLost], None]) -> None:
        self._keeper.on_lost(task, callback)

    def follow_lease_deadline(self, task: str, callback: Callable[[float], None]) -> None:
        self._keeper.follow_deadline(task, callback)

    def lease_deadline_passed(self, task: str) -> None:
        self._keeper.deadline_passed(task)

    def leases(self) -> list[LeaseRow]:
        return self._run("read the leases", self._leases.rows)

    def try_hold(self, task: str, config_hash: str = "") -> int:
        """Take the task's lease if it is free: its epoch, or 0 when held elsewhere."""
        check_task_name(task)
        if self._keeper.epoch(task) is not None:  # one store does not take it twice
            return 0
        try:
            return self._keeper.try_acquire(task, config_hash)
        except session_gone() as exc:
            raise self._unreachable("take the task's lease", exc) from None
        except self._psycopg.Error as exc:
            raise self._error("take the task's lease", exc) from None

    def release(self, task: str) -> None:
        self._keeper.release(task)

    def _held_by_agent(self, row: LeaseRow) -> bool:
        """Whether the lease's holder is a registered `dstream agent` (an agent's lease
        owner is its name in the registry; a run is never there). False when that is not
        known: the database did not answer."""
        try:
            return self._run(
                "read the agents", lambda c: self.agents().registered(c, row.owner), once=True
            )
        except DstreamError:
            return False

    def held_elsewhere(self, task: str) -> bool:
        row = self._live_lease(task, once=True)
        return row is not None and row.owner != self.owner

    def _live_lease(self, task: str, *, once: bool) -> Optional[LeaseRow]:
        """The task's lease while it lasts; None when free or the database did not
        answer (the lease is held all the same: a standby waits on). `once`: a single
        attempt, so that a standby's poll never waits out a silent database."""
        try:
            rows = self._run("read the leases", self._leases.rows, once=once)
        except StateUnreachable:
            return None
        return next((row for row in rows if row.task == task and row.expires_in > 0), None)

    @contextlib.contextmanager
    def hold_run(self, task: str, *, config_hash: str = "") -> Iterator[None]:
        """The task's lease for the run (state/lease.py): taken only when free or
        expired, renewed in the background, released at the end so the next run need
        not wait for the TTL. A holder that dies leaves it to expire."""
        if not self.try_hold(task, config_hash):
            row = self._live_lease(task, once=False)
            agent = row is not None and self._held_by_agent(row)
            raise held_by(task, self.description, row, agent=agent)
        try:
            yield
        finally:
            self.release(task)

    def close(self) -> None:
        until = time.monotonic() + CLOSE_WAIT
        self._keeper.close(until)
        # A write stuck on a dead network holds the lock: the process exit closes it then.
        if self._lock.acquire(timeout=max(0.0, until - time.monotonic())):
            try:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            finally:
                self._lock.release()
