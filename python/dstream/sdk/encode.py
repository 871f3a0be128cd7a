"""Encoding what an input yields into frame lines (the input's hot path), and the JSON
an output writes of what it received (`dump_json`).

orjson writes every frame it can; what it refuses, an integer beyond 64 bits, goes to
the Rust core's encoder (`dstream._core.dumps`: orjson's bytes, every digit of such an
integer). A `JsonNumber` (a number no float holds, as an output receives it) is written
as its text, a JSON number, by both."""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from typing import Any, Callable, Union

import orjson

from dstream._core import Fragment, dumps
from dstream.sdk.model import Checkpoint, Envelope

_OPTIONS = orjson.OPT_APPEND_NEWLINE
# Non-string dict keys (ints, UUIDs) are rare and OPT_NON_STR_KEYS costs about a fifth
# more instructions on every frame, so it is only the retry.
_OPTIONS_ANY_KEYS = _OPTIONS | orjson.OPT_NON_STR_KEYS
_ONLY_DICTS = frozenset({dict})
_ONLY_ENVELOPES = frozenset({Envelope})


def _encode(obj: object) -> bytes:
    try:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(obj, default=_default, option=_OPTIONS_ANY_KEYS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, TypeError):  # _default's own words: what to convert
            raise TypeError(str(exc.__cause__)) from None
        refused = exc
    try:  # an integer beyond 64 bits: the core writes all its digits
        return dumps(obj, non_str_keys=True, default=_default_core) + b"\n"
    except TypeError:
        where = _lone_surrogate(obj, "")
        if where is not None:
            raise TypeError(
                f"cannot encode {where} as JSON: it holds a lone surrogate (text decoded "
                "with surrogateescape), which UTF-8 cannot encode; convert it with "
                "s.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')"
            ) from None
        raise refused from None


def _lone_surrogate(value: object, path: str) -> Union[str, None]:
    """Where in `value` a str UTF-8 cannot encode is, None if nowhere. A walk, so only
    on the error path: orjson's error does not say where."""
    if isinstance(value, str):
        return None if _is_utf8(value) else f"the str {value!r} at {path or 'the top'}"
    if isinstance(value, (Envelope, Checkpoint)):
        value = value.to_dict()
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and not _is_utf8(key):
                return f"the key {key!r} in {path or 'the top'}"
            found = _lone_surrogate(item, f"{path}[{key!r}]")
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode_line(obj: object) -> bytes:
    """`obj` as one JSON line with the conversions of a frame read() yields (a lifecycle
    result's details hold the same values a source's rows do). TypeError naming what to
    convert."""
    return _encode(obj)


def _json_number_text(value: object) -> Union[str, None]:
    """The text of a JsonNumber, None for anything else. The class exists only once its
    module was imported (by an output that received one, or by the provider)."""
    module = sys.modules.get("dstream.sdk.number")
    if module is not None and isinstance(value, module.JsonNumber):
        return str(value.text)
    return None


def _numbers_then(
    convert: Callable[[Any], object], fragment: Callable[[str], object]
) -> Callable[[Any], object]:
    """An encoder's `default`: a JsonNumber as its text (`fragment`: the encoder's raw
    JSON text), anything else as `convert` says."""

    def default(value: object) -> object:
        text = _json_number_text(value)
        return convert(value) if text is None else fragment(text)

    return default


def _convert(value: object) -> object:
    # Exact text for decimals: a float would silently round a NUMERIC column. A Decimal
    # exists only once its module was imported, so the host need not import it itself.
    decimal = sys.modules.get("decimal")
    if decimal is None and type(value).__module__ == "decimal":  # made through _decimal
        import decimal
    if decimal is not None and isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (Envelope, Checkpoint)):
        return value.to_dict()
    raise TypeError(
        f"cannot encode a {type(value).__module__}.{type(value).__qualname__} as JSON; "
        "convert it to str, int, float, bool, list or dict first"
    )


_default = _numbers_then(_convert, orjson.Fragment)
_default_core = _numbers_then(_convert, Fragment)
_received = _numbers_then(str, orjson.Fragment)
_received_core = _numbers_then(str, Fragment)


def encode_into(parts: list[bytes], item: Any) -> int:  # Any: `type(item) is` dispatch
    """Append the frame line(s) for `item` to `parts`; returns how many frames."""
    kind = type(item)
    if kind is dict:
        parts.append(_encode(item))
        return 1
    if kind is Envelope:
        metadata = item.metadata if item.metadata is not None else {}
        parts.append(_encode({"data": item.data, "metadata": metadata}))
        return 1
    if kind is list:
        if _encode_uniform(parts, item):
            return len(item)
        count = 0
        for sub in item:
            sub_kind = type(sub)
            if sub_kind is dict:
                parts.append(_encode(sub))
                count += 1
            else:
                count += encode_into(parts, sub)
        return count
    if kind is Checkpoint:
        parts.append(_encode({"checkpoint": item.value}))
        return 1
    if kind is bytes or kind is bytearray:
        lines = whole_lines(item)
        parts.append(lines)
        return lines.count(b"\n")
    if isinstance(item, (Envelope, Checkpoint, dict)):  # subclasses: the slow, general way
        parts.append(_encode(_as_frame(item)))
        return 1
    if isinstance(item, (list, tuple)):
        return sum(encode_into(parts, sub) for sub in item)
    raise TypeError(
        f"read() yielded a {type(item).__name__}; yield Envelope, Checkpoint, dict, "
        "bytes or a list of them"
    )


def whole_lines(item: Union[bytes, bytearray]) -> bytes:
    """Pre-encoded lines as they will be written: bytes ending in a newline."""
    if item and not item.endswith(b"\n"):
        raise ValueError("bytes yielded by read() must be complete lines ending in \\n")
    return bytes(item)


def _encode_uniform(parts: list[bytes], items: list[Any]) -> bool:  # Any: as encode_into
    """A list of only dicts or only Envelopes (what a batching read() yields) in one
    comprehension: a third less time per frame than dispatching item by item. False
    when the list is mixed, or something in it needs the retry or an error message."""
    kinds = {*map(type, items)}
    dumps, default, options = orjson.dumps, _default, _OPTIONS
    try:
        if kinds == _ONLY_ENVELOPES:
            parts += [
                dumps(
                    {"data": e.data, "metadata": {} if e.metadata is None else e.metadata},
                    default=default,
                    option=options,
                )
                for e in items
            ]
            return True
        if kinds == _ONLY_DICTS:
            parts += [dumps(d, default=default, option=options) for d in items]
            return True
    except orjson.JSONEncodeError:
        pass  # nothing was appended: the item-by-item loop retries and explains
    return False


def _as_frame(item: Union[Envelope, Checkpoint, Mapping[str, object]]) -> object:
    if isinstance(item, (Envelope, Checkpoint)):
        return item.to_dict()
    return dict(item)


def as_text(value: object) -> str:
    """A metadata value (a table's name, an operation) as text for a file name or a
    line: a string as it is, anything else as its JSON (`{"a":1}`, `true`; str() gave
    Python's `{'a': 1}`, `True`)."""
    return value if isinstance(value, str) else dump_json(value).decode()


def dump_json(value: object, *, sort_keys: bool = False, indent: bool = False) -> bytes:
    """`value` as JSON, for an output writing what it received: orjson's bytes, with
    every number exact (a `JsonNumber` as its text, an integer beyond 64 bits with all
    its digits, which orjson.dumps refuses). Anything JSON has no type for is written
    as its str(), as orjson's `default=str` would."""
    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, default=_received, option=option)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return dumps(value, sort_keys=sort_keys, indent=indent, default=_received_core)
