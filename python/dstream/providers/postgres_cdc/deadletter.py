"""The dead-letter file of on_table_error = "isolate": the raw rows of the changes an
isolated table could not deliver, one JSON record a line. They are the only copy of
changes the slot will be confirmed past, so a record is fsynced before any line read
after it leaves the provider (ChangeStream._feed)."""

from __future__ import annotations

import os
from typing import Optional

import orjson

from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.pgoutput import OPERATIONS, Relation, RowChange


class DeadLetters:
    """Records wait in memory until `flush()`; without a path none is made."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path
        self._pending: list[bytes] = []

    def add(self, relation: Relation, change: RowChange, reason: str, lsn: object) -> None:
        names = [c.name for c in relation.columns]
        new = None if change.new is None else dict(zip(names, map(_raw, change.new)))
        old = None if change.old is None else dict(zip(names, map(_raw, change.old)))
        self._add(relation.qualified, OPERATIONS[change.kind], reason, lsn, new, old)

    def add_row(self, table: str, row: dict[str, Optional[str]], reason: str, lsn: str) -> None:
        """A row of the snapshot (an insert, as the snapshot sends it), its values as text."""
        self._add(table, "Insert", reason, lsn, row, None)

    def _add(
        self,
        table: str,
        operation: str,
        reason: str,
        lsn: object,
        new: Optional[dict[str, Optional[str]]],
        old: Optional[dict[str, Optional[str]]],
    ) -> None:
        if not self.path:
            return
        record = {
            "table": table,
            "operation": operation,
            "lsn": lsn,
            "reason": reason,
            "new": new,
            "old": old,
        }
        self._pending.append(orjson.dumps(record) + b"\n")

    def flush(self) -> None:
        """Appends the pending records and fsyncs them."""
        if not self._pending:
            return
        path = self.path
        assert path, "records are made only with a path"
        try:
            with open(path, "ab") as fh:
                fh.write(b"".join(self._pending))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise DstreamError(
                f"cannot write the dead-letter file {path}: {exc.strerror or exc}",
                hint="check dead_letter_path (its directory must exist and be writable); "
                "nothing after the last stored checkpoint is lost",
            ) from exc
        self._pending.clear()


def _raw(value: object) -> Optional[str]:
    return value if value is None or isinstance(value, str) else "<unchanged toast>"
