"""The JSON value, the one type of everything that crosses the wire as JSON (a
provider's config, a checkpoint, a lifecycle result) and of every value a dstream.hcl
evaluates to: config and protocol both name it from here, the lowest layer they share.

And dstream's one JSON codec. `encode_json` writes every JSON text dstream's own process
writes (the command line, an input's digest, a checkpoint record, `show`, a --json
document): the Rust core's encoder, byte for byte orjson's (stored digests of configs
written by orjson stay valid), except that an integer beyond 64 bits is written exactly
where orjson refuses it. It is not orjson itself because importing orjson imports
`dataclasses`, `inspect`, `uuid` and `datetime`: a quarter of what a run used to add to
the interpreter's start (issue 22). `decode_json` reads JSON with its integers exact at
any size. The SDK and the providers encode their envelopes with orjson: per message,
where its speed counts and its import is paid once.
"""

from __future__ import annotations

import json

from dstream._core import Fragment, dumps

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing was ~12 M instructions (issue 22)
    from typing import Any, Callable, Optional, Union

    # A recursive alias, for mypy; modules import it under TYPE_CHECKING too.
    JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]
    JsonObject = dict[str, JsonValue]

__all__ = [
    "Fragment",
    "JsonObject",
    "JsonValue",
    "as_text",
    "decode_json",
    "encode_json",
    "json_kind",
]


def encode_json(
    value: object,
    *,
    sort_keys: bool = False,
    indent: bool = False,
    non_str_keys: bool = False,
    default: Optional[Callable[[Any], Any]] = None,  # Any: whatever the caller's values hold
) -> bytes:
    """`value` as JSON: `orjson.dumps(value, default=default, option=...)` with
    OPT_SORT_KEYS, OPT_INDENT_2 and OPT_NON_STR_KEYS for the flags, byte for byte, and
    integers beyond 64 bits exact. A `Fragment` is written verbatim. TypeError, as
    orjson's, for a value it cannot write (a record: convert it with `records.asdict`)."""
    return dumps(
        value, sort_keys=sort_keys, indent=indent, non_str_keys=non_str_keys, default=default
    )


def as_text(value: object) -> str:
    """What a peer said, shown as text: a string as it is, anything else (a provider's
    `msg` or `problem` given as an object) as compact JSON, never as Python's repr."""
    return value if isinstance(value, str) else encode_json(value, default=str).decode()


# What json_kind says of a value JSON has no kind for (a Python object of another type).
NO_JSON_VALUE = "no JSON value"


def json_kind(value: object) -> str:
    """What kind of JSON value `value` is, as a message names it (JSON's words, with an
    article, the array a list as dstream's messages call it): "a string", never
    Python's "str"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return NO_JSON_VALUE


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # as orjson, unlike the json module


def decode_json(data: Union[bytes, str]) -> JsonValue:
    """A JSON value, its integers exact at any size (orjson would round one beyond 64
    bits to a double). ValueError when it is not JSON: not UTF-8, NaN or Infinity,
    nested too deep, or any syntax error."""
    try:
        value: JsonValue = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deep") from None
    return value
