"""Checks of names and values in a dstream.hcl block: unknown attributes and blocks get
"did you mean", values their type and range, and every message says where and what to
write instead.
"""

from __future__ import annotations

import math
import re

from dstream.config.diagnostics import Diagnostics
from dstream.config.functions import as_bool, type_name
from dstream.config.limits import MAX_DURATION, MAX_FRAME_SIZE
from dstream.config.model import Location
from dstream.config.numbers import format_number
from dstream.config.syntax import Attribute, Block, Body
from dstream.errors import ConfigError, nearest
from dstream.protocol.frames import POLICIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Optional

_SIZE = r"(?i)^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)?\s*$"
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_DURATION_PART = r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)"
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PLAIN_NUMBER = r"[0-9]+(?:\.[0-9]+)?\Z"


def unknown_name(
    name: str, where: Location, context: str, allowed: tuple[str, ...], kind: str = "attribute"
) -> ConfigError:
    guess = nearest(name, allowed)
    hint = f"did you mean {guess}? " if guess else ""
    return ConfigError(
        f"unknown {kind} {name!r} in {context}",
        location=where,
        hint=hint + f"allowed: {', '.join(allowed)}",
    )


def name_problems(
    body: Body,
    context: str,
    attributes: tuple[str, ...],
    blocks: tuple[str, ...] = (),
) -> Iterator[ConfigError]:
    """Each attribute and block of `body` whose name is not allowed there, in order."""
    for name, attribute in body.attributes.items():
        if name not in attributes:
            yield unknown_name(name, attribute.location, context, attributes)
    for block in body.blocks:
        if block.type not in blocks:
            if block.type in attributes:
                yield ConfigError(
                    f"{block.type!r} in {context} is an attribute, not a block",
                    location=block.location,
                    hint=f"write `{block.type} = ...`",
                )
            else:
                yield unknown_name(
                    block.type, block.location, context, blocks or ("(none)",), "block"
                )


def check_names(
    body: Body,
    context: str,
    attributes: tuple[str, ...],
    blocks: tuple[str, ...] = (),
) -> None:
    """Raise the first of `name_problems`."""
    for problem in name_problems(body, context, attributes, blocks):
        raise problem


def one_block(body: Body, name: str, context: str) -> Optional[Block]:
    """The one `name` block of `body`, or None; a second block, the attribute form
    `name = {...}` beside it, or a label is an error."""
    blocks = body.blocks_of(name)
    if name in body.attributes and blocks:
        raise ConfigError(
            f"{context} has both `{name} = {{...}}` (at {body.attributes[name].location}) "
            f"and a {name} block",
            location=blocks[0].location,
            hint="use one of the two forms",
        )
    if len(blocks) > 1:
        raise ConfigError(
            f"{context} has more than one {name} block (first at {blocks[0].location})",
            location=blocks[1].location,
            hint=f"merge them into one {name} block",
        )
    if blocks and blocks[0].labels:
        raise ConfigError(
            f"{name} block takes no label",
            location=blocks[0].label_locations[0],
            hint=f"write `{name} {{ ... }}`",
        )
    return blocks[0] if blocks else None


def expect_string(value: object, attribute: Attribute, context: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    raise ConfigError(
        f"{attribute.name} in {context} must be a string, not a {type_name(value)}",
        location=attribute.value_location,
        hint=f'write {attribute.name} = "..."',
    )


def expect_bool(value: object, attribute: Attribute, context: str) -> bool:
    converted = as_bool(value)
    if converted is not None:
        return converted
    raise ConfigError(
        f"{attribute.name} in {context} must be true or false, not {show(value)}",
        location=attribute.value_location,
        hint=f"write {attribute.name} = true or {attribute.name} = false",
    )


def parse_size(value: object, attribute: Attribute, context: str) -> int:
    size: Optional[float] = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = re.match(_SIZE, value)
        if match:
            size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if size is not None and 1 <= size <= MAX_FRAME_SIZE:
        return int(size)
    too_big = size is not None and size > MAX_FRAME_SIZE
    raise ConfigError(
        f"{attribute.name} in {context} must be a size"
        + (f" of at most 1 GiB, not {show(value)}" if too_big else f", not {show(value)}"),
        location=attribute.value_location,
        hint='write bytes as a number or a size like "16MiB" (B, KB, MB, GB, KiB, MiB, GiB), '
        "from 1 byte to 1GiB",
    )


def parse_duration(value: object, attribute: Attribute, context: str) -> float:
    """Seconds: a number, or a string of numbers with units ("1m30s"); a string that is
    a plain number ("0", "2.5") is seconds too. From 0 to MAX_DURATION (one year)."""
    seconds: Optional[float] = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else math.inf
    elif isinstance(value, str):
        text = value.strip()
        parts = re.findall(_DURATION_PART, text)
        if re.match(_PLAIN_NUMBER, text):
            seconds = float(text)
        elif parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds is not None and 0 <= seconds <= MAX_DURATION:
        return seconds
    too_long = seconds is not None and seconds > MAX_DURATION
    raise ConfigError(
        f"{attribute.name} in {context} must be a duration"
        + (f" of at most a year, not {show(value)}" if too_long else f", not {show(value)}"),
        location=attribute.value_location,
        hint='write "500ms", "30s", "5m", "1h", "1m30s" or a number of seconds, up to "8760h"',
    )


def parse_positive_duration(
    value: object, attribute: Attribute, context: str, *, why: str, example: str
) -> float:
    """A duration (parse_duration) that cannot work at 0: `why` says what 0 would do,
    `example` is a value to suggest. Refused where it is written, rather than in every
    run (or restart) that uses it."""
    seconds = parse_duration(value, attribute, context)
    if seconds <= 0:
        raise ConfigError(
            f"{attribute.name} in {context} must be more than 0: {why}",
            location=attribute.value_location,
            hint=f"write a duration of more than 0, e.g. {attribute.name} = {example}, "
            "or leave it out for the default",
        )
    return seconds


def show(value: object) -> str:
    """A value in an error: strings and numbers as written, a list or object by its type
    (it may be large, or hold a secret)."""
    if isinstance(value, str):
        return repr(value)
    return f"a {type_name(value)}" if isinstance(value, (list, dict)) else repr(value)


def policy(value: object, attribute: Attribute, context: str) -> str:
    if value in POLICIES:
        return str(value)
    guess = nearest(str(value), POLICIES)
    hint = f'did you mean "{guess}"? ' if guess else ""
    raise ConfigError(
        f"invalid_frames in {context} must be one of {', '.join(POLICIES)}, not {show(value)}",
        location=attribute.value_location,
        hint=hint + "fail stops the task, skip drops the frame, dead_letter writes it aside",
    )


def warn_lock_config(diagnostics: Diagnostics, attribute: Attribute) -> None:
    """`lock_config` (top level or in a task) is the original's; read and ignored."""
    diagnostics.warn(
        "lock_config is ignored: dstream takes no distributed lock",
        attribute.location,
        hint="remove it; it is accepted so older configs keep working",
    )
