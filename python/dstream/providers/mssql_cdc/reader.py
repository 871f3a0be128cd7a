"""Cursor, batching and polling: which changes to read next, where to cut a batch, and
when to poll again. No SQL here (see sql.py), so it is tested against recorded rows.

Position per table = (__$start_lsn, __$seqval) of the last change delivered. A poll:
1. to_lsn = sys.fn_cdc_get_max_lsn(), fixed for the whole poll;
2. one query names the tables with changes in (position, to_lsn];
3. each of those is read, at most batch_size rows, in (start_lsn, seqval) order;
4. if a table's batch came back full, its last transaction may be cut: every table's
   rows are emitted only below that transaction's LSN (the lowest such LSN over all
   full tables), so no transaction is split across a checkpoint; if that leaves nothing
   (one transaction bigger than a batch), that transaction is paged through whole and
   only then checkpointed;
5. all rows are merged in commit order (start_lsn, seqval) and followed by a checkpoint
   holding every table's new position.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

from dstream.errors import DstreamError
from dstream.providers.mssql_cdc.sql import (
    MAX_SEQ,
    ZERO,
    CaptureTable,
    CdcSource,
    Position,
    SqlRow,
)
from dstream.providers.mssql_cdc.values import lsn_hex, to_json_value
from dstream.sdk.log import log

LSN_HEX = 2 * len(ZERO)  # a binary(10) LSN or seqval, as a checkpoint writes it in hex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonValue

OPERATIONS = {1: "Delete", 2: "Insert", 3: "Update", 4: "Update"}
SYSTEM_COLUMNS = frozenset(
    (
        "__$start_lsn",
        "__$end_lsn",
        "__$seqval",
        "__$operation",
        "__$update_mask",
        "__$command_id",
        "__dstream_commit_time",
        "__dstream_table",
    )
)


def _order(row: SqlRow) -> tuple[bytes, bytes]:
    return bytes(row["__$start_lsn"]), bytes(row["__$seqval"])


@dataclass
class Backoff:
    """The original's adaptive polling: poll_interval after changes, doubled per idle
    poll up to max_poll_interval, zero right after a full batch."""

    base: float
    ceiling: float
    current: float = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.base

    def after_poll(self, emitted: int, full: bool) -> float:
        if full:
            self.current = self.base
            return 0.0
        if emitted:
            self.current = self.base
        else:
            self.current = min(self.current * 2, self.ceiling)
        return self.current


@dataclass
class PollResult:
    emitted: int = 0
    full: bool = False


class CdcReader:
    def __init__(
        self,
        source: CdcSource,
        tables: list[CaptureTable],
        *,
        batch_size: int,
        on_table_error: str = "isolate",
        state: JsonValue = None,
        legacy_offsets: Optional[dict[str, Position]] = None,
    ) -> None:
        self.source = source
        self.tables = tables
        self.batch_size = batch_size
        self.on_table_error = on_table_error
        self.isolated: dict[str, str] = {}
        self._min_lsns: dict[str, bytes] = {}
        self.positions: dict[str, Position] = {t.key: (ZERO, ZERO) for t in tables}
        self._restore(state, legacy_offsets or {})

    def _restore(self, state: object, legacy: dict[str, Position]) -> None:
        if state is None:
            for table in self.tables:
                # The original keyed cdc_offsets by bare table name.
                found = legacy.get(table.name) or legacy.get(table.key)
                if found is not None:
                    self.positions[table.key] = found
                    log.info("resuming from cdc_offsets", table=table.key, lsn=found[0].hex())
            return
        saved = state.get("tables") if isinstance(state, dict) else None
        if not isinstance(saved, dict):
            raise DstreamError(
                "the saved checkpoint is not a dstream-mssql-cdc checkpoint",
                hint="clear this task's state (`dstream state reset`) to start over",
            )
        for key, value in saved.items():
            if key in self.positions:
                self.positions[key] = _position(key, value)

    def checkpoint(self) -> dict[str, object]:
        return {
            "tables": {
                key: {"lsn": lsn.hex(), "seq": seq.hex()}
                for key, (lsn, seq) in self.positions.items()
            }
        }

    # -- one poll ----------------------------------------------------------------------
    def poll(self, result: PollResult) -> Iterator[list[dict[str, object]]]:
        """Yields lists of frames (envelopes, then one checkpoint frame)."""
        to_lsn = self.source.max_lsn()
        if to_lsn is None:
            return
        active = [t for t in self.tables if t.key not in self.isolated]
        min_lsns = self.source.changed(active, self.positions, to_lsn)
        self._min_lsns = min_lsns
        fetched: dict[str, list[SqlRow]] = {}
        bound: Optional[bytes] = None  # rows at or above it wait for the next poll
        by_key = {t.key: t for t in active}
        for key, min_lsn in min_lsns.items():
            table = by_key[key]
            rows = self._read(table, min_lsn, to_lsn, self.batch_size)
            if rows is None:
                continue
            fetched[key] = rows
            if len(rows) >= self.batch_size:
                result.full = True
                last = bytes(rows[-1]["__$start_lsn"])
                bound = last if bound is None or last < bound else bound

        if bound is None:
            merged = list(heapq.merge(*fetched.values(), key=_order))
            done: Position = (to_lsn, MAX_SEQ)
        else:
            below = [
                [r for r in rows if bytes(r["__$start_lsn"]) < bound] for rows in fetched.values()
            ]
            merged = list(heapq.merge(*below, key=_order))
            done = (bound, ZERO)
        if merged or bound is None:
            frames = [self._envelope(row) for row in merged]
            result.emitted += len(frames)
            self._advance(active, done)
            frames.append({"checkpoint": self.checkpoint()})
            yield frames
            return
        # One transaction larger than a batch: deliver it whole, then checkpoint.
        yield from self._page_transaction(active, fetched, bound, result)

    def _page_transaction(
        self,
        active: list[CaptureTable],
        fetched: dict[str, list[SqlRow]],
        lsn: bytes,
        result: PollResult,
    ) -> Iterator[list[dict[str, object]]]:
        log.info("paging a transaction larger than batch_size", lsn=lsn.hex())
        by_key = {t.key: t for t in active}
        # One page per table in memory; merged lazily so the whole transaction leaves in
        # commit order (seqval) across tables.
        streams = [self._pages_of(by_key[key], lsn) for key in fetched]
        page: list[dict[str, object]] = []
        for row in heapq.merge(*streams, key=_order):
            page.append(self._envelope(row))
            if len(page) >= self.batch_size:
                result.emitted += len(page)
                yield page
                page = []
        result.emitted += len(page)
        self._advance(active, (lsn, MAX_SEQ))
        page.append({"checkpoint": self.checkpoint()})
        yield page

    def _pages_of(self, table: CaptureTable, lsn: bytes) -> Iterator[SqlRow]:
        position = self.positions[table.key]
        min_lsn = self._min_lsns.get(table.key, ZERO)
        while True:
            rows = self._read(table, min_lsn, lsn, self.batch_size, position=position)
            if not rows:
                return
            yield from rows
            position = _order(rows[-1])
            if len(rows) < self.batch_size:
                return

    def _read(
        self,
        table: CaptureTable,
        min_lsn: bytes,
        to_lsn: bytes,
        limit: int,
        position: Optional[Position] = None,
    ) -> Optional[list[SqlRow]]:
        position = position or self.positions[table.key]
        if position[0] != ZERO and position[0] < min_lsn:
            log.error(
                "changes were removed by CDC cleanup before they were read",
                table=table.key,
                position=position[0].hex(),
                min_lsn=min_lsn.hex(),
                hint="raise the CDC retention (sys.sp_cdc_change_job @retention) "
                "or poll more often",
            )
        from_lsn = max(position[0], min_lsn)
        try:
            rows = self.source.changes(table, position, from_lsn, to_lsn, limit)
        except Exception as exc:
            if self.on_table_error == "fail":
                raise DstreamError(
                    f"reading changes of {table.key} failed: {exc}",
                    hint='set on_table_error = "isolate" to keep the other tables flowing',
                ) from exc
            self.isolated[table.key] = f"{type(exc).__name__}: {exc}"
            log.error(
                "table isolated: its position stays where it was; the next run retries it",
                table=table.key,
                error=self.isolated[table.key],
            )
            return None
        for row in rows:
            row["__dstream_table"] = table
        return rows

    def _advance(self, active: list[CaptureTable], done: Position) -> None:
        # Every active table is complete up to `done` (the changed-tables query proved
        # the idle ones had nothing); isolated tables keep their own position.
        for table in active:
            if table.key not in self.isolated and self.positions[table.key] < done:
                self.positions[table.key] = done

    def _envelope(self, row: SqlRow) -> dict[str, object]:
        table = self._table_of(row)
        op = int(row["__$operation"])
        commit_time = row.get("__dstream_commit_time")
        return {
            "data": {k: to_json_value(v) for k, v in row.items() if k not in SYSTEM_COLUMNS},
            "metadata": {
                "TableName": table.name,
                "Schema": table.schema,
                "OperationType": OPERATIONS.get(op, str(op)),
                "OperationID": op,
                "LSN": lsn_hex(row["__$start_lsn"]),
                "Seq": lsn_hex(row["__$seqval"]),
                "CommitTime": to_json_value(commit_time),
            },
        }

    def _table_of(self, row: SqlRow) -> CaptureTable:
        table: CaptureTable = row["__dstream_table"]
        return table


def _position(table: str, saved: object) -> Position:
    """A table's saved position: {"lsn", "seq"}, each a binary(10) as 20 hex digits. Any
    other value is refused: a shorter LSN compares above every real one, and the run
    would skip every change without a word."""
    if isinstance(saved, dict):
        lsn, seq = saved.get("lsn"), saved.get("seq")
        if all(isinstance(v, str) and len(v) == LSN_HEX for v in (lsn, seq)):
            try:
                return bytes.fromhex(str(lsn)), bytes.fromhex(str(seq))
            except ValueError:
                pass
    shown = json.dumps(saved)[:80]
    raise DstreamError(
        f"the saved checkpoint's position of table {table} is {shown}, not "
        f'{{"lsn": ..., "seq": ...}} of {LSN_HEX} hex digits each',
        hint="`dstream state reset TASK` starts over; `dstream state set TASK` writes a "
        "position (as a checkpoint of a run shows it: `dstream state show TASK`)",
    )
