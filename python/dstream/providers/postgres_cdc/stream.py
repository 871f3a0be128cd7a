"""The replication read loop: pgoutput messages in, encoded frames out.

Messages are read in batches and decoded by the Rust core (dstream._core.PgoutputSession),
which writes the envelope lines byte for byte as the Python decoder (pgoutput.py,
values.py, pgoutput.envelope) would; that decoder stays the reference, and handles any
message the Rust one leaves to it. Frames leave as bytes (complete lines, several per
chunk) so the SDK host writes them without building objects twice.

A checkpoint `{"lsn": <end of a commit record>}` is written only right after a Commit
message, so a transaction is never split across a
checkpoint, and resuming from it (start_lsn) makes the server skip exactly the
transactions already delivered. The slot's confirmed position is moved only by
`confirm()`, with a checkpoint dstream stored: the one a run resumes from, and those
the provider's on_commit receives.

Tables are captured by OID as well as by name: the publication follows a renamed table
by its OID, and so do we. A change of an isolated table (on_table_error = "isolate") is
never dropped unseen: it goes to dead_letter_path, or is counted as lost and the run
says so at its end.

While the provider is held back by its stdout (dstream's backpressure: a slow output),
the read loop is blocked in a write and sends nothing to the server; a walsender that
hears nothing for wal_sender_timeout ends the replication. A keeper thread
(`_keep_alive`) then sends standby status updates every status_interval, which repeat
the positions already confirmed (never a new one). psycopg2 connections are not safe for
concurrent use: every use of the replication cursor holds `_lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Optional

import orjson

from dstream._core import PgoutputSession
from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.catalog import Table, named_oids
from dstream.providers.postgres_cdc.checks import (
    publication_dropped,
    resync,
    unpublished_gap,
)
from dstream.providers.postgres_cdc.config import PgCdcConfig, go_on_after_tables_changed
from dstream.providers.postgres_cdc.deadletter import DeadLetters
from dstream.providers.postgres_cdc.pgerrors import (
    PgConnection,
    PgCursor,
    connect,
    reason,
    server_error,
    server_errors,
)
from dstream.providers.postgres_cdc.pgoutput import (
    Decoder,
    Relation,
    RowChange,
    Truncate,
    envelope,
    format_lsn,
    parse_lsn,
)
from dstream.providers.postgres_cdc.wakeups import SocketWakeups, settle
from dstream.sdk.log import log

# until_caught_up: at most one keepalive request per this many seconds while waiting.
PING_SECONDS = 0.05

CHUNK_BYTES = 256 * 1024
# Messages read per call into the Rust decoder.
BATCH_MESSAGES = 4096
# until_caught_up: how long the run waits, after its last checkpoint, for a commit
# notice that lets it confirm that checkpoint before exiting; counted from the last
# notice, so a slow output that keeps acknowledging is waited for.
CONFIRM_WAIT_SECONDS = 5.0
SLOT_BUSY_RETRY_SECONDS = 15.0
# During a burst of changes, how often at most the run looks whether its captured
# tables are still published (`_take`).
PUBLISHED_LOOK_SECONDS = 1.0


@dataclass
class Counters:
    changes: int = 0
    transactions: int = 0
    checkpoints: int = 0
    skipped_replayed: int = 0
    isolated: dict[str, int] = field(default_factory=dict)
    truncates: int = 0


class ChangeStream:
    """One replication session on one slot. `frames()` yields chunks of encoded lines."""

    def __init__(
        self,
        config: PgCdcConfig,
        *,
        slot: str,
        publication: str,
        task: Optional[str] = None,
        tables: list[Table],
        base_types: dict[int, int],
        resume_lsn: int = 0,
        confirmed_lsn: int = 0,
        published: Optional[frozenset[int]] = None,
    ) -> None:
        self.config = config
        self.slot = slot
        self.publication = publication
        self.task = task
        self.wanted = {(t.schema, t.name) for t in tables}
        # A table keeps its OID when renamed; the publication keeps publishing it.
        self.by_oid = {t.oid: t for t in tables}
        # What the publication published when the run started (None: one made by hand FOR
        # ALL TABLES or FOR TABLES IN SCHEMA, which publishes new tables by design): a
        # relation beyond it was added while the run ran (`_relation`).
        self.published = published
        self._partitions: set[int] = set()  # relations known to be partitions of captured ones
        self._renames_told: set[tuple[int, str]] = set()
        self.decoder = Decoder(base_types)
        self.resume_lsn = resume_lsn
        self.session: Optional[PgoutputSession] = None
        self._truncates = 0  # counted by the Python path (truncate = "log"/"fail")
        self.isolated: dict[str, str] = {}  # table -> why it was isolated
        self._snapshot_aside: dict[str, int] = {}  # table -> rows of the snapshot set aside
        self.dead_letters = DeadLetters(config.dead_letter_path)
        self.conn: PgConnection = None
        self.cursor: PgCursor = None
        self.address = "?"  # host:port of the server, for errors
        # The slot's position as the server has it: confirm() never moves it back.
        self._confirmed = confirmed_lsn
        self._confirm_waiter: Optional[asyncio.Future[None]] = None
        # until_caught_up: the WAL position to reach before ending the run.
        self.target_lsn: Optional[int] = None
        self.snapshot_lsn = 0  # where a snapshot taken by this run ends (its checkpoint)
        # Every use of the replication cursor, by the read loop or the keeper thread.
        self._lock = threading.Lock()
        self._last_exchange = time.monotonic()  # the read loop's last use of the cursor
        self._keeper: Optional[threading.Thread] = None
        self._keeper_stop = threading.Event()
        # The longest time the run went without any exchange with the server: one longer
        # than wal_sender_timeout ended the replication (seen when the run reads again,
        # past what the socket still held).
        self.longest_silence = 0.0
        # The last checkpoint handed out after the captured tables were found published
        # (`_take`), and the catalog connection that looks.
        self._verified_lsn = 0
        self._next_look = 0.0  # when `_take` looks again
        self._catalog: PgConnection = None

    @property
    def counters(self) -> Counters:
        session = self.session
        found = session.counters() if session is not None else {}
        # The session counts a transaction's changes at its commit: those of one still
        # open (a run that fails or stops inside it) were decoded and written too.
        open_txn = session is not None and session.in_txn and not session.skip_txn
        unfinished = session.seq if open_txn and session is not None else 0
        isolated = dict(found.get("isolated", {}))
        for table, rows in self._snapshot_aside.items():
            # frames() tells the session of each such table with one isolate(), which it
            # counts as one change set aside: not one of the stream's.
            seeded = 1 if self.session is not None else 0
            isolated[table] = isolated.get(table, 0) - seeded + rows
        return Counters(
            changes=found.get("changes", 0) + unfinished,
            transactions=found.get("transactions", 0),
            checkpoints=found.get("checkpoints", 0),
            skipped_replayed=found.get("skipped_replayed", 0),
            isolated=isolated,
            truncates=found.get("truncates", 0) + self._truncates,
        )

    @property
    def last_checkpoint_lsn(self) -> int:
        """The LSN of the last checkpoint this run wrote (0: none)."""
        written = self.session.last_checkpoint_lsn if self.session is not None else 0
        return max(self.snapshot_lsn, written)

    # -- connection --------------------------------------------------------------------
    def connect(self) -> None:
        self.conn = connect(self.config.dsn, replication=True)
        self.address = f"{self.conn.info.host}:{self.conn.info.port}"
        self.cursor = self.conn.cursor()

    def create_slot_with_snapshot(self) -> tuple[int, str]:
        """Create the slot on this replication connection and export its snapshot: the
        snapshot sees exactly the rows committed before the slot's start point. It stays
        valid until the next command on this connection (start_replication)."""
        import psycopg2

        try:
            self.cursor.execute(
                f'CREATE_REPLICATION_SLOT "{self.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT'
            )
            _name, consistent_point, snapshot_name, _plugin = self.cursor.fetchone()
        except psycopg2.Error as exc:
            raise self._server_error(exc, f"cannot create replication slot {self.slot}") from exc
        self.snapshot_lsn = self._confirmed = parse_lsn(consistent_point)
        return self.snapshot_lsn, str(snapshot_name)

    async def start(self) -> None:
        import psycopg2

        deadline = time.monotonic() + SLOT_BUSY_RETRY_SECONDS
        while True:
            try:
                self.cursor.start_replication(
                    slot_name=self.slot,
                    decode=False,
                    start_lsn=self.resume_lsn,
                    status_interval=self.config.status_interval,
                    options={"proto_version": "1", "publication_names": self.publication},
                )
                break
            except psycopg2.errors.ObjectInUse as exc:
                # A previous run killed a moment ago: its walsender may still hold the
                # slot until the server notices the closed socket.
                if time.monotonic() > deadline:
                    raise DstreamError(
                        f"replication slot {self.slot} is in use: {reason(exc)}",
                        hint="another process (another run of this task?) reads this "
                        "slot; stop it, or give this task its own 'slot'",
                    ) from exc
                await asyncio.sleep(0.5)
            except psycopg2.errors.UndefinedObject as exc:
                raise DstreamError(
                    f"replication slot {self.slot} does not exist",
                    hint="run `dstream init <task>` to create the publication and slot",
                ) from exc
            except psycopg2.Error as exc:
                doing = f"cannot start replication from slot {self.slot}"
                raise self._server_error(exc, doing) from exc
        # The checkpoint this run resumes from is stored (dstream handed it over as the
        # state): the WAL before it may go now, whatever this run delivers.
        self.confirm(self.resume_lsn)
        self._last_exchange = time.monotonic()
        self.longest_silence = 0.0
        self._keeper = threading.Thread(
            target=self._keep_alive, name="dstream-pg-standby-status", daemon=True
        )
        self._keeper.start()

    def _keep_alive(self) -> None:
        """While the read loop does not use the connection (it is held back by its
        stdout), send standby status updates at least every status_interval: they
        carry the positions already confirmed, so they move nothing. A failure ends the
        thread; the read loop reports the lost connection when it reads again."""
        import psycopg2

        # Checked every half interval, sent once half an interval passed in silence: the
        # server then hears from the run at least every status_interval.
        half = self.config.status_interval / 2
        while not self._keeper_stop.wait(half):
            with self._lock:
                if self.cursor is None:
                    return
                if time.monotonic() - self._last_exchange < half:
                    continue
                self._exchanged()
                try:
                    self.cursor.send_feedback(force=True)  # no LSN: the confirmed ones
                except psycopg2.Error:
                    return

    def _exchanged(self) -> None:
        """An exchange with the server now (the caller holds `_lock`, or the loop is
        over): the silence before it counts toward `longest_silence`."""
        now = time.monotonic()
        self.longest_silence = max(self.longest_silence, now - self._last_exchange)
        self._last_exchange = now

    def confirm(self, lsn: int) -> None:
        """Tell the server everything up to `lsn` is delivered: WAL before it may go.
        Only ever called with a checkpoint dstream has stored."""
        import psycopg2

        if lsn > self._confirmed and self.cursor is not None:
            try:
                with self._lock:
                    self.cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, force=True)
            except psycopg2.Error as exc:
                raise self._server_error(exc, "cannot confirm a checkpoint") from exc
            self._confirmed = lsn
            if self._confirm_waiter is not None:
                settle(self._confirm_waiter, None)

    async def wait_confirmed(self, lsn: int) -> bool:
        """Until a checkpoint at or after `lsn` was confirmed (the provider's on_commit),
        or CONFIRM_WAIT_SECONDS passed without any confirmation. Whether it was."""
        loop = asyncio.get_running_loop()
        while self._confirmed < lsn:
            waiter = self._confirm_waiter = loop.create_future()
            timer = loop.call_later(CONFIRM_WAIT_SECONDS, settle, waiter, None)
            before = self._confirmed
            try:
                await waiter
            finally:
                timer.cancel()
                self._confirm_waiter = None
            if self._confirmed == before:
                return False
        return True

    def _server_error(self, exc: Exception, doing: str) -> DstreamError:
        return server_error(exc, self.address, doing)

    def _named_oids(self) -> Optional[set[int]]:
        if self._catalog is None:
            self._catalog = connect(self.config.dsn)
        return named_oids(self._catalog, self.publication)

    def _close_catalog(self) -> None:
        if self._catalog is not None:
            with contextlib.suppress(Exception):
                self._catalog.close()
            self._catalog = None

    def close(self) -> None:
        self._keeper_stop.set()
        if self._keeper is not None:
            self._keeper.join()
            self._keeper = None
        self._close_catalog()
        if self.conn is not None:
            # Closing a broken connection: nothing left to release.
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
            self.cursor = None

    # -- the read loop -----------------------------------------------------------------
    async def frames(self) -> AsyncIterator[bytes]:
        """Reads messages in batches and hands each batch's payloads to the Rust decoder,
        which writes the envelope and checkpoint lines (no Python object per row)."""
        import psycopg2

        cfg = self.config
        self.session = PgoutputSession(
            slot=self.slot,
            tables=sorted(self.wanted),
            oids=sorted(self.by_oid),
            base_types=self.decoder.base_types,
            resume_lsn=self.resume_lsn,
            checkpoint_every=cfg.checkpoint_every,
            checkpoint_interval=cfg.checkpoint_interval,
            truncate_emit=cfg.truncate == "emit",
        )
        for table in self._snapshot_aside:  # isolated by the snapshot: in the stream too
            self.session.isolate(table)
        try:
            async for chunk in self._read_loop(self.session):
                yield chunk
        except psycopg2.errors.UndefinedObject as exc:
            # The publication was there at start: it is missing at the position of a
            # change (dropped after the slot's position, perhaps made again since).
            raise publication_dropped(self.publication, self.slot, self.task) from exc
        except psycopg2.Error as exc:
            self._exchanged()
            raise self._server_error(exc, "replication stopped") from exc

    async def _read_loop(self, session: PgoutputSession) -> AsyncIterator[bytes]:
        cfg = self.config
        cursor = self.cursor
        read = cursor.read_message
        wakeups = SocketWakeups(cursor.fileno())
        last_ping = 0.0
        lock = self._lock
        while True:
            batch: list[bytes] = []
            with lock:
                self._exchanged()
                msg = read()
                while msg is not None:
                    batch.append(msg.payload)
                    if len(batch) >= BATCH_MESSAGES:
                        break
                    msg = read()
            if batch:
                wakeups.read(len(batch))
                self._feed(session, batch)
                if session.buffered >= CHUNK_BYTES:
                    yield self._take(session, wakeups.busy)
                if msg is not None:
                    continue
            # Idle: hand out what is buffered, checkpoint a finished transaction, then
            # wait for the socket (bounded, so keepalives keep flowing).
            session.idle()
            if session.buffered:
                yield self._take(session, wakeups.busy)
                continue
            self._look(session, wakeups.busy)
            timeout = min(cfg.status_interval, 1.0)
            if self.target_lsn is not None and not session.in_txn:
                with lock:
                    wal_end = cursor.wal_end
                if self._caught_up(session.last_end_lsn, wal_end):
                    return
                # Ask for a keepalive (it carries how far the server has read), at most
                # every PING_SECONDS: no ping-pong while the server reads other WAL.
                now = time.monotonic()
                if now - last_ping >= PING_SECONDS:
                    with lock:
                        cursor.send_feedback(reply=True)
                    last_ping = now
                timeout = PING_SECONDS
            await wakeups.wait(timeout)

    def _take(self, session: PgoutputSession, burst: bool) -> bytes:
        """The buffered lines, after a look at the captured tables when they hold a new
        checkpoint. pgoutput sends nothing when a captured table is dropped (it leaves
        the publication), nor for one made again under its name (which is not in it): its
        rows would be skipped and checkpointed past without a word. Every commit decoded
        before a look came before it, so a table still published then was not dropped
        before the checkpoint the look verified; one gone at a look was dropped after the
        last checkpoint a look verified, which its error names. During a `burst` of
        changes (wakeups.py) a look is taken at most every PUBLISHED_LOOK_SECONDS: one
        per checkpoint would cost a round trip per chunk; a checkpoint of a burst may so
        pass a drop by up to that long, and the error names the gap from where it began."""
        self._look(session, burst)
        return session.take()

    def _look(self, session: PgoutputSession, burst: bool) -> None:
        """The look `_take` takes, also when the loop goes idle with every line handed
        out: the last checkpoint of a burst is looked at then, not at the next change,
        however late that comes."""
        lsn = session.last_checkpoint_lsn
        if self.published is not None and lsn != self._verified_lsn:
            now = time.monotonic()
            if not burst or now >= self._next_look:
                self._require_published()
                self._verified_lsn = lsn
                self._next_look = now + PUBLISHED_LOOK_SECONDS

    def _require_published(self) -> None:
        import psycopg2

        with server_errors("check the publication's tables", {}, "run again"):
            try:
                listed = self._named_oids()
            except psycopg2.OperationalError:
                # The server or a pooler ended the idle connection between two looks
                # (idle_session_timeout, a firewall): a new one, once.
                self._close_catalog()
                listed = self._named_oids()
        if listed is None:
            raise publication_dropped(self.publication, self.slot, self.task)
        gone = [t for oid, t in sorted(self.by_oid.items()) if oid not in listed]
        since = self._verified_lsn or self.resume_lsn  # the last checkpoint stored or sent
        if gone:
            raise DstreamError(
                f"captured table {', '.join(t.qualified for t in gone)} is no longer in "
                f"publication {self.publication}: the run stops; "
                + unpublished_gap(gone, self.task, format_lsn(since) if since else None, True),
                hint=f"run `dstream init {self.task or '<task>'}` to publish a table made "
                f"again (or take a dropped one out of 'tables'), then {resync(self.task)}",
            )

    def _feed(self, session: PgoutputSession, batch: list[bytes]) -> None:
        at = 0
        while at < len(batch):
            at, event = session.feed(batch, at)
            if event == "relation":
                self._relation(batch[at - 1])
            elif event == "fallback":
                self._python_message(session, batch[at])
                at += 1
            elif event == "isolated":
                self._set_aside(session, batch[at - 1])
        # Before any line of this batch leaves: a checkpoint after a set-aside change
        # must never be stored while the change is not durably kept.
        self.dead_letters.flush()

    def _relation(self, payload: bytes) -> None:
        """Keeps the Python decoder's relation cache in step (for the fallback), and says
        once when a captured table arrives under another name: it was renamed."""
        relation = self.decoder.decode(payload)
        assert isinstance(relation, Relation), "the session reported a Relation"
        if not self._captures(relation):
            self._refuse_added(relation)
        table = self.by_oid.get(relation.oid)
        seen = (relation.oid, relation.qualified)
        if table is None or table.qualified == relation.qualified or seen in self._renames_told:
            return
        self._renames_told.add(seen)
        log.warning(
            "a captured table arrives under another name (it was renamed): its changes are "
            "captured by the table's OID and carry that name",
            table=table.qualified,
            arrives_as=relation.qualified,
            hint="name the table as it is now in 'tables' (a run looks tables up by name at "
            "start), and route that name in the output",
        )

    def _refuse_added(self, relation: Relation) -> None:
        """A table the publication did not publish at the run's start and does now: added
        by `dstream init` after `tables` changed, while this run reads the list it started
        with. pgoutput sends a relation before its first change, so the run stops here,
        before any change of it is skipped and a checkpoint moves past it."""
        if self.published is None or relation.oid in self.published:
            return
        if relation.oid in self._partitions or self._partition_of_captured(relation.oid):
            self._partitions.add(relation.oid)
            return
        raise DstreamError(
            f"table {relation.qualified} was added to publication {self.publication} while "
            "this run ran (`dstream init` after a change of 'tables'), and the run captures "
            "the tables it started with: it stops before that table's first change, so that "
            "none is skipped",
            hint="with the table in 'tables', " + go_on_after_tables_changed(self.task),
        )

    def _partition_of_captured(self, oid: int) -> bool:
        """Whether `oid` is a partition of a captured table: with publish_via_partition_root
        pgoutput sends a partition's relation after its table's (its changes come as the
        table's), also for a partition attached while the run runs. Asked on a connection
        of its own, once per such relation."""
        conn = connect(self.config.dsn)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT relid::int8 FROM pg_partition_ancestors(%s)", (oid,))
                ancestors = {int(row[0]) for row in cur.fetchall()}
        finally:
            conn.close()
        return not ancestors.isdisjoint(self.by_oid)

    def _captures(self, relation: Relation) -> bool:
        return relation.oid in self.by_oid or (relation.schema, relation.name) in self.wanted

    def _python_message(self, session: PgoutputSession, payload: bytes) -> None:
        """One message the Rust decoder left to the Python one (a value it does not
        reproduce exactly, a truncate under "log"/"fail", a malformed message): handled
        as before the Rust path existed, in the session's transaction."""
        message = self.decoder.decode(payload)  # a malformed message raises here
        if session.skip_txn:
            return
        lsn, commit_time, xid = session.txn_meta()
        txn_meta = {"LSN": lsn, "CommitTime": commit_time, "TransactionId": xid}
        if isinstance(message, Truncate):
            lines = self._truncate_lines(message, txn_meta, session.seq)
            session.push(b"".join(lines), len(lines), 0)
            return
        if not isinstance(message, RowChange):
            raise DstreamError(
                f"the Rust and Python pgoutput decoders disagree on a message at LSN {lsn}",
                hint="please report it with the server version; the slot has not advanced past it",
            )
        relation = self.decoder.relations[message.relation_oid]
        if not self._captures(relation):
            return
        if relation.qualified in self.isolated:
            session.isolate(relation.qualified)
            self.dead_letters.add(relation, message, self._isolated_reason(relation), lsn)
            return
        try:
            line = envelope(relation, message, txn_meta, session.seq)
        except Exception as exc:
            self._isolate(relation, message, exc, txn_meta)
            session.isolate(relation.qualified)
            return
        session.push(orjson.dumps(line) + b"\n", 1, 1)

    def _set_aside(self, session: PgoutputSession, payload: bytes) -> None:
        """A change of an isolated table, which the session counted and did not write:
        to the dead-letter file when there is one (else it is counted as lost)."""
        if not self.config.dead_letter_path:
            return
        change = self.decoder.decode(payload)
        assert isinstance(change, RowChange), "the session reported a row change"
        relation = self.decoder.relations[change.relation_oid]
        lsn, _, _ = session.txn_meta()
        self.dead_letters.add(relation, change, self._isolated_reason(relation), lsn)

    def _isolated_reason(self, relation: Relation) -> str:
        return self._isolated_reason_of(relation.qualified)

    def _isolated_reason_of(self, table: str) -> str:
        return f"table isolated earlier in this run ({self.isolated.get(table)})"

    def snapshot_row_failed(
        self, table: str, column: str, row: dict[str, Optional[str]], exc: Exception, lsn: str
    ) -> None:
        """A row of the snapshot whose `column` cannot be converted: `on_table_error`
        decides, as for a streamed change. Isolated, the table's rows and changes are set
        aside from here on, in the snapshot (`set_aside_snapshot_row`) and in the stream."""
        reason = f"{type(exc).__name__}: {exc}"
        if self.config.on_table_error == "fail":
            raise DstreamError(
                f"cannot convert column {column} of a row of table {table} in the snapshot: "
                f"{reason}",
                hint='set on_table_error = "isolate" to keep the other tables flowing (with '
                "dead_letter_path to keep the raw rows); the snapshot starts over at the next "
                "run",
            ) from exc
        self.isolated[table] = reason
        log.error(
            "table isolated: its changes are no longer emitted in this run",
            table=table,
            column=column,
            lsn=lsn,
            error=reason,
            dead_letter=self.config.dead_letter_path,
        )
        self._snapshot_aside[table] = 1
        self.dead_letters.add_row(table, row, reason, lsn)

    def set_aside_snapshot_row(self, table: str, row: dict[str, Optional[str]], lsn: str) -> None:
        """A row of the snapshot of a table isolated earlier in it."""
        self._snapshot_aside[table] += 1
        self.dead_letters.add_row(table, row, self._isolated_reason_of(table), lsn)

    def set_aside_outcome(self) -> Optional[DstreamError]:
        """At the end of a run: a warning per isolated table, and the error to end the run
        with when changes were set aside without a dead-letter file to keep them."""
        isolated = self.counters.isolated
        path = self.config.dead_letter_path
        for table, count in sorted(isolated.items()):
            kept = f"in {path}" if path else "and NOT kept (no dead_letter_path): lost"
            log.emit(
                "warning" if path else "error",
                f"table {table} was isolated: {count} change(s) set aside {kept}",
                {"table": table, "changes": count, "reason": self.isolated.get(table)},
            )
        if not isolated or path:
            return None
        lost = "; ".join(f"{n} change(s) of table {t}" for t, n in sorted(isolated.items()))
        return DstreamError(
            f"{lost} could not be converted and were neither delivered nor kept (the "
            "checkpoint is past them: running again does not bring them back)",
            hint="set dead_letter_path to keep the changes of an isolated table, or "
            'on_table_error = "fail" to stop at the first one (the slot then stays before it)',
        )

    def _caught_up(self, last_end_lsn: int, wal_end: int) -> bool:
        """until_caught_up: every commit up to the WAL position of the run's start was
        read. Either a commit ending there was delivered, or the server reported having
        read that far (a keepalive comes after the changes it covers on the same
        connection, as pg_recvlogical --endpos relies on)."""
        target = self.target_lsn
        assert target is not None
        return last_end_lsn >= target or wal_end >= target

    # -- pieces ------------------------------------------------------------------------
    def _truncate_lines(
        self, message: Truncate, txn_meta: Mapping[str, object], seq: int
    ) -> list[bytes]:
        lines: list[bytes] = []
        for oid in message.relation_oids:
            relation = self.decoder.relations.get(oid)
            if relation is None or not self._captures(relation):
                continue
            self._truncates += 1
            policy = self.config.truncate
            if policy == "fail":
                raise DstreamError(
                    f"table {relation.qualified} was truncated at LSN {txn_meta.get('LSN')}",
                    hint='set truncate = "emit" (a Truncate envelope) or "log" to go on; '
                    "the slot has not advanced, so the next run sees it again",
                )
            if policy == "log":
                log.warning("table truncated", table=relation.qualified, lsn=txn_meta.get("LSN"))
                continue
            meta = {
                "TableName": relation.name,
                "Schema": relation.schema,
                "OperationType": "Truncate",
                "LSN": txn_meta.get("LSN"),
                "Seq": seq + len(lines),
                "CommitTime": txn_meta.get("CommitTime"),
                "TransactionId": txn_meta.get("TransactionId"),
                "Cascade": message.cascade,
                "RestartIdentity": message.restart_identity,
            }
            lines.append(orjson.dumps({"data": None, "metadata": meta}) + b"\n")
        return lines

    def _isolate(
        self, relation: Relation, change: RowChange, exc: Exception, txn_meta: Mapping[str, object]
    ) -> None:
        key = relation.qualified
        reason = f"{type(exc).__name__}: {exc}"
        if self.config.on_table_error == "fail":
            raise DstreamError(
                f"cannot convert a change of table {key} at LSN {txn_meta.get('LSN')}: {reason}",
                hint='set on_table_error = "isolate" to keep the other tables flowing '
                "(with dead_letter_path to keep the raw rows); please report the value",
            ) from exc
        self.isolated[key] = reason
        log.error(
            "table isolated: its changes are no longer emitted in this run",
            table=key,
            lsn=txn_meta.get("LSN"),
            error=reason,
            dead_letter=self.config.dead_letter_path,
        )
        self.dead_letters.add(relation, change, reason, txn_meta.get("LSN"))
