"""The initial copy of existing rows, read in the snapshot the slot exported when it was
created, so the copy and the stream meet exactly at the slot's start point: every row
committed before it is in the copy, every change after it comes from the slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Optional

import orjson

from dstream.providers.postgres_cdc.catalog import Table
from dstream.providers.postgres_cdc.config import quote_ident
from dstream.providers.postgres_cdc.pgerrors import PgConnection, PgRow, connect, server_error
from dstream.providers.postgres_cdc.pgoutput import format_lsn
from dstream.providers.postgres_cdc.stream import ChangeStream
from dstream.providers.postgres_cdc.values import Converter, converter_for
from dstream.sdk.log import log

FETCH_ROWS = 5000


async def snapshot_frames(
    dsn: str,
    tables: list[Table],
    *,
    snapshot_name: str,
    lsn: int,
    stream: ChangeStream,
) -> AsyncIterator[bytes]:
    """The snapshot's lines, in chunks. A row that cannot be converted goes to `stream`,
    which handles it as it would a change (on_table_error, dead_letter_path)."""
    import psycopg2

    conn = connect(dsn)
    address = f"{conn.info.host}:{conn.info.port}"
    try:
        async for chunk in _copy(conn, tables, snapshot_name, lsn, stream):
            yield chunk
    except psycopg2.Error as exc:
        # A run stopped during the copy starts it over: no checkpoint lies inside it.
        raise server_error(exc, address, "cannot copy the tables (snapshot)") from exc
    finally:
        conn.close()


def _converted(
    table: str,
    names: list[str],
    converters: list[Converter],
    row: PgRow,
    lsn: str,
    stream: ChangeStream,
) -> Optional[dict[str, object]]:
    """The row's `data`, or None when it is set aside: its table was isolated earlier, or
    a value of it cannot be converted (the stream decides: on_table_error)."""
    if table in stream.isolated:
        stream.set_aside_snapshot_row(table, dict(zip(names, row)), lsn)
        return None
    try:  # every row but a rare bad one: one comprehension, no per-value handler
        return {n: None if v is None else c(v) for n, c, v in zip(names, converters, row)}
    except Exception:  # the value that failed is found again just below
        pass
    for name, convert, value in zip(names, converters, row):
        try:
            if value is not None:
                convert(value)
        except Exception as exc:  # a value no frame can carry, or a bug: as in the stream
            stream.snapshot_row_failed(table, name, dict(zip(names, row)), exc, lsn)
            return None
    raise AssertionError("a conversion failed once and not again")  # converters are pure


def _as_sent(cur: object, oids: list[int], base_types: dict[int, int]) -> None:
    """Have `cur` return each column as the text the type's output function writes, which
    is what pgoutput sends and what the converters read (values.py). A cast to text is
    not that: `true::text` is `true`, a `char(n)` loses its padding, an `inet` gains its
    netmask. A domain's column arrives with its base type's OID, so both are given."""
    import psycopg2.extensions as ext

    every = sorted({*oids, *(base_types.get(oid, oid) for oid in oids)})
    as_text = ext.new_type(tuple(every), "DSTREAM_AS_SENT", lambda value, _cur: value)
    ext.register_type(as_text, cur)


async def _copy(
    conn: PgConnection,
    tables: list[Table],
    snapshot_name: str,
    lsn: int,
    stream: ChangeStream,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    base_types = stream.decoder.base_types
    seq = 0  # across the tables: (LSN, Seq) is unique over the whole snapshot
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
    lsn_text = format_lsn(lsn)
    for table in tables:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT attname, atttypid::int8 FROM pg_attribute WHERE attrelid = %s "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (table.oid,),
            )
            columns = [(str(r[0]), int(r[1])) for r in cur.fetchall()]
        names = [c[0] for c in columns]
        converters = [converter_for(oid, base_types.get(oid)) for _, oid in columns]
        select = ", ".join(quote_ident(n) for n in names)
        rows = 0
        # A named (server-side) cursor keeps memory bounded whatever the table size.
        with conn.cursor(name=f"dstream_snapshot_{table.oid}") as cur:
            _as_sent(cur, [oid for _, oid in columns], base_types)
            cur.itersize = FETCH_ROWS
            cur.execute(f"SELECT {select} FROM {table.sql_name}")
            while True:
                batch: list[PgRow] = await loop.run_in_executor(None, cur.fetchmany, FETCH_ROWS)
                if not batch:
                    break
                out = bytearray()
                for row in batch:
                    data = _converted(table.qualified, names, converters, row, lsn_text, stream)
                    if data is None:
                        continue  # set aside (on_table_error = "isolate")
                    meta = {
                        "TableName": table.name,
                        "Schema": table.schema,
                        "OperationType": "Insert",
                        "LSN": lsn_text,
                        "Seq": seq,
                        "Snapshot": True,
                    }
                    rows += 1
                    seq += 1
                    out += orjson.dumps({"data": data, "metadata": meta})
                    out += b"\n"
                # A row set aside is kept (fsynced) before any line after it leaves.
                stream.dead_letters.flush()
                yield bytes(out)
        log.info("snapshot copied", table=table.qualified, rows=rows, lsn=lsn_text)
    conn.rollback()
