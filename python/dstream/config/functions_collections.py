"""Terraform's collection functions: flatten(), distinct(), element(), slice(), sort(),
setunion(), tolist() and the like, with Terraform's results and errors (each checked
against `terraform console` in tests/config/test_functions_*.py).

dstream's values have no separate list, tuple and set types: a function that takes a
list(T) or set(T) converts its argument as Terraform's does (config/typeexpr.py's
convert: [1, "a"] as a list(string) is ["1", "a"]; a set holds each value once and
orders strings, numbers and bools), and one that takes any list takes it as it is."""

from __future__ import annotations

from dstream.config.functions import (
    Builtin,
    CallContext,
    FunctionError,
    arity,
    equal,
    to_number,
    type_name,
)
from dstream.config.functions_text import whole_arg
from dstream.config.numbers import whole

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.config.functions import Function
    from dstream.config.typeexpr import Type
    from dstream.protocol.values import JsonObject, JsonValue

MAX_RANGE = 1024  # Terraform's: range() makes at most this many numbers


def _type(spelled: str) -> Type:
    """A type spelled as its kinds, outermost first: "map list string" is
    map(list(string)), "set" set(any). (config/typeexpr is imported by a call: a plain
    run's start does without it.)"""
    from dstream.config.typeexpr import ANY, Type

    kinds = spelled.split()
    built = ANY if kinds[-1] in ("list", "set", "map") else Type(kinds.pop())
    for kind in reversed(kinds):
        built = Type(kind, element=built)
    return built


def typed_arg(name: str, args: list[JsonValue], index: int, spelled: str) -> JsonValue:
    """Argument `index` converted to the type `spelled` (as _type reads it) as
    Terraform converts a function's argument; null is refused (no function here takes
    one)."""
    from dstream.config.typeexpr import Mismatch, convert, path_text

    what = f"argument {index + 1} of {name}()"
    if args[index] is None:
        raise FunctionError(f"{what} is null, not a {spelled.split()[0]}")
    try:
        return convert(args[index], _type(spelled))
    except Mismatch as exc:
        where = f" at {path_text(exc.path, hide_keys=True)}" if exc.path else ""
        raise FunctionError(f"{what}{where} {exc.describe(hide_keys=True)}") from None


def _as_set(items: list[JsonValue]) -> JsonValue:
    from dstream.config.typeexpr import convert

    return convert(items, _type("set"))


def _list(name: str, args: list[JsonValue], index: int, element: str = "") -> list[JsonValue]:
    value = typed_arg(name, args, index, f"list {element}")
    assert isinstance(value, list)
    return value


def _sequence(name: str, args: list[JsonValue], index: int) -> list[JsonValue]:
    """Argument `index`, a list of any elements (Terraform's tuple, list or set)."""
    value = args[index]
    if not isinstance(value, list):
        what = "null" if value is None else f"a {type_name(value)}"
        raise FunctionError(f"argument {index + 1} of {name}() is {what}, not a list")
    return value


def _no_null_element(name: str, items: list[JsonValue], index: int = 0) -> None:
    if None in items:
        at = items.index(None)
        raise FunctionError(f"element {at} of argument {index + 1} of {name}() is null")


