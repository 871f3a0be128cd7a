"""Decoder for the pgoutput logical replication protocol, version 1 (text values).

Message layouts are from PostgreSQL's "Logical Replication Message Formats" chapter.
Only what a CDC input needs is decoded: Begin, Commit, Relation, Type, Insert, Update,
Delete, Truncate (Origin and logical Messages are recognised and ignored). Values stay
text here; `values.converter_for` types them once per column, cached on the Relation.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from dstream.providers.postgres_cdc.values import Converter, converter_for

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")

# Marker for a TOASTed column that did not change in an UPDATE: pgoutput does not resend
# its value. Kept distinct from None (SQL NULL).
UNCHANGED = object()
# A row's raw values: str, None or UNCHANGED.
RawValues = list[Any]  # Any: read per column on the hot path, where narrowing would cost


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    if not low:
        raise ValueError(f"not an LSN: {text!r} (expected the form 0/16B3748)")
    return (int(high, 16) << 32) | int(low, 16)


# Page headers of the WAL (PostgreSQL's SizeOfXLogShortPHD and SizeOfXLogLongPHD, the
# long one on a segment's first page).
SHORT_PAGE_HEADER = 24
LONG_PAGE_HEADER = 40


def record_end(insert_lsn: int, block_size: int, segment_size: int) -> int:
    """pg_current_wal_insert_lsn() as the end of the last record inserted, the measure
    of a walsender's position (its keepalives) and of a commit's end. The insert
    position names where the next record will start: when the last one ended on a page
    boundary, that is past the next page's header, a position the walsender's reading
    never reports while no more WAL is written."""
    header = (
        LONG_PAGE_HEADER if insert_lsn % segment_size == LONG_PAGE_HEADER else SHORT_PAGE_HEADER
    )
    return insert_lsn - header if insert_lsn % block_size == header else insert_lsn


def pg_time(micros: int) -> str:
    return (PG_EPOCH + timedelta(microseconds=micros)).isoformat().replace("+00:00", "Z")


@dataclass
class Column:
    name: str
    type_oid: int
    is_key: bool
    convert: Converter


@dataclass
class Relation:
    oid: int
    schema: str
    name: str
    replica_identity: str  # d(efault) n(othing) f(ull) i(ndex)
    columns: list[Column] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Begin:
    final_lsn: int
    commit_time: int
    xid: int


@dataclass
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_time: int


OPERATIONS = {"I": "Insert", "U": "Update", "D": "Delete"}


@dataclass
class RowChange:
    kind: str  # "I", "U", "D"
    relation_oid: int
    new: Optional[RawValues]
    old: Optional[RawValues]
    old_kind: Optional[str]  # "K" (key columns only) or "O" (full old row)


@dataclass
class Truncate:
    relation_oids: list[int]
    cascade: bool
    restart_identity: bool


Message = Union[Begin, Commit, Relation, RowChange, Truncate, None]


class Decoder:
    """Stateless per message except the relation cache, which pgoutput expects the client
    to keep: a Relation message precedes the first change to a table in a session and
    every change after its schema changed (so a new column shows up in later rows)."""

    def __init__(self, base_types: Optional[dict[int, int]] = None) -> None:
        self.relations: dict[int, Relation] = {}
        # Domain and other derived type OIDs -> the base type OID to convert as.
        self.base_types: dict[int, int] = dict(base_types or {})

    def decode(self, payload: bytes) -> Message:
        kind = payload[0:1]
        if kind == b"I" or kind == b"U" or kind == b"D":
            return self._row_change(payload)
        if kind == b"B":
            final_lsn, commit_time = (
                _U64.unpack_from(payload, 1)[0],
                _I64.unpack_from(payload, 9)[0],
            )
            return Begin(final_lsn, commit_time, _U32.unpack_from(payload, 17)[0])
        if kind == b"C":
            return Commit(
                _U64.unpack_from(payload, 2)[0],
                _U64.unpack_from(payload, 10)[0],
                _I64.unpack_from(payload, 18)[0],
            )
        if kind == b"R":
            return self._relation(payload)
        if kind == b"T":
            count = _I32.unpack_from(payload, 1)[0]
            options = payload[5]
            oids = [_U32.unpack_from(payload, 6 + 4 * i)[0] for i in range(count)]
            return Truncate(oids, bool(options & 1), bool(options & 2))
        if kind in (b"O", b"M", b"Y"):
            return None
        raise ValueError(f"unknown pgoutput message type {kind!r}")

    def _relation(self, payload: bytes) -> Relation:
        oid = _U32.unpack_from(payload, 1)[0]
        schema, pos = _cstring(payload, 5)
        name, pos = _cstring(payload, pos)
        identity = chr(payload[pos])
        ncols = _I16.unpack_from(payload, pos + 1)[0]
        pos += 3
        columns = []
        for _ in range(ncols):
            flags = payload[pos]
            col_name, pos = _cstring(payload, pos + 1)
            type_oid = _U32.unpack_from(payload, pos)[0]
            pos += 8  # type oid + typmod
            convert = converter_for(type_oid, self.base_types.get(type_oid))
            columns.append(Column(col_name, type_oid, bool(flags & 1), convert))
        relation = Relation(oid, schema, name, identity, columns)
        self.relations[oid] = relation
        return relation

    def _row_change(self, payload: bytes) -> RowChange:
        kind = chr(payload[0])
        oid = _U32.unpack_from(payload, 1)[0]
        pos = 5
        tag = chr(payload[pos])
        old = new = None
        old_kind = None
        if tag in ("K", "O"):
            old_kind = tag
            old, pos = _tuple(payload, pos + 1)
            if kind == "U":
                pos += 1  # the 'N' that follows
                new, pos = _tuple(payload, pos)
        else:  # 'N'
            new, pos = _tuple(payload, pos + 1)
        return RowChange(kind, oid, new, old, old_kind)


def _cstring(payload: bytes, pos: int) -> tuple[str, int]:
    end = payload.index(b"\x00", pos)
    return payload[pos:end].decode("utf-8"), end + 1


def _tuple(payload: bytes, pos: int) -> tuple[RawValues, int]:
    ncols = _I16.unpack_from(payload, pos)[0]
    pos += 2
    values: RawValues = []
    append = values.append
    for _ in range(ncols):
        tag = payload[pos]
        pos += 1
        if tag == 116:  # 't' text
            length = _I32.unpack_from(payload, pos)[0]
            pos += 4
            append(payload[pos : pos + length].decode("utf-8"))
            pos += length
        elif tag == 110:  # 'n' NULL
            append(None)
        elif tag == 117:  # 'u' unchanged TOAST
            append(UNCHANGED)
        else:
            raise ValueError(f"unsupported tuple value tag {chr(tag)!r} (binary mode is off)")
    return values, pos


def typed_row(
    relation: Relation, raw: RawValues, *, keys_only: bool = False
) -> tuple[dict[str, object], list[str]]:
    """Column name -> typed value, and the names of unchanged-TOAST columns (left out of
    the row, and reported, because their value was not sent)."""
    row: dict[str, object] = {}
    unchanged: list[str] = []
    for column, value in zip(relation.columns, raw):
        if keys_only and not column.is_key:
            continue
        if value is None:
            row[column.name] = None
        elif value is UNCHANGED:
            unchanged.append(column.name)
        else:
            row[column.name] = column.convert(value)
    return row, unchanged


def envelope(
    relation: Relation, change: RowChange, txn_meta: Mapping[str, object], seq: int
) -> dict[str, object]:
    """The envelope of one row change: the reference the Rust session's lines match byte
    for byte (tests/cdc/test_pgoutput_differential.py)."""
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
