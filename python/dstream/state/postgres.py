"""Checkpoints in a PostgreSQL table, for several machines sharing one state.

    state { backend = "postgres"  dsn = "postgresql://..."  table = "dstream_state" }

One row per task; `put` is a single-statement upsert in autocommit mode, so it is
atomic and, with PostgreSQL's default `synchronous_commit = on`, durable when it
returns. The column is `json`, not `jsonb`: a checkpoint is opaque and kept byte for
byte (jsonb would reorder keys and refuses strings holding \u0000). `sequence` is
incremented by the upsert itself, inside the row lock, so concurrent writers on any
number of machines never lose an increment.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any, Callable, Optional, TypeVar

import orjson

from dstream.errors import ConfigError, DstreamError, LockLost
from dstream.state.base import (
    StateRecord,
    StateStore,
    already_running,
    check_task_name,
    encode_checkpoint,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
# A run's lock on its task (64-bit key: distinct tasks practically never collide).
_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
T = TypeVar("T")


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, without the password, for messages."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # an unparseable DSN is reported by connect itself
        return "<unparseable dsn>"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


class PostgresStore(StateStore):
    def __init__(self, dsn: str, table: str = "dstream_state", *, location: Any = None) -> None:
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
        self._psycopg = psycopg
        parts = table.split(".")
        if not 1 <= len(parts) <= 2 or not all(_IDENT.match(part) for part in parts):
            raise ConfigError(
                f"invalid state table name {table!r}",
                location=location,
                hint='use a plain identifier or schema.table, e.g. table = "dstream_state"',
            )
        self._table = sql.Identifier(*parts)
        self._table_name = table
        self._dsn = dsn
        self.description = f"postgres {describe_dsn(dsn)} table {table}"
        self._lock = threading.Lock()
        self._conn: Any = None
        self._held: set[str] = set()  # tasks whose run lock this store holds
        self._lost: set[str] = set()  # tasks held whose lock another run took meanwhile
        with self._lock:
            self._connect()

    # -- connection ----------------------------------------------------------------------
    def _connect(self) -> None:
        psycopg, sql = self._psycopg, self._psycopg.sql
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise DstreamError(
                f"could not connect to the state database {describe_dsn(self._dsn)}: "
                f"{str(exc).strip()}",
                hint="check `dsn` in the state block and that PostgreSQL is running and reachable",
            ) from None
        try:
            with conn.transaction():
                # Two processes creating the table at once would race on the catalog.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    ("dstream_state:" + self._table_name,),
                )
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} ("
                        " task text PRIMARY KEY,"
                        " checkpoint json NOT NULL,"
                        " updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
                        " sequence bigint NOT NULL)"
                    ).format(self._table)
                )
        except psycopg.Error as exc:
            conn.close()
            raise self._error("create the state table", exc) from None
        # A new session after a lost one: the run locks went with the old session, and
        # another run may have taken one meanwhile. A task whose lock is gone must not
        # write its state again (put raises LockLost); the others go on.
        for task in sorted(self._held):
            try:
                taken = conn.execute(_TRY_LOCK, (self._run_key(task),)).fetchone()
            except psycopg.Error as exc:
                conn.close()
                raise self._error("lock the task for its run", exc) from None
            if not (taken and taken[0]):
                self._held.discard(task)
                self._lost.add(task)
        self._conn = conn

    def _run(self, action: str, work: Callable[[Any], T]) -> T:
        """Run `work(connection)`, reconnecting once if the connection was lost (the
        server restarted, a proxy dropped it). A retried upsert may count twice in
        `sequence`; that only has to grow, so it is harmless."""
        psycopg = self._psycopg
        with self._lock:
            if self._conn is None:
                raise DstreamError("the state store is closed")
            for attempt in (1, 2):
                try:
                    if self._conn.closed:
                        self._connect()
                    return work(self._conn)
                except psycopg.OperationalError as exc:
                    self._conn.close()
                    if attempt == 2:
                        raise self._error(action, exc) from None
                except psycopg.Error as exc:
                    raise self._error(action, exc) from None
        raise AssertionError("unreachable")

    def _error(self, action: str, exc: Exception) -> DstreamError:
        return DstreamError(
            f"could not {action} in {self.description}: {str(exc).strip()}",
            hint="check that the database is up and the user may read and write the table",
        )

    # -- operations ----------------------------------------------------------------------
    def _select(self, where: bool) -> Any:
        sql = self._psycopg.sql
        query = (
            "SELECT task, checkpoint::text, extract(epoch FROM updated_at)::float8, sequence"
            " FROM {}"
        )
        query += " WHERE task = %s" if where else " ORDER BY task"
        return sql.SQL(query).format(self._table)

    @staticmethod
    def _record(row: Any) -> StateRecord:
        task, checkpoint, updated_at, sequence = row
        return StateRecord(task, orjson.loads(checkpoint), float(updated_at), int(sequence))

    def get(self, task: str) -> Optional[StateRecord]:
        check_task_name(task)
        row = self._run(
            "read the checkpoint", lambda c: c.execute(self._select(True), (task,)).fetchone()
        )
        return self._record(row) if row else None

    def tasks(self) -> list[StateRecord]:
        rows = self._run("list checkpoints", lambda c: c.execute(self._select(False)).fetchall())
        return [self._record(row) for row in rows]

    def put(self, task: str, checkpoint: Any) -> None:
        check_task_name(task)
        encoded = encode_checkpoint(task, checkpoint).decode()
        query = self._psycopg.sql.SQL(
            "INSERT INTO {} AS s (task, checkpoint, updated_at, sequence)"
            " VALUES (%s, %s::json, clock_timestamp(), 1)"
            " ON CONFLICT (task) DO UPDATE SET checkpoint = EXCLUDED.checkpoint,"
            " updated_at = EXCLUDED.updated_at, sequence = s.sequence + 1"
        ).format(self._table)

        def store(conn: Any) -> None:
            if task in self._lost:  # checked after any reconnect, under the store's lock
                raise LockLost(
                    f"task {task!r} lost its run lock in {self.description}: another run "
                    "took it while the connection to the state database was down",
                    hint="this run stops so that the two do not overwrite each other's "
                    "checkpoints; check the other run before starting this one again",
                )
            conn.execute(query, (task, encoded))

        self._run("store the checkpoint", store)

    def reset(self, task: str) -> bool:
        check_task_name(task)
        query = self._psycopg.sql.SQL("DELETE FROM {} WHERE task = %s").format(self._table)
        count = self._run("reset the checkpoint", lambda c: c.execute(query, (task,)).rowcount)
        return bool(count)

    def _run_key(self, task: str) -> str:
        return f"dstream_run:{self._table_name}:{task}"

    @contextlib.contextmanager
    def hold_run(self, task: str) -> Iterator[None]:
        """A session advisory lock, on the connection that stores the checkpoints: any
        machine sharing the table sees it, and the server drops it with the session. If
        the session is lost (a server restart, a dropped connection), the reconnect
        before the next operation takes the lock again; if another run took it in between,
        this task's stores fail (LockLost): checkpoints are never written without the
        lock. Other tasks of the store keep theirs."""
        check_task_name(task)
        key = self._run_key(task)

        def take(conn: Any) -> bool:
            if task in self._held or task in self._lost:  # a session lock is re-entrant
                return False
            row = conn.execute(_TRY_LOCK, (key,)).fetchone()
            if row and row[0]:
                self._held.add(task)  # under the store's lock: a reconnect sees it
                return True
            return False

        if not self._run("lock the task for its run", take):
            raise already_running(task, self.description)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(task)
                self._lost.discard(task)
                if self._conn is not None and not self._conn.closed:
                    # a lost session released it already
                    with contextlib.suppress(self._psycopg.Error):
                        self._conn.execute(
                            "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,)
                        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
