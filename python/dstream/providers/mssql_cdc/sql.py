"""The whole SQL Server surface of dstream-mssql-cdc: five statements, built here and
nowhere else, run through pymssql (which bundles FreeTDS).

Result shapes, from Microsoft's documentation of the CDC objects:
- cdc.fn_cdc_get_all_changes_<capture_instance>(from_lsn, to_lsn, N'all') returns
  __$start_lsn binary(10) (commit LSN of the transaction), __$seqval binary(10) (order
  within the transaction), __$operation int (1 delete, 2 insert, 4 update after image;
  3 only with 'all update old'), __$update_mask varbinary(128), then the captured
  columns (recent versions add __$command_id). from_lsn must not be
  below sys.fn_cdc_get_min_lsn(capture_instance) (error 313 otherwise).
- sys.fn_cdc_get_max_lsn() returns binary(10); NULL when the database has no changes.
- cdc.change_tables has one row per capture instance (at most two per table):
  source_object_id, capture_instance, create_date, ...
- cdc.<capture_instance>_CT is the change table behind the function.
LSNs are written into the SQL as 0x literals made from bytes, never from user text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol

from dstream.errors import DstreamError
from dstream.providers.mssql_cdc.names import parse_connection_string, quote_name, sql_string

ZERO = bytes(10)
MAX_SEQ = b"\xff" * 10
SqlRow = dict[str, Any]  # Any: a pymssql row, column name -> whatever the driver returns


@dataclass(frozen=True)
class CaptureTable:
    schema: str
    name: str
    capture_instance: str

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


Position = tuple[bytes, bytes]  # (__$start_lsn, __$seqval): the last change delivered


def lsn_literal(value: bytes) -> str:
    return "0x" + bytes(value).hex().upper()


def after(position: Position) -> str:
    lsn, seq = lsn_literal(position[0]), lsn_literal(position[1])
    return f"(__$start_lsn > {lsn} OR (__$start_lsn = {lsn} AND __$seqval > {seq}))"


DATABASE_SQL = (
    "SELECT DB_NAME() AS db, is_cdc_enabled FROM sys.databases WHERE database_id = DB_ID()"
)

TABLES_SQL = """
SELECT s.name AS schema_name, t.name AS table_name, ct.capture_instance, ct.create_date
FROM sys.tables t
JOIN sys.schemas s ON s.schema_id = t.schema_id
LEFT JOIN cdc.change_tables ct ON ct.source_object_id = t.object_id
"""

TABLES_NO_CDC_SQL = """
SELECT s.name AS schema_name, t.name AS table_name, NULL AS capture_instance,
       NULL AS create_date
FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id
"""

MAX_LSN_SQL = "SELECT sys.fn_cdc_get_max_lsn() AS max_lsn"


def changed_tables_sql(
    tables: list[CaptureTable], positions: dict[str, Position], to_lsn: bytes
) -> str:
    """One statement that names the tables with changes after their position, up to
    `to_lsn`, with each one's minimum valid LSN: idle tables cost no query of their own."""
    parts = []
    for table in tables:
        change_table = f"cdc.{quote_name(table.capture_instance + '_CT')}"
        parts.append(
            f"SELECT {sql_string(table.key)} AS table_key, "
            f"sys.fn_cdc_get_min_lsn({sql_string(table.capture_instance)}) AS min_lsn "
            f"WHERE EXISTS (SELECT 1 FROM {change_table} "
            f"WHERE __$start_lsn <= {lsn_literal(to_lsn)} AND {after(positions[table.key])})"
        )
    return "\nUNION ALL\n".join(parts)


def changes_sql(
    table: CaptureTable, position: Position, from_lsn: bytes, to_lsn: bytes, limit: int
) -> str:
    function = f"cdc.{quote_name('fn_cdc_get_all_changes_' + table.capture_instance)}"
    return (
        f"SELECT TOP ({int(limit)}) *, "
        "sys.fn_cdc_map_lsn_to_time(__$start_lsn) AS __dstream_commit_time "
        f"FROM {function}({lsn_literal(from_lsn)}, {lsn_literal(to_lsn)}, N'all') "
        f"WHERE {after(position)} ORDER BY __$start_lsn, __$seqval"
    )


def offsets_sql(table: str) -> str:
    schema, _, name = table.rpartition(".")
    qualified = (quote_name(schema) + "." if schema else "") + quote_name(name)
    return f"SELECT table_name, last_lsn, last_seq FROM {qualified}"


class CdcSource(Protocol):
    """What the reader needs from a server; PymssqlSource is the real one."""

    def capture_tables(self) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]: ...

    def max_lsn(self) -> Optional[bytes]: ...

    def changed(
        self, tables: list[CaptureTable], positions: dict[str, Position], to_lsn: bytes
    ) -> dict[str, bytes]: ...

    def changes(
        self, table: CaptureTable, position: Position, from_lsn: bytes, to_lsn: bytes, limit: int
    ) -> list[SqlRow]: ...

    def offsets(self, table: str) -> dict[str, Position]: ...


class PymssqlSource:
    def __init__(self, connection_string: str) -> None:
        import pymssql

        try:
            args = parse_connection_string(connection_string)
        except ValueError as exc:
            raise DstreamError(
                f"connection_string: {exc}",
                hint="write server=host,port;database=db;user id=u;password=p",
            ) from exc
        try:
            self.conn = pymssql.connect(as_dict=True, autocommit=True, **args)
        except pymssql.Error as exc:
            raise DstreamError(
                f"cannot connect to SQL Server {args.get('server')}: {exc}",
                hint="check connection_string (server, port, database, user id, password)",
            ) from exc

    def query(self, sql: str) -> list[SqlRow]:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    def capture_tables(self) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
        db = self.query(DATABASE_SQL)
        enabled = bool(db and db[0]["is_cdc_enabled"])
        rows = self.query(TABLES_SQL if enabled else TABLES_NO_CDC_SQL)
        existing = {(r["schema_name"], r["table_name"]) for r in rows}
        newest: dict[tuple[str, str], tuple[object, str]] = {}
        for r in rows:
            if r["capture_instance"] is None:
                continue
            key = (r["schema_name"], r["table_name"])
            # Two capture instances exist while a table's capture is being re-created
            # after a schema change: read the newer.
            if key not in newest or r["create_date"] > newest[key][0]:
                newest[key] = (r["create_date"], r["capture_instance"])
        return existing, {k: v[1] for k, v in newest.items()}

    def max_lsn(self) -> Optional[bytes]:
        rows = self.query(MAX_LSN_SQL)
        value = rows[0]["max_lsn"] if rows else None
        return bytes(value) if value is not None else None

    def changed(
        self, tables: list[CaptureTable], positions: dict[str, Position], to_lsn: bytes
    ) -> dict[str, bytes]:
        if not tables:
            return {}
        rows = self.query(changed_tables_sql(tables, positions, to_lsn))
        return {r["table_key"]: bytes(r["min_lsn"] or ZERO) for r in rows}

    def changes(
        self, table: CaptureTable, position: Position, from_lsn: bytes, to_lsn: bytes, limit: int
    ) -> list[SqlRow]:
        return self.query(changes_sql(table, position, from_lsn, to_lsn, limit))

    def offsets(self, table: str) -> dict[str, Position]:
        return {
            str(r["table_name"]): (bytes(r["last_lsn"] or ZERO), bytes(r["last_seq"] or ZERO))
            for r in self.query(offsets_sql(table))
        }

    def close(self) -> None:
        self.conn.close()
