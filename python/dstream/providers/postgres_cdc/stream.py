"""The replication read loop: pgoutput messages in, encoded frames out.

Messages are read in batches and decoded by the Rust core (dstream._core.PgoutputSession),
which writes the envelope lines byte for byte as the Python decoder (pgoutput.py,
values.py, `_envelope` below) would; that decoder stays the reference, and handles any
message the Rust one leaves to it. Frames leave as bytes (complete lines, several per
chunk) so the SDK host writes them without building objects twice.

A checkpoint `{"lsn": <end of a commit record>}` is written only right after a Commit
message, so a transaction is never split across a
checkpoint, and resuming from it (start_lsn) makes the server skip exactly the
transactions already delivered. The slot's confirmed position is moved only by
`confirm()`, which the provider calls from on_commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Optional

import orjson

from dstream._core import PgoutputSession
from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.catalog import PgConnection, PgCursor, Table
from dstream.providers.postgres_cdc.config import PgCdcConfig
from dstream.providers.postgres_cdc.pgoutput import (
    Decoder,
    Relation,
    RowChange,
    Truncate,
    typed_row,
)
from dstream.sdk.log import log

# until_caught_up: at most one keepalive request per this many seconds while waiting.
PING_SECONDS = 0.05

CHUNK_BYTES = 256 * 1024
# Messages read per call into the Rust decoder.
BATCH_MESSAGES = 4096
OPERATIONS = {"I": "Insert", "U": "Update", "D": "Delete"}
SLOT_BUSY_RETRY_SECONDS = 15.0


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
        tables: list[Table],
        base_types: dict[int, int],
        resume_lsn: int = 0,
    ) -> None:
        self.config = config
        self.slot = slot
        self.publication = publication
        self.wanted = {(t.schema, t.name) for t in tables}
        self.decoder = Decoder(base_types)
        self.resume_lsn = resume_lsn
        self.session: Optional[PgoutputSession] = None
        self._truncates = 0  # counted by the Python path (truncate = "log"/"fail")
        self.isolated: set[str] = set()
        self.conn: PgConnection = None
        self.cursor: PgCursor = None
        self._confirmed = resume_lsn
        # until_caught_up: the WAL position to reach before ending the run.
        self.target_lsn: Optional[int] = None

    @property
    def counters(self) -> Counters:
        found = self.session.counters() if self.session is not None else {}
        return Counters(
            changes=found.get("changes", 0),
            transactions=found.get("transactions", 0),
            checkpoints=found.get("checkpoints", 0),
            skipped_replayed=found.get("skipped_replayed", 0),
            isolated=dict(found.get("isolated", {})),
            truncates=found.get("truncates", 0) + self._truncates,
        )

    # -- connection --------------------------------------------------------------------
    def connect(self) -> None:
        import psycopg2
        import psycopg2.extras

        from dstream.providers.postgres_cdc.values import SESSION_OPTIONS

        try:
            self.conn = psycopg2.connect(
                self.config.dsn,
                connection_factory=psycopg2.extras.LogicalReplicationConnection,
                options=SESSION_OPTIONS,
            )
        except psycopg2.OperationalError as exc:
            raise DstreamError(
                f"cannot open a replication connection: {str(exc).strip()}",
                hint="the user needs the REPLICATION attribute (or superuser) and "
                "pg_hba.conf must allow it; check 'dsn'",
            ) from exc
        self.cursor = self.conn.cursor()

    def create_slot_with_snapshot(self) -> tuple[int, str]:
        """Create the slot on this replication connection and export its snapshot: the
        snapshot sees exactly the rows committed before the slot's start point. It stays
        valid until the next command on this connection (start_replication)."""
        self.cursor.execute(
            f'CREATE_REPLICATION_SLOT "{self.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT'
        )
        _name, consistent_point, snapshot_name, _plugin = self.cursor.fetchone()
        return _parse_lsn(consistent_point), str(snapshot_name)

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
                return
            except psycopg2.errors.ObjectInUse as exc:
                # A previous run killed a moment ago: its walsender may still hold the
                # slot until the server notices the closed socket.
                if time.monotonic() > deadline:
                    raise DstreamError(
                        f"replication slot {self.slot} is in use: {str(exc).strip()}",
                        hint="another process (another run of this task?) reads this "
                        "slot; stop it, or give this task its own 'slot'",
                    ) from exc
                await asyncio.sleep(0.5)
            except psycopg2.errors.UndefinedObject as exc:
                raise DstreamError(
                    f"replication slot {self.slot} does not exist",
                    hint="run `dstream init <task>` to create the publication and slot",
                ) from exc

    def confirm(self, lsn: int) -> None:
        """Tell the server everything up to `lsn` is delivered: WAL before it may go."""
        if lsn > self._confirmed and self.cursor is not None:
            self.cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, force=True)
            self._confirmed = lsn

    def close(self) -> None:
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
        cfg = self.config
        cursor = self.cursor
        read = cursor.read_message
        session = self.session = PgoutputSession(
            slot=self.slot,
            tables=sorted(self.wanted),
            base_types=self.decoder.base_types,
            resume_lsn=self.resume_lsn,
            checkpoint_every=cfg.checkpoint_every,
            checkpoint_interval=cfg.checkpoint_interval,
            truncate_emit=cfg.truncate == "emit",
        )
        last_ping = 0.0
        while True:
            batch: list[bytes] = []
            msg = read()
            while msg is not None:
                batch.append(msg.payload)
                if len(batch) >= BATCH_MESSAGES:
                    break
                msg = read()
            if batch:
                self._feed(session, batch)
                if session.buffered >= CHUNK_BYTES:
                    yield session.take()
                if msg is not None:
                    continue
            # Idle: hand out what is buffered, checkpoint a finished transaction, then
            # wait for the socket (bounded, so keepalives keep flowing).
            session.idle()
            if session.buffered:
                yield session.take()
                continue
            timeout = min(cfg.status_interval, 1.0)
            if self.target_lsn is not None and not session.in_txn:
                if self._caught_up(session.last_end_lsn, cursor.wal_end):
                    return
                # Ask for a keepalive (it carries how far the server has read), at most
                # every PING_SECONDS: no ping-pong while the server reads other WAL.
                now = time.monotonic()
                if now - last_ping >= PING_SECONDS:
                    cursor.send_feedback(reply=True)
                    last_ping = now
                timeout = PING_SECONDS
            await _wait_readable(cursor.fileno(), timeout)

    def _feed(self, session: PgoutputSession, batch: list[bytes]) -> None:
        at = 0
        while at < len(batch):
            at, event = session.feed(batch, at)
            if event == "relation":
                # The Python decoder keeps its relation cache in step for the fallback.
                self.decoder.decode(batch[at - 1])
            elif event == "fallback":
                self._python_message(session, batch[at])
                at += 1

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
        if (relation.schema, relation.name) not in self.wanted:
            return
        if relation.qualified in self.isolated:
            session.isolate(relation.qualified)
            return
        try:
            envelope = self._envelope(relation, message, txn_meta, session.seq)
        except Exception as exc:
            self._isolate(relation, message, exc, txn_meta)
            session.isolate(relation.qualified)
            return
        session.push(orjson.dumps(envelope) + b"\n", 1, 1)

    def _caught_up(self, last_end_lsn: int, wal_end: int) -> bool:
        """until_caught_up: every commit up to the WAL position of the run's start was
        read. Either a commit ending there was delivered, or the server reported having
        read that far (a keepalive comes after the changes it covers on the same
        connection, as pg_recvlogical --endpos relies on)."""
        target = self.target_lsn
        assert target is not None
        return last_end_lsn >= target or wal_end >= target

    # -- pieces ------------------------------------------------------------------------
    def _envelope(
        self, relation: Relation, change: RowChange, txn_meta: Mapping[str, object], seq: int
    ) -> dict[str, object]:
        meta: dict[str, object] = {
            "TableName": relation.name,
            "Schema": relation.schema,
            "OperationType": OPERATIONS[change.kind],
            "LSN": txn_meta.get("LSN"),
            "Seq": seq,
            "CommitTime": txn_meta.get("CommitTime"),
            "TransactionId": txn_meta.get("TransactionId"),
        }
        old = None
        if change.old is not None:
            old, _ = typed_row(relation, change.old, keys_only=change.old_kind == "K")
        if change.kind == "D":
            data = old
            if change.old_kind == "K":
                meta["KeyOnly"] = True
        else:
            data, unchanged = typed_row(relation, change.new or [])
            if unchanged:
                # pgoutput does not resend an unchanged TOASTed value; say so rather
                # than pretend the column is NULL.
                meta["UnchangedColumns"] = unchanged
            if old is not None:
                meta["OldKey" if change.old_kind == "K" else "Before"] = old
        return {"data": data, "metadata": meta}

    def _truncate_lines(
        self, message: Truncate, txn_meta: Mapping[str, object], seq: int
    ) -> list[bytes]:
        lines: list[bytes] = []
        for oid in message.relation_oids:
            relation = self.decoder.relations.get(oid)
            if relation is None or (relation.schema, relation.name) not in self.wanted:
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
        self.isolated.add(key)
        log.error(
            "table isolated: its changes are no longer emitted in this run",
            table=key,
            lsn=txn_meta.get("LSN"),
            error=reason,
            dead_letter=self.config.dead_letter_path,
        )
        self._dead_letter(relation, change, reason, txn_meta)

    def _dead_letter(
        self, relation: Relation, change: RowChange, reason: str, txn_meta: Mapping[str, object]
    ) -> None:
        if not self.config.dead_letter_path:
            return
        names = [c.name for c in relation.columns]
        record = {
            "table": relation.qualified,
            "operation": OPERATIONS[change.kind],
            "lsn": txn_meta.get("LSN"),
            "reason": reason,
            "new": None if change.new is None else dict(zip(names, map(_raw, change.new))),
            "old": None if change.old is None else dict(zip(names, map(_raw, change.old))),
        }
        with open(self.config.dead_letter_path, "ab") as fh:
            fh.write(orjson.dumps(record) + b"\n")


def _raw(value: object) -> Optional[str]:
    return value if value is None or isinstance(value, str) else "<unchanged toast>"


def _parse_lsn(text: str) -> int:
    from dstream.providers.postgres_cdc.pgoutput import parse_lsn

    return parse_lsn(text)


async def _wait_readable(fd: int, timeout: float) -> None:
    """Until `fd` is readable or `timeout` seconds have passed. Not `asyncio.wait_for`:
    up to Python 3.11 it swallows a cancellation (the SDK's stop) that arrives as its
    future completes, and the read loop would go on after a SIGTERM."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    timer = loop.call_later(timeout, wake)
    try:
        await ready
    finally:
        timer.cancel()
        loop.remove_reader(fd)
