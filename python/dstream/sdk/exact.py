"""Numbers exactly as received, on the output side.

orjson reads a JSON number as a 64-bit integer or a double: it refuses one beyond a
double's range (`1e400`) and silently rounds others (`123456789012345678901234567890`
becomes 1.2345678901234568e+29, `1e-400` 0.0, `0.1000000000000000000000000001` 0.1).
PostgreSQL's json and jsonb hold such numbers, and its CDC input writes them verbatim.
The output host decodes a line with the standard library instead (`loads_exact`) when
orjson refuses it, and, for an output that asks for exact numbers, when
`inexact_offsets` finds in it a number orjson would change: found without decoding,
by a translate and two SIMD finds per chunk (about a fifth of what decoding the chunk
costs), then a look at each candidate token (~0.7 µs: a 17- to 19-digit integer is one).

The types `loads_exact` gives (docs/providers.md, "Numbers"): an integer is an `int`
at any size; a number with a fraction or exponent is a `float` when the float's
shortest form is the same number (as orjson would give it), else a `JsonNumber` (a
`decimal.Decimal` whose str() is the text received). With exact numbers, a number's
type depends on the number only, never on which decoder read its line.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from dstream._core import find

# Digits and the point as "0", the exponent letter as "e": a number's shape, searched
# with the core's find. Of the numbers orjson would change, those it does not refuse have
# 17 or more digits and points in a row (a double keeps 15 significant digits; 64-bit
# integers have up to 20 digits and are checked one by one) or a negative exponent
# of three or more digits (underflow: 1e-400). A larger positive exponent is refused
# (1e400), which sends the line to loads_exact anyway.
_SHAPES = bytes.maketrans(b"0123456789.E", b"00000000000e")
_LONG = b"0" * 17
_TINY = b"e-000"
# A 17- to 19-digit integer (a bigint key, nanoseconds) is the common candidate, and
# every positive one fits in 64 bits: recognised by one match, before any other work.
_PLAIN_INT = re.compile(rb"[:,\[][0-9]{17,19}[,\]}]")
_IN_NUMBER = frozenset(b"0123456789.eE+-")
_BEFORE_NUMBER = frozenset(b":,[")
_WHITESPACE = frozenset(b" \t\r\n")
_AFTER_NUMBER = frozenset(b",]} \t\r\n")
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
# A \uD800-\uDFFF escape: the standard library accepts an unpaired one, orjson does not.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def inexact_offsets(data: bytes, start: int, end: int) -> list[int]:
    """Offsets in `data[start:end]`, ascending, of the numbers orjson would read as a
    different number (or none)."""
    shapes = data.translate(_SHAPES)
    found: list[int] = []
    for needle in (_LONG, _TINY):
        pos = find(shapes, needle, start, end)
        while pos >= 0:
            after = pos + len(needle)
            if _PLAIN_INT.match(data, pos - 1):
                pos = find(shapes, needle, after, end)
                continue
            token = _number_at(data, pos, start)
            if token is not None:
                after = max(after, token[1])
                if not _orjson_keeps(data[token[0] : token[1]]):
                    found.append(token[0])
            pos = find(shapes, needle, after, end)
    return sorted(set(found))


def _number_at(data: bytes, pos: int, start: int) -> Optional[tuple[int, int]]:
    """(begin, end) of the JSON number token around `pos`, or None when `pos` is not
    in one (a string's digits: a number follows `:`, `,` or `[`)."""
    begin = pos
    while begin > start and data[begin - 1] in _IN_NUMBER:
        begin -= 1
    match = _NUMBER.match(data, begin)
    if match is None or match.end() <= pos:
        return None
    end = match.end()
    if end < len(data) and data[end] not in _AFTER_NUMBER:
        return None
    before = begin - 1
    while before >= 0 and data[before] in _WHITESPACE:
        before -= 1
    if before < 0 or data[before] not in _BEFORE_NUMBER:
        return None
    return begin, end


def _orjson_keeps(token: bytes) -> bool:
    """Whether orjson reads the number `token` as the same number."""
    if token.lstrip(b"-").isdigit():
        try:
            return _INT64_MIN <= int(token) <= _UINT64_MAX
        except ValueError:  # beyond Python's digits limit for int(): certainly not
            return False
    return _float_or_none(token.decode("ascii")) is not None


def _float_or_none(text: str) -> Optional[float]:
    """`float(text)` when its shortest form is the number `text` (so writing it back
    gives the same number), else None."""
    value = float(text)
    if value - value != 0:  # inf or nan: beyond a double's range
        return None
    shortest = repr(value)
    if shortest == text:  # the common case, without decimal arithmetic
        return value
    from decimal import Decimal  # imported once a provider meets such a number

    return value if Decimal(shortest) == Decimal(text) else None


def _parse_float(text: str) -> Any:  # Any: float or JsonNumber, json's hook
    value = _float_or_none(text)
    if value is not None:
        return value
    from dstream.sdk.number import JsonNumber

    return JsonNumber(text)


def _parse_int(text: str) -> Any:  # Any: int or JsonNumber, json's hook
    try:
        return int(text)
    except ValueError:  # more digits than Python's int() takes (4300): kept as text
        from dstream.sdk.number import JsonNumber

        return JsonNumber(text)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# Made once: json.loads with hooks builds a decoder per call. Integers go through the
# C scanner's own int() (a hook is a Python call per integer), but for the one with
# more digits than int() takes, which the second decoder keeps as a JsonNumber.
_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_refuse_constant)
_DECODER_LONG_INTS = json.JSONDecoder(
    parse_float=_parse_float, parse_int=_parse_int, parse_constant=_refuse_constant
)


def loads_exact(line: bytes) -> Any:  # Any: the JSON value, as orjson.loads's
    """The JSON value of `line` with every number exact (the module's docstring says as
    what). ValueError, as orjson.loads raises it, for what orjson would refuse for any
    reason but a number: not UTF-8, NaN or Infinity, an unpaired surrogate escape,
    nested too deep, any syntax error."""
    text = line.decode("utf-8")
    try:
        try:
            value = _DECODER.decode(text)
        except ValueError:  # an integer int() refuses, or not JSON: then it says why
            value = _DECODER_LONG_INTS.decode(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deep") from None
    if _SURROGATE_ESCAPE.search(line):
        _refuse_unpaired_surrogates(value)
    return value


def _refuse_unpaired_surrogates(value: Any) -> None:  # Any: a decoded JSON value
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("unpaired UTF-16 surrogate escape in a string") from None
