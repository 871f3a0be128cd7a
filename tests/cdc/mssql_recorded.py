"""A recorded SQL Server for the mssql-cdc reader tests.

Test double, because no SQL Server can run on these machines. It holds change rows in
the shape Microsoft documents for cdc.fn_cdc_get_all_changes_<capture_instance>
(__$start_lsn binary(10), __$seqval binary(10), __$operation int, __$update_mask
varbinary, then the captured columns, as pymssql returns them with as_dict=True) and
answers the five statements of dstream.providers.mssql_cdc.sql with the semantics those
docs give: rows with from_lsn <= __$start_lsn <= to_lsn, error 313 when from_lsn is
below the capture instance's minimum LSN.
"""

from __future__ import annotations

from typing import Any, Optional

from dstream.providers.mssql_cdc.sql import CaptureTable, Position


def lsn(n: int) -> bytes:
    return n.to_bytes(10, "big")


class RecordedSource:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.min_lsn: dict[str, bytes] = {}
        self.max: Optional[bytes] = None
        self.changed_calls = 0
        self.changes_calls: list[str] = []
        self.failing: set[str] = set()
        self.legacy: dict[str, Position] = {}
        self.captured: dict[tuple[str, str], str] = {}
        self.existing: set[tuple[str, str]] = set()
        self._seq = 0

    def add_table(self, schema: str, name: str) -> CaptureTable:
        table = CaptureTable(schema, name, f"{schema}_{name}")
        self.rows[table.key] = []
        self.min_lsn[table.key] = lsn(1)
        self.captured[(schema, name)] = table.capture_instance
        self.existing.add((schema, name))
        return table

    def commit(
        self, lsn_value: int, changes: list[tuple[CaptureTable, int, dict[str, Any]]]
    ) -> None:
        """One transaction: (table, operation, columns) in statement order."""
        for table, op, columns in changes:
            self._seq += 1
            self.rows[table.key].append(
                {
                    "__$start_lsn": lsn(lsn_value),
                    "__$seqval": lsn(self._seq),
                    "__$operation": op,
                    "__$update_mask": b"\x0f",
                    **columns,
                }
            )
        self.max = lsn(lsn_value)

    # -- the CdcSource protocol --------------------------------------------------------
    def capture_tables(self) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
        return self.existing, self.captured

    def max_lsn(self) -> Optional[bytes]:
        return self.max

    def changed(
        self, tables: list[CaptureTable], positions: dict[str, Position], to_lsn: bytes
    ) -> dict[str, bytes]:
        self.changed_calls += 1
        out = {}
        for table in tables:
            if any(
                r["__$start_lsn"] <= to_lsn and _after(r, positions[table.key])
                for r in self.rows[table.key]
            ):
                out[table.key] = self.min_lsn[table.key]
        return out

    def changes(
        self, table: CaptureTable, position: Position, from_lsn: bytes, to_lsn: bytes, limit: int
    ) -> list[dict[str, Any]]:
        self.changes_calls.append(table.key)
        if table.key in self.failing:
            raise RuntimeError(
                f"Invalid object name 'cdc.fn_cdc_get_all_changes_{table.capture_instance}'"
            )
        if from_lsn < self.min_lsn[table.key] or from_lsn > to_lsn:
            raise RuntimeError("313: An insufficient number of arguments were supplied")
        rows = [
            dict(r)
            for r in self.rows[table.key]
            if from_lsn <= r["__$start_lsn"] <= to_lsn and _after(r, position)
        ]
        rows.sort(key=lambda r: (r["__$start_lsn"], r["__$seqval"]))
        return rows[:limit]

    def offsets(self, table: str) -> dict[str, Position]:
        return self.legacy


def _after(row: dict[str, Any], position: Position) -> bool:
    return (row["__$start_lsn"], row["__$seqval"]) > position
