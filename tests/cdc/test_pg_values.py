"""Typing of PostgreSQL text values and pgoutput framing, without a server."""

from __future__ import annotations

import base64
import struct

import pytest

from dstream.providers.postgres_cdc.config import default_object_name, parse_table_name
from dstream.providers.postgres_cdc.pgoutput import (
    UNCHANGED,
    Begin,
    Commit,
    Decoder,
    RowChange,
    Truncate,
    format_lsn,
    parse_lsn,
    typed_row,
)
from dstream.providers.postgres_cdc.values import converter_for, parse_array


@pytest.mark.parametrize(
    ("oid", "text", "value"),
    [
        (16, "t", True),
        (16, "f", False),
        (20, "9223372036854775807", 9223372036854775807),
        (23, "-5", -5),
        (701, "1.5", 1.5),
        (701, "NaN", "NaN"),
        (701, "-Infinity", "-Infinity"),
        (1700, "12345678901234567890.000000000001", "12345678901234567890.000000000001"),
        (1700, "NaN", "NaN"),
        (17, "\\x00ff10", base64.b64encode(b"\x00\xff\x10").decode()),
        (114, '{"a": [1, 2.5, null]}', {"a": [1, 2.5, None]}),
        (3802, '{"b": true}', {"b": True}),
        (1114, "2024-01-02 03:04:05.123456", "2024-01-02T03:04:05.123456"),
        (1184, "2024-01-02 03:04:05+00", "2024-01-02T03:04:05+00:00"),
        (1184, "2024-01-02 03:04:05.5+05:30", "2024-01-02T03:04:05.5+05:30"),
        (1184, "infinity", "infinity"),
        (1082, "2024-02-29", "2024-02-29"),
        (1266, "04:05:06+02", "04:05:06+02:00"),
        (1186, "P1Y2M3DT4H5M6S", "P1Y2M3DT4H5M6S"),
        (2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (1007, "{1,2,NULL}", [1, 2, None]),
        (1009, '{"a b","c\\"d",NULL,"NULL"}', ["a b", 'c"d', None, "NULL"]),
        (1007, "{{1,2},{3,4}}", [[1, 2], [3, 4]]),
        (1007, "[0:1]={7,8}", [7, 8]),
        (1231, "{1.10,2}", ["1.10", "2"]),
        (1000, "{t,f}", [True, False]),
        (1007, "{}", []),
        (99999, "anything (enum, inet, range)", "anything (enum, inet, range)"),
    ],
)
def test_values_are_typed_by_oid(oid: int, text: str, value: object) -> None:
    assert converter_for(oid)(text) == value


def test_domain_is_typed_as_its_base() -> None:
    assert converter_for(50000, 20)("42") == 42


def test_array_parser_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_array("{1,2}x", int)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orders", ("public", "orders")),
        ("sales.orders", ("sales", "orders")),
        ('"My Schema"."Order.Lines"', ("My Schema", "Order.Lines")),
        ('"a""b"', ("public", 'a"b')),
    ],
)
def test_table_names(text: str, expected: tuple[str, str]) -> None:
    assert parse_table_name(text) == expected


@pytest.mark.parametrize("text", ["a.b.c", "a.", '"open', ""])
def test_bad_table_names(text: str) -> None:
    with pytest.raises(ValueError):
        parse_table_name(text)


def test_default_names_fit_a_slot() -> None:
    assert default_object_name("Load Orders-2") == "dstream_load_orders_2"
    assert len(default_object_name("x" * 100)) == 63


def test_lsn_round_trip() -> None:
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    with pytest.raises(ValueError):
        parse_lsn("123")


def _relation(oid: int) -> bytes:
    cols = [(1, "id", 23), (0, "note", 25), (0, "amount", 1700)]
    body = b"R" + struct.pack(">I", oid) + b"public\x00orders\x00" + b"d" + struct.pack(">h", 3)
    for flags, name, type_oid in cols:
        body += bytes([flags]) + name.encode() + b"\x00" + struct.pack(">Ii", type_oid, -1)
    return body


def _tuple(values: list[object]) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        else:
            raw = str(v).encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def test_decoder_reads_the_message_layouts() -> None:
    dec = Decoder()
    dec.decode(_relation(77))
    begin = dec.decode(b"B" + struct.pack(">QqI", 0x100, 1_000_000, 9))
    assert begin == Begin(0x100, 1_000_000, 9)
    ins = dec.decode(b"I" + struct.pack(">I", 77) + b"N" + _tuple([1, "hi", "1.50"]))
    assert isinstance(ins, RowChange)
    row, unchanged = typed_row(dec.relations[77], ins.new or [])
    assert row == {"id": 1, "note": "hi", "amount": "1.50"} and unchanged == []
    upd = dec.decode(
        b"U"
        + struct.pack(">I", 77)
        + b"K"
        + _tuple([1, None, None])
        + b"N"
        + _tuple([2, UNCHANGED, None])
    )
    assert isinstance(upd, RowChange) and upd.old_kind == "K"
    row, unchanged = typed_row(dec.relations[77], upd.new or [])
    assert row == {"id": 2, "amount": None} and unchanged == ["note"]
    key, _ = typed_row(dec.relations[77], upd.old or [], keys_only=True)
    assert key == {"id": 1}
    dele = dec.decode(b"D" + struct.pack(">I", 77) + b"O" + _tuple([2, "x", "3"]))
    assert isinstance(dele, RowChange) and dele.new is None and dele.old_kind == "O"
    trunc = dec.decode(b"T" + struct.pack(">iB", 1, 1) + struct.pack(">I", 77))
    assert trunc == Truncate([77], cascade=True, restart_identity=False)
    commit = dec.decode(b"C\x00" + struct.pack(">QQq", 0x100, 0x180, 1_000_000))
    assert commit == Commit(0x100, 0x180, 1_000_000)
    with pytest.raises(ValueError):
        dec.decode(b"Z")
