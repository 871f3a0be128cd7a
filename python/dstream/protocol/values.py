"""The JSON value, the one type of everything that crosses the wire as JSON (a
provider's config, a checkpoint, a lifecycle result) and of every value a dstream.hcl
evaluates to: config and protocol both name it from here, the lowest layer they share.

And its one encoder, `encode_json`: every configuration value dstream writes as JSON
(the command line, an input's digest, `show`, a --json document) goes through it, so an
integer beyond 64 bits is written exactly everywhere, not refused in one place and
rounded in another; `decode_json` reads such a value back (the SDK's command line).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Optional, Union

import orjson

# A recursive alias: mypy follows it; at run time it is only a Union of generics.
JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]
JsonObject = dict[str, JsonValue]

# The integers orjson writes itself; it refuses any other ("Integer exceeds 64-bit range").
_ORJSON_LOW, _ORJSON_HIGH = -(2**63), 2**64 - 1
# orjson refuses values nested deeper than this anyway: the fallback walks no deeper.
_ORJSON_DEPTH = 255


def encode_json(
    value: object,
    *,
    option: int = 0,
    default: Optional[Callable[[Any], Any]] = None,  # Any: as orjson.dumps's
) -> bytes:
    """`orjson.dumps(value, default=default, option=option)`, byte for byte, except that
    integers beyond 64 bits are written with all their digits (JSON allows any integer;
    HCL's numbers are arbitrary precision). The fallback runs only when orjson refused
    the value, so what it encodes costs nothing more; what it refuses for another reason
    is still refused with orjson's error."""
    try:
        return orjson.dumps(value, default=default, option=option)
    except orjson.JSONEncodeError:
        exact = _exact_integers(value, 0)
        if exact is value:
            raise  # no integer to blame: orjson's refusal stands
        return orjson.dumps(exact, default=default, option=option)


def _exact_integers(value: object, depth: int) -> object:
    """`value` with each integer orjson refuses replaced by a raw fragment of its
    digits; `value` itself (not a copy) when it holds none."""
    if isinstance(value, int) and not isinstance(value, bool):
        if _ORJSON_LOW <= value <= _ORJSON_HIGH:
            return value
        return orjson.Fragment(str(int(value)).encode())
    if depth > _ORJSON_DEPTH:
        return value
    if isinstance(value, dict):
        items = {k: _exact_integers(v, depth + 1) for k, v in value.items()}
        changed = any(items[k] is not v for k, v in value.items())
        return items if changed else value
    if isinstance(value, (list, tuple)):
        elements = [_exact_integers(v, depth + 1) for v in value]
        return elements if any(e is not v for e, v in zip(elements, value)) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # orjson writes a dataclass as the object of its fields, in their order.
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        as_dict = _exact_integers(fields, depth)
        return value if as_dict is fields else as_dict
    return value


def decode_json(data: Union[bytes, str]) -> JsonValue:
    """A configuration value read from JSON with its integers exact at any size: orjson
    would round an integer beyond 64 bits to a double (and refuse one beyond a double).
    For one value per process (a command line), never per frame. ValueError when it is
    not JSON."""
    try:
        value: JsonValue = json.loads(data)
    except RecursionError:
        raise ValueError("the JSON is nested too deep") from None
    return value
