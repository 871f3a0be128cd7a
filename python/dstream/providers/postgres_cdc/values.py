"""PostgreSQL text-format values to typed JSON values, chosen by the column's type OID.

pgoutput (protocol version 1, text mode) sends every value in the type's text output
form. The replication session pins the GUCs that shape that text (see SESSION_OPTIONS)
so the conversions below only have to handle one spelling per type.

Decisions, documented in docs/providers/postgres.md:
- numeric and money are emitted as JSON *strings* holding the exact decimal text, so no
  consumer (JavaScript, float-parsing JSON libraries) can round them; NaN/Infinity too.
  money loses its currency symbol and grouping (lc_monetary is pinned to C).
- float4/float8 are JSON numbers; NaN and +/-Infinity, which JSON cannot hold, are the
  strings "NaN", "Infinity", "-Infinity".
- timestamps and times are ISO-8601 (timestamptz always with an explicit offset);
  +/-infinity stay the strings "infinity" / "-infinity".
- bytea is base64; arrays are JSON arrays (any dimension), elements typed as above.
- json/jsonb are the JSON value PostgreSQL holds, embedded as its text without the
  whitespace between tokens: numbers keep every digit (jsonb's are numeric), and json
  keeps its escapes and repeated keys. Parsing would round numbers to doubles.
- every other type (enum, uuid, inet, geometric, range, composite, ...) is its text.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable
from typing import Callable, Optional, Union

import orjson

# The GUCs the replication and snapshot sessions run with, so values arrive in one form.
SESSION_OPTIONS = (
    "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 "
    "-c bytea_output=hex -c extra_float_digits=1 -c lc_monetary=C"
)

Converter = Callable[[str], object]  # object: any value orjson encodes


def _to_bool(text: str) -> bool:
    return text == "t"


def _to_float(text: str) -> Union[float, str]:
    value = float(text)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _to_bytes(text: str) -> str:
    # bytea_output=hex: "\x0102ff"
    if text.startswith("\\x"):
        return base64.b64encode(bytes.fromhex(text[2:])).decode("ascii")
    raise ValueError(f"unexpected bytea text {text[:20]!r} (expected hex output)")


# A json value nested deeper than this is refused: an envelope nests it up to 9 levels
# down (the line, `metadata`, `Before`, an array's 6 dimensions) and frames may nest
# 1024 (rust/dstream-core/src/frame.rs). The Rust encoder (pgoutput/json.rs) has the same.
JSON_MAX_DEPTH = 1000

# A JSON string token, or whitespace between tokens (group 1 is the string).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING_OR_SPACE = re.compile(f"({_STRING})|[ \t\n\r]+")
_STRINGS = re.compile(_STRING)
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)")


def _to_json(text: str) -> orjson.Fragment:
    """The JSON text PostgreSQL validated, embedded as it is but for the whitespace
    between tokens (envelope lines stay compact). ValueError for what no frame may hold:
    an unpaired surrogate escape (json, unlike jsonb, accepts "\\ud800"), and nesting
    beyond JSON_MAX_DEPTH."""
    compact = _STRING_OR_SPACE.sub(r"\1", text)
    if "\\u" in compact and _unpaired_surrogate(compact):
        raise ValueError(
            "json value with an unpaired UTF-16 surrogate escape (such as \\ud800), "
            "which JSON frames cannot carry"
        )
    if compact.count("[") + compact.count("{") > JSON_MAX_DEPTH:
        _check_depth(compact)
    return orjson.Fragment(compact)


def _unpaired_surrogate(text: str) -> bool:
    # Outside strings valid JSON has no backslash, so the escapes are read in order.
    high_end = -1  # where the last escape ended, when it was a high surrogate
    for escape in _ESCAPE.finditer(text):
        code = int(escape.group(1), 16) if escape.group(1) else -1
        low = 0xDC00 <= code < 0xE000
        if low != (high_end == escape.start()):
            return True  # a low one alone, or a high one followed by anything else
        high_end = escape.end() if 0xD800 <= code < 0xDC00 else -1
    return high_end >= 0


def _check_depth(text: str) -> None:
    depth = 0
    for char in _STRINGS.sub("", text):
        if char in "[{":
            depth += 1
            if depth > JSON_MAX_DEPTH:
                raise ValueError(f"json value nested deeper than {JSON_MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


# money under lc_monetary=C: "-$1,234.50" ("$", "," between groups of 3 digits, ".")
_MONEY = re.compile(r"-?\$[0-9]{1,3}(?:,[0-9]{3})*(?:\.[0-9]+)?")


def _to_money(text: str) -> str:
    if _MONEY.fullmatch(text) is None:
        raise ValueError(f"unexpected money text {text[:40]!r} (expected lc_monetary=C output)")
    return text.replace("$", "").replace(",", "")


def _iso_offset(text: str) -> str:
    """'+00' / '+05:30' / '-03' -> '+00:00' / '+05:30' / '-03:00' at the end of a value."""
    for i in range(len(text) - 1, max(len(text) - 10, 0), -1):
        if text[i] in "+-":
            offset = text[i:]
            if len(offset) == 3:  # +HH
                return text[:i] + offset + ":00"
            if len(offset) == 9:  # +HH:MM:SS, historic zones; ISO has no seconds
                return text[:i] + offset[:6]
            return text
    return text


def _to_timestamp(text: str) -> str:
    if text in ("infinity", "-infinity") or text.endswith(" BC"):
        return text
    return text.replace(" ", "T", 1)


def _to_timestamptz(text: str) -> str:
    if text in ("infinity", "-infinity") or text.endswith(" BC"):
        return text
    return _iso_offset(text.replace(" ", "T", 1))


def _to_timetz(text: str) -> str:
    return _iso_offset(text)


def _text(text: str) -> str:
    return text


# Type OIDs from pg_type.dat (stable across versions).
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, XML, FLOAT4, FLOAT8, MONEY = 114, 142, 700, 701, 790
BPCHAR, VARCHAR, DATE, TIME, TIMESTAMP, TIMESTAMPTZ = 1042, 1043, 1082, 1083, 1114, 1184
INTERVAL, TIMETZ, NUMERIC, UUID, JSONB = 1186, 1266, 1700, 2950, 3802

SCALARS: dict[int, Converter] = {
    BOOL: _to_bool,
    BYTEA: _to_bytes,
    INT8: int,
    INT2: int,
    INT4: int,
    OID: int,
    MONEY: _to_money,
    JSON: _to_json,
    JSONB: _to_json,
    FLOAT4: _to_float,
    FLOAT8: _to_float,
    TIMESTAMP: _to_timestamp,
    TIMESTAMPTZ: _to_timestamptz,
    TIMETZ: _to_timetz,
}

# array type OID -> element type OID (pg_type.typelem), for the types above and the
# common text-like ones.
ARRAYS: dict[int, int] = {
    1000: BOOL,
    1001: BYTEA,
    1002: CHAR,
    1003: NAME,
    1016: INT8,
    1005: INT2,
    1007: INT4,
    1009: TEXT,
    1028: OID,
    199: JSON,
    143: XML,
    1021: FLOAT4,
    1022: FLOAT8,
    791: MONEY,
    1014: BPCHAR,
    1015: VARCHAR,
    1182: DATE,
    1183: TIME,
    1115: TIMESTAMP,
    1185: TIMESTAMPTZ,
    1187: INTERVAL,
    1270: TIMETZ,
    1231: NUMERIC,
    2951: UUID,
    3807: JSONB,
}


TEXT_ARRAY = 1009
# element type OID -> its built-in array type OID
_ARRAY_OF = {element: array for array, element in ARRAYS.items()}

# The catalog's rows for convert_as: (type OID, base type OID, false) for each domain,
# its base resolved through nested domains; (array type OID, element's base type OID,
# true) for each array type (array_out: not int2vector and the like, whose text is no
# array literal) whose elements are separated by ',' (all but box[], which stays text).
DERIVED_TYPES_SQL = """
WITH RECURSIVE d(oid, base) AS (
  SELECT oid, typbasetype FROM pg_type WHERE typtype = 'd'
  UNION ALL
  SELECT d.oid, t.typbasetype FROM d JOIN pg_type t ON t.oid = d.base
  WHERE t.typtype = 'd'),
