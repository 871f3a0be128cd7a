"""Values as Terraform writes them as text: Go's encoding/json of cty values
(jsonencode(), format's %v of a list or object, %q), and Go's %v of a number.

Go's JSON, not Python's: object keys sorted at every depth (cty's objects and maps keep
no order), `<`, `>`, `&`, U+2028 and U+2029 escaped (Go's HTML-safe escaping), a text
that is no valid Unicode (a lone surrogate from jsondecode) as U+FFFD, and numbers in
decimals, never with an exponent (`1e-7` is 0.0000001, `1e21` is 1000000000000000000000).
"""

from __future__ import annotations

import json
import re

from dstream.config.numbers import format_number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    from dstream.protocol.values import JsonValue

# What Go escapes and Python's json.dumps(ensure_ascii=False) leaves as it is.
_GO_ESCAPES = r"[<>&\u2028\u2029\ud800-\udfff]"


def _escape(found: re.Match[str]) -> str:
    char = found.group(0)
    return "\\ufffd" if "\ud800" <= char <= "\udfff" else f"\\u{ord(char):04x}"


def go_string(text: str) -> str:
    """A string as Go's encoding/json writes it, quotes included."""
    return re.sub(_GO_ESCAPES, _escape, json.dumps(text, ensure_ascii=False))


def go_json(value: JsonValue) -> str:
    """`value` as Terraform's jsonencode() writes it."""
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, list):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    return "{" + ",".join(go_string(key) + ":" + go_json(value[key]) for key in sorted(value)) + "}"


def go_number_v(number: Union[int, float]) -> str:
    """A number as Go's %v of cty's big.Float writes it (format("%v", n)): its shortest
    digits, with an exponent when it is below 1e-4 or from 1e+6 on (`1.23456789e+08`)."""
    if number == 0:
        return "0"
    if isinstance(number, int):  # every digit: an int is exact at any size
        written = str(abs(number))
        point = len(written)  # where the decimal point falls in the digits
    else:  # the shortest digits that read back as the double, as repr's
        import decimal  # only for format's %v of a fraction

        parts = decimal.Decimal(repr(abs(number))).as_tuple()
        assert isinstance(parts.exponent, int)  # finite: configurations hold no other
        written = "".join(map(str, parts.digits)).lstrip("0")
        point = len(written) + parts.exponent
    mantissa = written.rstrip("0")
    minus = "-" if number < 0 else ""
    if point - 1 < -4 or point - 1 >= 6:
        fraction = "." + mantissa[1:] if len(mantissa) > 1 else ""
        return f"{minus}{mantissa[0]}{fraction}e{point - 1:+03d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{mantissa}"
    if point >= len(mantissa):
        return minus + mantissa + "0" * (point - len(mantissa))
    return f"{minus}{mantissa[:point]}.{mantissa[point:]}"
