"""Why an output's acknowledgement is no checkpoint it was sent (docs/protocol.md,
section 5): a checkpoint re-encoded, which the kit says so, naming what changed, or one
the output made up. A run compares the bytes; these words are the kit's, so that the
fix (echo the line as read) is found."""

from __future__ import annotations

import math
from typing import Optional, Union

from dstream.protocol.values import decode_json, encode_json
from dstream.runtime.checkpoints import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonValue

    Number = Union[int, float]
    # A number of a checkpoint that changed: its path (`big`, `a.b[2]`, "" for the value
    # itself), the value sent and the value echoed there.
    Change = tuple[str, JsonValue, JsonValue]

# What a doubles-based JSON layer does to a checkpoint, for the reason.
ROUNDED = "jq and JSON.parse read numbers as doubles and round integers above 2^53"


def not_sent(value: bytes, sent: list[bytes]) -> str:
    """Why `value`, no checkpoint sent byte for byte, fails."""
    echoed = _decoded(value)
    if echoed is not None:
        for original in sent:
            was = _decoded(original)
            if was is not None and _equal(was[0], echoed[0], rounded=True):
                return _reencoded(value, original, was[0], echoed[0])
    return f"acknowledged {shown(value)}, a checkpoint it never got"


def _reencoded(value: bytes, original: bytes, was: JsonValue, echoed: JsonValue) -> str:
    rounded = _change(was, echoed, rounded_only=True)
    changed = rounded or _change(was, echoed, rounded_only=False)
    if changed is None:
        what = "the same values, written differently (numbers, spacing, key order or escapes)"
    else:
        what = _named(changed) + (f" ({ROUNDED})" if rounded else "")
    return (
        f"acknowledged {shown(value)}, which is checkpoint {shown(original)} re-encoded: "
        f"{what}; checkpoints must be echoed byte for byte, as dstream compares "
        "acknowledgements with what it sent, and fails every run of this output; echo "
        "the line as received, do not re-encode it"
    )


def _named(change: Change) -> str:
    path, was, echoed = change
    where = f'"{path}"' if path else "the value"
    return f"{where} was {_text(was)}, echoed {_text(echoed)}"


def _text(value: JsonValue) -> str:
    return encode_json(value).decode()


def _decoded(raw: bytes) -> Optional[tuple[JsonValue]]:
    """(its value,), None when it is no JSON: a 1-tuple, as null is a value."""
    try:
        return (decode_json(raw),)
    except ValueError:
        return None


def _is_number(value: JsonValue) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _double(value: Number) -> float:
    """`value` as a double, as JSON.parse reads it (an integer too large: infinity)."""
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def _equal(a: JsonValue, b: JsonValue, *, rounded: bool) -> bool:
    """The same JSON value; `rounded`: numbers compared as doubles."""
    if _is_number(a) and _is_number(b):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float))
        return a == b or (rounded and _double(a) == _double(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k], rounded=rounded) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y, rounded=rounded) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _change(
    was: JsonValue, echoed: JsonValue, *, rounded_only: bool, path: str = ""
) -> Optional[Change]:
    """The first number of `was` (equal to `echoed` as doubles) that came back another
    value (`rounded_only`) or as another number type (5000.0 as 5000)."""
    if isinstance(was, dict) and isinstance(echoed, dict):
        for key, value in was.items():
            inner = f"{path}.{key}" if path else key
            found = _change(value, echoed.get(key), rounded_only=rounded_only, path=inner)
            if found is not None:
                return found
        return None
    if isinstance(was, list) and isinstance(echoed, list):
        for n, (x, y) in enumerate(zip(was, echoed)):
            found = _change(x, y, rounded_only=rounded_only, path=f"{path}[{n}]")
            if found is not None:
                return found
        return None
    if _is_number(was) and _is_number(echoed):
        differs = was != echoed if rounded_only else type(was) is not type(echoed)
        return (path, was, echoed) if differs else None
    return None