def _flatten(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("flatten", args, 1)
    out: list[JsonValue] = []
    stack = [iter(_sequence("flatten", args, 0))]
    while stack:  # not recursion: a deep list must not reach Python's limit
        item = next(stack[-1], StopIteration)
        if item is StopIteration:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            out.append(item)  # type: ignore[arg-type]
    return out


def _distinct(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("distinct", args, 1)
    out: list[JsonValue] = []
    for item in _list("distinct", args, 0):
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


def _element(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("element", args, 2)
    items, index = _sequence("element", args, 0), whole_arg("element", args, 1)
    if index < 0:
        raise FunctionError(
            f"argument 2 of element() is {index}; it must not be negative",
            hint="element() wraps around past the end; index from the end with "
            "list[length(list) - 1]",
        )
    if not items:
        raise FunctionError("element() of an empty list")
    return items[index % len(items)]


def _index(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("index", args, 2)
    items = _sequence("index", args, 0)
    for position, item in enumerate(items):
        if equal(item, args[1]):
            return position
    raise FunctionError(
        "index(): the item is not in the list",
        hint="test first with contains(list, value)",
    )


def _range(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    """Terraform's range(limit), range(start, limit), range(start, limit, step)."""
    arity("range", args, 1, 3)
    numbers = []
    for index, value in enumerate(args):
        if value is None:
            raise FunctionError(f"argument {index + 1} of range() is null, not a number")
        numbers.append(to_number(value, f"argument {index + 1} of range()"))
    if len(numbers) == 1:
        numbers.insert(0, 0)
    start, limit = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else (-1 if limit < start else 1)
    if step == 0:
        raise FunctionError("range() step must not be zero")
    if step < 0 and start < limit:
        raise FunctionError(
            "range(): for a descending range (a negative step) the limit must be less "
            "than the start"
        )
    if step > 0 and limit < start:
        raise FunctionError(
            "range(): for an ascending range (a positive step) the limit must be greater "
            "than or equal to the start"
        )
    exact = all(isinstance(n, int) for n in numbers)
    out: list[JsonValue] = []
    count = 0
    while True:
        value = start + count * step if exact else _decimal_step(start, step, count)
        if not (value > limit if step < 0 else value < limit):
            return out
        if count >= MAX_RANGE:
            raise FunctionError(
                f"range() would make more than {MAX_RANGE} numbers",
                hint="narrow the range or take a larger step",
            )
        out.append(value)
        count += 1


def _decimal_step(start: float, step: float, count: int) -> float:
    """start + count * step in decimal, as Terraform's exact arithmetic has it
    (0.1 * 3 is 0.3, where doubles give 0.30000000000000004)."""
    from decimal import Decimal

    value = Decimal(repr(start)) + count * Decimal(repr(step))
    return whole(float(value))


def _zipmap(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("zipmap", args, 2)
    keys = _list("zipmap", args, 0, "string")
    values = _sequence("zipmap", args, 1)
    _no_null_element("zipmap", keys)
    if len(keys) != len(values):
        raise FunctionError(
            f"zipmap() got {len(keys)} key(s) and {len(values)} value(s)",
            hint="give exactly one value for each key",
        )
    out: JsonObject = {}
    for key, value in zip(keys, values):
        out[str(key)] = value
    return dict(sorted(out.items()))


def _slice(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("slice", args, 3)
    items = _sequence("slice", args, 0)
    start, end = whole_arg("slice", args, 1), whole_arg("slice", args, 2)
    if start < 0:
        raise FunctionError(f"argument 2 of slice() is {start}; it must not be negative")
    if end > len(items):
        raise FunctionError(
            f"argument 3 of slice() is {end}, past the end of the list ({len(items)} element(s))"
        )
    if start > end:
        raise FunctionError(f"slice() from index {start} is greater than the end index {end}")
    return items[start:end]


def _sort(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("sort", args, 1)
    items = _list("sort", args, 0, "string")
    _no_null_element("sort", items)
    return sorted(items)  # type: ignore[type-var]  # strings, in code point order (Go's)


def _reverse(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("reverse", args, 1)
    return _sequence("reverse", args, 0)[::-1]


def _compact(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("compact", args, 1)
    return [item for item in _list("compact", args, 0, "string") if item not in (None, "")]


def _coalescelist(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("coalescelist", args, 1, 99)
    for index, value in enumerate(args):
        if _sequence("coalescelist", args, index):
            return value
    raise FunctionError("coalescelist() got no non-empty list")


def _one(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("one", args, 1)
    items = _sequence("one", args, 0)
    if len(items) > 1:
        raise FunctionError(
            f"one() of a list of {len(items)} elements: it takes a list of zero or one",
            hint="select the element you mean, as list[0]",
        )
    return items[0] if items else None


def _sum(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("sum", args, 1)
    items = _list("sum", args, 0, "number")
    if not items:
        raise FunctionError("sum() of an empty list")
    _no_null_element("sum", items)
    if all(isinstance(item, int) for item in items):
        return sum(items)  # type: ignore[arg-type]
    from decimal import Decimal  # as Terraform's exact arithmetic: 0.1 + 0.2 is 0.3

    total = sum(Decimal(repr(item)) for item in items)
    return whole(float(total))


def _alltrue(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("alltrue", args, 1)
    return all(item is True for item in _list("alltrue", args, 0, "bool"))


def _anytrue(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("anytrue", args, 1)
    return any(item is True for item in _list("anytrue", args, 0, "bool"))


def _sets(name: str, args: list[JsonValue]) -> list[list[JsonValue]]:
    """The arguments of setunion() or setintersection(), their elements converted to
    the one type they all take (Terraform unifies the sets' element types)."""
    arity(name, args, 1, 99)
    lists = [_sequence(name, args, index) for index in range(len(args))]
    joined = typed_arg(name, [[item for items in lists for item in items]], 0, "list")
    assert isinstance(joined, list)
    out, at = [], 0
    for items in lists:
        out.append(joined[at : at + len(items)])
        at += len(items)
    return out


def _setunion(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    every = [item for items in _sets("setunion", args) for item in items]
    return _as_set(every)


def _setintersection(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    first, *others = _sets("setintersection", args)
    common = [item for item in first if all(any(equal(item, o) for o in other) for other in others)]
    return _as_set(common)


def _to(name: str, spelled: str) -> Function:
    def call(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
        arity(name, args, 1)
        if args[0] is None:
            return None
        return typed_arg(name, args, 0, spelled)

    return call


def _tomap(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("tomap", args, 1)
    if args[0] is None:
        return None
    value = typed_arg("tomap", args, 0, "map")
    assert isinstance(value, dict)
    return dict(sorted(value.items()))


def _transpose(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("transpose", args, 1)
    value = typed_arg("transpose", args, 0, "map list string")
    assert isinstance(value, dict)
    out: dict[str, list[JsonValue]] = {}
    for key in sorted(value):
        items = value[key]
        if items is None:
            raise FunctionError(f"transpose(): the list of key {key!r} is null")
        assert isinstance(items, list)
        for item in items:
            if item is None:
                raise FunctionError(f"transpose(): the list of key {key!r} holds null")
            out.setdefault(str(item), []).append(key)
    return dict(sorted(out.items()))


COLLECTIONS: dict[str, Builtin] = {
    "alltrue": Builtin("alltrue(list)", _alltrue),
    "anytrue": Builtin("anytrue(list)", _anytrue),
    "coalescelist": Builtin("coalescelist(list, ...)", _coalescelist),
    "compact": Builtin("compact(list)", _compact),
    "distinct": Builtin("distinct(list)", _distinct),
    "element": Builtin("element(list, index)", _element),
    "flatten": Builtin("flatten(list)", _flatten),
    "index": Builtin("index(list, v)", _index),
    "one": Builtin("one(list)", _one),
    "range": Builtin("range(start, limit, step)", _range),
    "reverse": Builtin("reverse(list)", _reverse),
    "setintersection": Builtin("setintersection(list, ...)", _setintersection),
    "setunion": Builtin("setunion(list, ...)", _setunion),
    "slice": Builtin("slice(list, start, end)", _slice),
    "sort": Builtin("sort(list)", _sort),
    "sum": Builtin("sum(list)", _sum),
    "tolist": Builtin("tolist(v)", _to("tolist", "list")),
    "tomap": Builtin("tomap(v)", _tomap),
    "toset": Builtin("toset(v)", _to("toset", "set")),
    "transpose": Builtin("transpose(obj)", _transpose),
    "zipmap": Builtin("zipmap(keys, values)", _zipmap),
}