domains AS (
  SELECT d.oid, d.base FROM d JOIN pg_type t ON t.oid = d.base WHERE t.typtype <> 'd')
SELECT oid::int8, base::int8, false FROM domains
UNION ALL
SELECT a.oid::int8, coalesce(domains.base, a.typelem)::int8, true
FROM pg_type a JOIN pg_type e ON e.oid = a.typelem
LEFT JOIN domains ON domains.oid = a.typelem
WHERE a.typoutput = 'array_out'::regproc AND e.typdelim = ','
"""


def convert_as(rows: Iterable[tuple[int, int, bool]]) -> dict[int, int]:
    """Derived type OID -> the built-in type OID whose converter its values take, from
    the catalog's (type OID, base OID, False) for each domain (its base resolved through
    nested domains) and (array type OID, element's base OID, True) for each array type.
    An array converts as the built-in array of its element's base type, or as text[]
    (elements as their text) when that has no converter: enums, composites, ranges, inet."""
    domains: dict[int, int] = {}
    arrays: dict[int, int] = {}
    for oid, base, is_array in rows:
        if not is_array:
            domains[oid] = base
        elif oid not in ARRAYS:
            arrays[oid] = _ARRAY_OF.get(base, TEXT_ARRAY)
    # a domain over an array (of enums, ...) converts as that array does
    return {**arrays, **{oid: arrays.get(base, base) for oid, base in domains.items()}}


def converter_for(type_oid: int, base_oid: Optional[int] = None) -> Converter:
    """The converter for a column. `base_oid`: the type it converts as (convert_as), when
    it is a derived type."""
    oid = base_oid or type_oid
    scalar = SCALARS.get(oid)
    if scalar is not None:
        return scalar
    element = ARRAYS.get(oid)
    if element is not None:
        convert_element = SCALARS.get(element, _text)
        return lambda text: parse_array(text, convert_element)
    return _text


def parse_array(text: str, convert: Converter) -> list[object]:
    """Parse PostgreSQL's array text form ('{1,2,NULL}', '{{"a b",c},{d,e}}') into nested
    lists, converting each non-NULL element. A leading dimension decoration
    ('[0:1]={...}') is dropped: JSON arrays start at index 0 anyway."""
    if text.startswith("["):
        text = text[text.index("=") + 1 :]
    value, end = _parse_array_at(text, 0, convert)
    if end != len(text):
        raise ValueError(f"trailing text after array at offset {end}")
    return value


def _parse_array_at(text: str, pos: int, convert: Converter) -> tuple[list[object], int]:
    if text[pos] != "{":
        raise ValueError(f"expected '{{' at offset {pos}")
    pos += 1
    items: list[object] = []
    if text[pos] == "}":
        return items, pos + 1
    while True:
        char = text[pos]
        if char == "{":
            nested, pos = _parse_array_at(text, pos, convert)
            items.append(nested)
        elif char == '"':
            pos += 1
            chunk: list[str] = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                chunk.append(text[pos])
                pos += 1
            pos += 1
            items.append(convert("".join(chunk)))
        else:
            start = pos
            while text[pos] not in ",}":
                pos += 1
            raw = text[start:pos].strip()
            items.append(None if raw == "NULL" else convert(raw))
        if text[pos] == ",":
            pos += 1
            continue
        if text[pos] == "}":
            return items, pos + 1
        raise ValueError(f"unexpected {text[pos]!r} at offset {pos}")
