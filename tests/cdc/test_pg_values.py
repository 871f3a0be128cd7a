"""Typing of PostgreSQL text values and pgoutput framing, without a server."""

from __future__ import annotations

import base64
import struct

import orjson
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
from dstream.providers.postgres_cdc.values import (
    JSON_MAX_DEPTH,
    SESSION_OPTIONS,
    TEXT_ARRAY,
    convert_as,
    converter_for,
    parse_array,
)


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


def _json(oid: int, text: str) -> bytes:
    """A json/jsonb value as the envelope holds it."""
    return orjson.dumps({"v": converter_for(oid)(text)})


# PostgreSQL's text of one json/jsonb value -> the envelope's bytes for it.
EXACT_NUMBERS = [
    # jsonb numbers are numeric: PostgreSQL prints them exactly, in its own spelling
    (
        3802,
        "[123456789012345678901234567890, 0.1000000000000000000000000001, -0, 1.0]",
        b"[123456789012345678901234567890,0.1000000000000000000000000001,-0,1.0]",
    ),
    (3802, "1" + "0" * 400, b"1" + b"0" * 400),  # '1e400'::jsonb
    (3802, "0." + "0" * 399 + "1", b"0." + b"0" * 399 + b"1"),  # '1e-400'::jsonb
    # json keeps the text as written: numbers, escapes, repeated keys; only the
    # whitespace between tokens goes (never inside a string)
    (
        114,
        '{"n" : [1e400, 1e-400, 1E+2, -0.0],\n\t"k": 1, "k": 2, "s": " a  b\\u00e9\\/"}',
        b'{"n":[1e400,1e-400,1E+2,-0.0],"k":1,"k":2,"s":" a  b\\u00e9\\/"}',
    ),
    (114, '  "\\ud83d\\ude00 \\" x"  ', b'"\\ud83d\\ude00 \\" x"'),
    (3802, '{"a": "x \\"}\\" y", "b": [{}, []]}', b'{"a":"x \\"}\\" y","b":[{},[]]}'),
]


@pytest.mark.parametrize(("oid", "text", "want"), EXACT_NUMBERS)
def test_json_keeps_the_stored_value_exactly_and_compact(oid: int, text: str, want: bytes) -> None:
    assert _json(oid, text) == b'{"v":' + want + b"}"


def test_json_in_arrays_is_exact_too() -> None:
    text = '{"[1e400, 0.1000000000000000000000000001]","{\\"k\\": 1, \\"k\\": 2}",NULL}'
    got = orjson.dumps(converter_for(199)(text))
    assert got == b'[[1e400,0.1000000000000000000000000001],{"k":1,"k":2},null]'


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',  # json accepts an unpaired surrogate escape; frames may not hold one
        '["\\udc00"]',
        '"\\ud800\\u0041"',
        '"\\ud800x\\udc00"',
        "[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1),
    ],
)
def test_json_no_frame_can_hold_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        converter_for(114)(text)


def test_json_at_the_depth_limit_and_escaped_backslashes_pass() -> None:
    deep = "[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH
    assert _json(3802, deep) == b'{"v":' + deep.encode() + b"}"
    # '\\ud800' is an escaped backslash and the text 'ud800', no surrogate
    assert _json(114, '"\\\\ud800"') == b'{"v":"\\\\ud800"}'
    assert _json(114, '"[[[[" ') == b'{"v":"[[[["}'


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$1.50", "1.50"),
        ("-$92,233,720,368,547,758.08", "-92233720368547758.08"),
        ("$92,233,720,368,547,758.07", "92233720368547758.07"),
        ("$0.00", "0.00"),
        ("-$0.01", "-0.01"),
        ("$999.99", "999.99"),
    ],
)
def test_money_is_its_exact_decimal(text: str, want: str) -> None:
    assert converter_for(790)(text) == want


def test_money_arrays_hold_exact_decimals() -> None:
    # PostgreSQL quotes an element with a comma in it
    text = '{"-$92,233,720,368,547,758.08",$1.50,NULL}'
    assert converter_for(791)(text) == ["-92233720368547758.08", "1.50", None]


@pytest.mark.parametrize("text", ["1.50", "$1,5", "€1.50", "$1.50 ", "$", "-$", "$1.", "$1,23.00"])
def test_money_in_another_form_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        converter_for(790)(text)


def test_the_session_pins_lc_monetary() -> None:
    assert "-c lc_monetary=C" in SESSION_OPTIONS


def test_derived_types_convert_as_built_in_ones() -> None:
    """Rows of the catalog query: (type OID, base or element OID, is an array)."""
    mood, mood_arr, posint, posint_arr = 16400, 16399, 16410, 16409
    pair_arr, numdom_arr, moods_domain, inet_arr = 16420, 16430, 16440, 1041
    rows = [
        (posint, 23, False),
        (16431, 1700, False),
        (moods_domain, mood_arr, False),  # a domain over mood[]
        (mood_arr, mood, True),
        (posint_arr, 23, True),  # element resolved through the domain
        (pair_arr, 16421, True),
        (numdom_arr, 1700, True),
        (inet_arr, 869, True),
        (1007, 23, True),  # built in: needs no entry
    ]
    types = convert_as(rows)
    assert types == {
        posint: 23,
        16431: 1700,
        moods_domain: TEXT_ARRAY,
        mood_arr: TEXT_ARRAY,
        posint_arr: 1007,
        pair_arr: TEXT_ARRAY,
        numdom_arr: 1231,
        inet_arr: TEXT_ARRAY,
    }
    assert converter_for(mood_arr, types[mood_arr])("{sad,happy,NULL}") == ["sad", "happy", None]
    assert converter_for(posint_arr, types[posint_arr])("{1,2}") == [1, 2]
    assert converter_for(numdom_arr, types[numdom_arr])("{1.5000000000}") == ["1.5000000000"]
    composite = '{"(1,\\"x \\"\\"y\\"\\"\\")","(2,)"}'
    assert converter_for(pair_arr, types[pair_arr])(composite) == ['(1,"x ""y""")', "(2,)"]


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
