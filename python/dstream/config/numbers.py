"""Numbers of a configuration: an integer is exact at any size up to MAX_INTEGER_DIGITS
digits (JSON allows any integer; HCL's numbers are arbitrary precision), a fraction is a
64-bit double, as in the JSON parsers of nearly every provider. A number a double cannot
hold (1e400, an overflowed product, NaN) is refused where it is made: sent on, it would
become `null` (docs/configuration.md, "Numbers")."""

from __future__ import annotations

import json
import math
import re

from dstream.config.limits import MAX_INTEGER_DIGITS, line_column

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, NoReturn, Optional, Union

    from dstream.protocol.values import JsonValue

_INTEGER_BOUND = 10**MAX_INTEGER_DIGITS
OUT_OF_RANGE = "out of range (beyond ±1.8e308, the largest number a 64-bit double holds)"
NUMBER_HINT = (
    f"numbers must lie within ±1.8e308, integers have at most {MAX_INTEGER_DIGITS:,} digits; "
    'if the provider takes such a value as text, write it as a string: "1e400"'
)


class BadNumber(ValueError):
    """A number written as text that no configuration value can hold: `reason` quotes
    the text, `problem` (for values that may be secrets) does not; `written` is the text."""

    def __init__(self, reason: str, problem: str, written: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problem = problem
        self.written = written


def number_problem(value: object) -> Optional[str]:
    """Why the number `value` cannot be a configuration's value (infinite or NaN: a
    double overflowed; an integer of too many digits), or None; None for a non-number."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"a number {OUT_OF_RANGE}"
    if isinstance(value, int) and not -_INTEGER_BOUND < value < _INTEGER_BOUND:
        return f"an integer of more than {MAX_INTEGER_DIGITS:,} digits"
    return None


def parse_number(text: str) -> Union[int, float]:
    """A number written as text (a literal, a JSON number, a variable's value), already
    known to spell one: an int when it is digits only, else a double. BadNumber when it
    is out of range or too long."""
    digits = text.lstrip("+-")
    shown = text if len(text) <= 24 else text[:20] + "…"
    if digits.isdigit():
        if len(digits.lstrip("0")) > MAX_INTEGER_DIGITS:
            problem = f"an integer of more than {MAX_INTEGER_DIGITS:,} digits"
            raise BadNumber(f"integer {shown} has more than {MAX_INTEGER_DIGITS:,} digits",
                            problem, text)  # fmt: skip
        return int(text)
    number = float(text)
    if not math.isfinite(number):
        raise BadNumber(f"number {shown} is {OUT_OF_RANGE}", f"a number {OUT_OF_RANGE}", text)
    return _written_whole(text) if number.is_integer() else number


# A number written with a fraction or an exponent: sign, digits, fraction, exponent.
# (Compiled on first use: a run whose numbers are integers never uses it, and a compile
# at import costs ~0.5 M instructions of every start, issue 22.)
_DECIMAL = r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?"


def _written_whole(text: str) -> Union[int, float]:
    """`text` (`1.0`, `1.5e3`) as the exact integer it spells, when it spells one that
    a 64-bit integer holds: the original DStream sent such a number as an integer (a Go
    or .NET provider refuses `1500.0` for an int field), and a larger one (`1e21`) as a
    double. A text whose double is whole but whose digits are not
    (`1.00000000000000000001`) stays that double."""
    found = re.fullmatch(_DECIMAL, text)
    if found is None:
        return float(text)
    sign, whole, fraction, exponent = found.groups()
    fraction = (fraction or "").rstrip("0")
    shift = int(exponent or 0) - len(fraction)
    digits = int((whole or "0") + fraction)
    if shift < 0:
        if -shift > len(((whole or "") + fraction).lstrip("0")):
            # A power of ten beyond the digits (`1e-99999999`, a double's 0.0): no whole
            # number but zero, and 10**-shift could take minutes to compute.
            return float(text) if digits else 0
        quotient, remainder = divmod(digits, 10**-shift)
        if remainder:
            return float(text)
        digits, shift = quotient, 0
    if len(str(digits)) + shift > 19:  # beyond int64, where the original sent a double
        return float(text)
    value = digits * 10**shift * (-1 if sign == "-" else 1)
    return value if -(2**63) <= value < 2**63 else float(text)


def whole(number: Union[int, float]) -> Union[int, float]:
    """A double that is a whole number a 64-bit integer holds as that int, for the reason
    _written_whole gives (`1.5 * 2e16` is 30000000000000000, as Terraform's exact
    arithmetic makes it); any other number as it is."""
    if isinstance(number, float) and number.is_integer() and -(2**63) <= number < 2**63:
        return int(number)
    return number


def format_number(value: float) -> str:
    """A number as text, as Terraform writes it: in decimals, never with an exponent
    (`1e20` is 100000000000000000000, `2.5e-7` is 0.00000025); a double with the
    fewest digits that read back as it."""
    if not isinstance(value, float):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    text = repr(value)
    if "e" not in text:
        return text
    import decimal  # only for a number that repr writes with an exponent

    return format(decimal.Decimal(text), "f")


def _json_constant(name: str) -> NoReturn:
    raise BadNumber(f"{name} is not a number", f"{name}, which is not a number", name)


def decode_config_json(
    text: str, object_pairs_hook: Optional[Callable[[list[tuple[str, Any]]], Any]] = None
) -> JsonValue:
    """json.loads, with every number checked by parse_number and NaN/Infinity refused
    (BadNumber): nothing turns into inf, no integer is rounded to a double. Callers
    bound the nesting first (limits.check_nesting); `object_pairs_hook` as json.loads'."""
    decoded: JsonValue = json.loads(
        text,
        parse_int=parse_number,
        parse_float=parse_number,
        parse_constant=_json_constant,
        object_pairs_hook=object_pairs_hook,
    )
    return decoded


def json_number_position(text: str, exc: BadNumber) -> tuple[int, int]:
    """Line and column of the number `exc` refused in the JSON `text` (its first
    occurrence as a token), or (0, 0)."""
    found = re.search(r'(?<![\w.+\-"])' + re.escape(exc.written) + r"(?![\w.])", text)
    return line_column(text, found.start()) if found else (0, 0)


def _int_remainder(left: int, right: int) -> int:
    remainder = abs(left) % abs(right)
    return -remainder if left < 0 else remainder


def arithmetic(operator: str, left: float, right: float) -> JsonValue:
    """`left operator right` of two numbers (`/` and `%` by a non-zero `right`):
    integers stay exact, a whole quotient of integers too. OverflowError when an
    integer beyond a double meets a fraction; an inf result is the caller's to refuse."""
    if operator == "+":
        return whole(left + right)
    if operator == "-":
        return whole(left - right)
    if operator == "*":
        return whole(left * right)
    if operator == "/":
        if isinstance(left, int) and isinstance(right, int) and left % right == 0:
            return left // right
        result = left / right
        return int(result) if result.is_integer() and isinstance(left, int) else whole(result)
    if operator == "%":  # the sign of `left`, as HCL's (and Go's) remainder: -7 % 3 is -1
        if isinstance(left, int) and isinstance(right, int):
            return _int_remainder(left, right)
        return whole(math.fmod(left, right))
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[
        operator
    ]
