"""Terraform's number functions: abs(), ceil(), floor(), max(), min(), pow(), signum(),
parseint(), with Terraform's results and errors (each checked against `terraform
console` in tests/config/test_functions_*.py). Integers stay exact at any size, as
elsewhere (config/numbers.py)."""

from __future__ import annotations

import math

from dstream.config.functions import (
    Builtin,
    CallContext,
    FunctionError,
    arity,
    string_arg,
    to_number,
)
from dstream.config.functions_text import whole_arg
from dstream.config.numbers import NUMBER_HINT, OUT_OF_RANGE, number_problem, whole

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Union

    from dstream.config.functions import Function
    from dstream.protocol.values import JsonValue

    Number = Union[int, float]

# parseint()'s digits: a base up to 36 reads letters in either case, a larger one reads
# a-z as 10 to 35 and A-Z as 36 to 61 (Go's big.Int.SetString, Terraform's).
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _number_arg(name: str, args: list[JsonValue], index: int) -> Number:
    what = f"argument {index + 1} of {name}()"
    if args[index] is None:
        raise FunctionError(f"{what} is null, not a number")
    return to_number(args[index], what)


def _of_number(name: str, apply: Callable[[Number], Number]) -> Function:
    def call(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
        arity(name, args, 1)
        return apply(_number_arg(name, args, 0))

    return call


def _rounded(round_: Callable[[float], int]) -> Callable[[Number], Number]:
    """ceil() or floor(): a whole double beyond int64 stays that double (1e300 is not
    its binary expansion's 301 digits)."""
    return lambda n: n if isinstance(n, int) else whole(n) if n.is_integer() else round_(n)


def _signum(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("signum", args, 1)
    n = _number_arg("signum", args, 0)
    if not (isinstance(n, int) and -(2**63) <= n < 2**63):  # Terraform's, a 64-bit int
        raise FunctionError(
            f"argument 1 of signum() is {n!r}; it must be a whole number between "
            f"-{2**63} and {2**63 - 1}"
        )
    return (n > 0) - (n < 0)


def _extreme(name: str, pick: Callable[[list[Number]], Number]) -> Function:
    def call(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
        arity(name, args, 1, 99)
        return pick([_number_arg(name, args, i) for i in range(len(args))])

    return call


def _pow(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    """Terraform's pow() computes in doubles (Go's math.Pow): 3^40 is 12157665459056929000,
    not 12157665459056928801."""
    arity("pow", args, 2)
    base, exponent = _number_arg("pow", args, 0), _number_arg("pow", args, 1)
    try:
        result = math.pow(base, exponent)
    except OverflowError:
        raise FunctionError(f"pow() gives a number {OUT_OF_RANGE}", NUMBER_HINT) from None
    except ValueError:  # a negative number to a fraction: Go's math.Pow gives NaN
        raise FunctionError(
            "pow() of a negative number to a fractional power is no number"
        ) from None
    problem = number_problem(result)
    if problem is not None:  # Terraform's is infinity, which no configuration value holds
        raise FunctionError(f"pow() gives {problem}", NUMBER_HINT)
    return whole(result)


def _parseint(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("parseint", args, 2)
    text, base = string_arg("parseint", args, 0), whole_arg("parseint", args, 1)
    if not 2 <= base <= 62:
        raise FunctionError(f"argument 2 of parseint() is {base}; the base must be 2 to 62")
    digits = text[1:] if text[:1] in "+-" else text
    alphabet = _DIGITS[:base] if base > 36 else _DIGITS[:base] + _DIGITS[36 : base + 26]
    if not digits or any(c not in alphabet for c in digits):
        raise FunctionError(
            f"parseint() cannot read {text!r} as a base {base} integer",
            hint="give digits of that base only, an optional sign before them, no prefix "
            "such as 0x",
        )
    value = 0
    for c in digits:
        digit = _DIGITS.index(c)
        value = value * base + (digit if base > 36 or digit < 36 else digit - 26)
    problem = number_problem(value)
    if problem is not None:
        raise FunctionError(f"parseint() gives {problem}", NUMBER_HINT)
    return -value if text.startswith("-") else value


NUMBERS: dict[str, Builtin] = {
    "abs": Builtin("abs(n)", _of_number("abs", abs)),
    "ceil": Builtin("ceil(n)", _of_number("ceil", _rounded(math.ceil))),
    "floor": Builtin("floor(n)", _of_number("floor", _rounded(math.floor))),
    "max": Builtin("max(n, ...)", _extreme("max", max)),
    "min": Builtin("min(n, ...)", _extreme("min", min)),
    "parseint": Builtin("parseint(s, base)", _parseint),
    "pow": Builtin("pow(n, power)", _pow),
    "signum": Builtin("signum(n)", _signum),
}
