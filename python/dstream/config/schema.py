"""Blocks of a dstream.hcl -> the typed model, with the checks a user expects.

Unknown attributes and blocks get "did you mean"; values get their type and range
checked; every message names file:line:col and what to write instead.
"""

from __future__ import annotations

import math
import os
import re
from functools import partial
from typing import Any, Callable, Optional

from dstream.config.diagnostics import Diagnostics
from dstream.config.evaluate import Evaluator
from dstream.config.functions import format_number, type_name
from dstream.config.limits import MAX_DURATION, MAX_FRAME_SIZE
from dstream.config.model import (
    Location,
    MetricsSpec,
    ProviderSpec,
    RestartPolicy,
    StateSpec,
    TaskSpec,
)
from dstream.config.provider_config import locate_config
from dstream.config.syntax import Attribute, Block, Body
from dstream.errors import ConfigError, nearest
from dstream.protocol.frames import POLICIES

SOURCES = ("provider_path", "provider_ref", "provider_image")
DEPRECATED_SOURCES = {"plugin_path": "provider_path", "plugin_ref": "provider_ref"}
PROVIDER_ATTRIBUTES = (*SOURCES, "config", "env", "inherit_env", "lifecycle", *DEPRECATED_SOURCES)
PROVIDER_BLOCKS = ("config", "env")
TASK_ATTRIBUTES = (
    "type",
    "max_frame_size",
    "invalid_frames",
    "dead_letter_path",
    "passthrough",
    "start_timeout",
    "stop_grace",
    "commit_interval",
    "restart",
    "lock_config",
)
TASK_BLOCKS = ("input", "output", "restart")
RESTART_ATTRIBUTES = ("attempts", "backoff", "max_backoff")
STATE_ATTRIBUTES = ("backend", "path", "dsn", "table", "lease_ttl", "lease_renew_interval")
STATE_DURATIONS = ("lease_ttl", "lease_renew_interval")
STATE_BACKENDS = ("file", "postgres")
METRICS_ATTRIBUTES = ("addr",)

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")


def _unknown(
    name: str, where: Location, context: str, allowed: tuple[str, ...], kind: str = "attribute"
) -> ConfigError:
    guess = nearest(name, allowed)
    hint = f"did you mean {guess}? " if guess else ""
    return ConfigError(
        f"unknown {kind} {name!r} in {context}",
        location=where,
        hint=hint + f"allowed: {', '.join(allowed)}",
    )


def check_names(
    body: Body,
    context: str,
    attributes: tuple[str, ...],
    blocks: tuple[str, ...] = (),
) -> None:
    for name, attribute in body.attributes.items():
        if name not in attributes:
            raise _unknown(name, attribute.location, context, attributes)
    for block in body.blocks:
        if block.type not in blocks:
            if block.type in attributes:
                raise ConfigError(
                    f"{block.type!r} in {context} is an attribute, not a block",
                    location=block.location,
                    hint=f"write `{block.type} = ...`",
                )
            raise _unknown(block.type, block.location, context, blocks or ("(none)",), "block")


# -- value checks ------------------------------------------------------------------------


def expect_string(value: Any, attribute: Attribute, context: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    raise ConfigError(
        f"{attribute.name} in {context} must be a string, not a {type_name(value)}",
        location=attribute.value_location,
    )


def expect_bool(value: Any, attribute: Attribute, context: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ConfigError(
        f"{attribute.name} in {context} must be true or false, not {_show(value)}",
        location=attribute.value_location,
    )


def parse_size(value: Any, attribute: Attribute, context: str) -> int:
    size: Optional[float] = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if size is not None and 1 <= size <= MAX_FRAME_SIZE:
        return int(size)
    too_big = size is not None and size > MAX_FRAME_SIZE
    raise ConfigError(
        f"{attribute.name} in {context} must be a size"
        + (f" of at most 1 GiB, not {_show(value)}" if too_big else f", not {_show(value)}"),
        location=attribute.value_location,
        hint='write bytes as a number or a size like "16MiB" (B, KB, MB, GB, KiB, MiB, GiB), '
        "from 1 byte to 1GiB",
    )


def parse_duration(value: Any, attribute: Attribute, context: str) -> float:
    """Seconds: a number, or a string of numbers with units ("1m30s"); a string that is
    a plain number ("0", "2.5") is seconds too. From 0 to MAX_DURATION (one year)."""
    seconds: Optional[float] = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else math.inf
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if _PLAIN_NUMBER.match(text):
            seconds = float(text)
        elif parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds is not None and 0 <= seconds <= MAX_DURATION:
        return seconds
    too_long = seconds is not None and seconds > MAX_DURATION
    raise ConfigError(
        f"{attribute.name} in {context} must be a duration"
        + (f" of at most a year, not {_show(value)}" if too_long else f", not {_show(value)}"),
        location=attribute.value_location,
        hint='write "500ms", "30s", "5m", "1h", "1m30s" or a number of seconds, up to "8760h"',
    )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return f"a {type_name(value)}" if isinstance(value, (list, dict)) else repr(value)


# -- free-form config --------------------------------------------------------------------


def block_value(body: Body, evaluator: Evaluator, context: str) -> dict[str, Any]:
    """A block body as an object: nested blocks become objects, repeated ones lists."""
    out: dict[str, Any] = {}
    for name, attribute in body.attributes.items():
        out[name] = evaluator.eval(attribute.expr)
    seen: set[str] = set()
    repeated: set[str] = set()  # unlabelled block types already turned into a list
    for block in body.blocks:
        if block.type in body.attributes:
            first = body.attributes[block.type].location
            raise ConfigError(
                f"{block.type!r} in {context} is both an attribute (at {first}) and a block",
                location=block.location,
                hint="use one form",
            )
        value: Any = block_value(block.body, evaluator, f"{block.type} in {context}")
        for label in reversed(block.labels):
            value = {label: value}
        if block.type not in seen:
            out[block.type] = value
            seen.add(block.type)
        elif block.labels:
            _merge_labelled(out[block.type], value, block)
        elif block.type in repeated:
            out[block.type].append(value)
        else:
            out[block.type] = [out[block.type], value]
            repeated.add(block.type)
    return out


def _merge_labelled(into: dict[str, Any], value: dict[str, Any], block: Block) -> None:
    key = next(iter(value))
    if key in into:
        if isinstance(into[key], dict) and isinstance(value[key], dict) and len(block.labels) > 1:
            _merge_labelled(into[key], value[key], block)
            return
        raise ConfigError(
            f"block {block.type} {' '.join(repr(lb) for lb in block.labels)} appears twice",
            location=block.location,
            hint="give each labelled block a different label",
        )
    into[key] = value[key]


def _object_attribute(attribute: Attribute, evaluator: Evaluator, context: str) -> dict[str, Any]:
    value = evaluator.eval(attribute.expr)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{attribute.name} in {context} must be an object {{ ... }}, not a {type_name(value)}",
            location=attribute.value_location,
        )
    return value


# -- providers and tasks -----------------------------------------------------------------


def build_provider(
    block: Block, evaluator: Evaluator, task: str, diagnostics: Diagnostics
) -> ProviderSpec:
    role = block.type
    context = f'{role} of task "{task}"'
    if block.labels:
        raise ConfigError(
            f"{role} block takes no label",
            location=block.label_locations[0],
            hint=f"write `{role} {{ ... }}`",
        )
    body = block.body
    check_names(body, context, PROVIDER_ATTRIBUTES, PROVIDER_BLOCKS)
    spec = ProviderSpec(role=role, location=block.location)
    chosen: list[Attribute] = []
    for name, attribute in body.attributes.items():
        if name in DEPRECATED_SOURCES:
            new = DEPRECATED_SOURCES[name]
            if new in body.attributes:
                raise ConfigError(
                    f"{context} sets both {name} and {new}",
                    location=attribute.location,
                    hint=f"remove {name}: it is the old name of {new}",
                )
            diagnostics.warn(
                f"{name} is deprecated; it is read as {new}",
                attribute.location,
                hint=f"rename it to {new}",
            )
        target = DEPRECATED_SOURCES.get(name, name)
        if target in SOURCES:
            value = expect_string(evaluator.eval(attribute.expr), attribute, context)
            if not value:
                raise ConfigError(
                    f"{name} in {context} is empty", location=attribute.value_location
                )
            setattr(spec, target, value)
            chosen.append(attribute)
    if not chosen:
        raise ConfigError(
            f"{context} names no provider",
            location=block.location,
            hint="set exactly one of provider_path, provider_ref or provider_image",
        )
    if len(chosen) > 1:
        names = " and ".join(a.name for a in chosen)
        raise ConfigError(
            f"{context} sets {names}; a provider comes from exactly one source",
            location=chosen[1].location,
            hint="keep one of provider_path, provider_ref or provider_image",
        )
    spec.config = _single(body, "config", evaluator, context)
    spec.config_locations = locate_config(body, evaluator)
    if "lifecycle" in body.attributes:
        lifecycle = body.attributes["lifecycle"]
        spec.lifecycle = expect_bool(evaluator.eval(lifecycle.expr), lifecycle, context)
    env = _single(body, "env", evaluator, context)
    where = (
        body.attributes["env"].value_location
        if "env" in body.attributes
        else (body.blocks_of("env")[0].location if body.blocks_of("env") else block.location)
    )
    for key, value in env.items():
        spec.env[key] = _env_entry(key, value, where, context)
    if "inherit_env" in body.attributes:
        spec.inherit_env = _inherit_env(body.attributes["inherit_env"], evaluator, context)
    return spec


def _inherit_env(attribute: Attribute, evaluator: Evaluator, context: str) -> tuple[str, ...]:
    """Names of dstream's environment variables the provider also gets; never one of
    dstream's own credentials (docs/security.md, "The provider environment")."""
    from dstream.config.redact import is_own_credential

    names = evaluator.eval(attribute.expr)
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            f"inherit_env in {context} must be a list of variable names",
            location=attribute.value_location,
            hint='write inherit_env = ["PGPASSWORD", "KRB5CCNAME"]',
        )
    refused = [n for n in names if is_own_credential(n)]
    if refused:
        raise ConfigError(
            f"inherit_env in {context} names {', '.join(refused)}: dstream's own "
            "settings and credentials never reach a provider",
            location=attribute.value_location,
            hint="pass what the provider needs through env = { NAME = var.x } "
            "(a sensitive variable stays masked in every output)",
        )
    return tuple(names)


def _env_entry(key: str, value: Any, where: Location, context: str) -> str:
    """One environment variable as execve takes it: a name without `=` or NUL, a text
    value without NUL."""
    if not key or "=" in key or "\0" in key:
        raise ConfigError(
            f"env name {key!r} in {context} cannot name an environment variable",
            location=where,
            hint="names are non-empty and hold neither `=` nor a NUL character",
        )
    if isinstance(value, (list, dict)) or value is None:
        raise ConfigError(
            f"env {key} in {context} must be a string, not a {type_name(value)}",
            location=where,
            hint="environment values are text; use jsonencode(...) for structured values",
        )
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value if isinstance(value, str) else format_number(value)
    if "\0" in text:
        raise ConfigError(
            f"env {key} in {context} holds a NUL character, which no environment can carry",
            location=where,
            hint="remove the \\u0000 from the value",
        )
    return text


def _single(body: Body, name: str, evaluator: Evaluator, context: str) -> dict[str, Any]:
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
    if blocks:
        if blocks[0].labels:
            raise ConfigError(f"{name} block takes no label", location=blocks[0].label_locations[0])
        return block_value(blocks[0].body, evaluator, f"{name} of {context}")
    if name in body.attributes:
        return _object_attribute(body.attributes[name], evaluator, context)
    return {}


def build_task(block: Block, evaluator: Evaluator, diagnostics: Diagnostics) -> Optional[TaskSpec]:
    """The task, or None when it has errors (each recorded in `diagnostics`)."""
    errors_before = len(diagnostics.errors)
    task = diagnostics.attempt(lambda: _build_task(block, evaluator, diagnostics))
    if len(diagnostics.errors) > errors_before:
        return None
    return task


def _build_task(block: Block, evaluator: Evaluator, diagnostics: Diagnostics) -> TaskSpec:
    if len(block.labels) != 1:
        where = block.label_locations[1] if len(block.labels) > 1 else block.location
        raise ConfigError(
            f"a task block takes exactly one label, its name; got {len(block.labels)}",
            location=where,
            hint='write task "NAME" { ... }',
        )
    name = block.labels[0]
    context = f'task "{name}"'
    body = block.body
    attributes = body.attributes
    task_type = "providers"
    if "type" in attributes:
        task_type = expect_string(
            evaluator.eval(attributes["type"].expr), attributes["type"], context
        )
        if task_type != "providers":
            hint = 'remove `type` or set type = "providers", with input { } and output { } blocks'
            if task_type in ("plugin", "ingester"):
                hint = f'type "{task_type}" was the original DStream\'s single-plugin mode; ' + hint
            raise ConfigError(
                f'task type {task_type!r} is not supported; tasks have type "providers"',
                location=attributes["type"].value_location,
                hint=hint,
            )
    for old in DEPRECATED_SOURCES:
        if old in attributes:
            raise ConfigError(
                f"{old} at task level belongs to the original's single-plugin mode",
                location=attributes[old].location,
                hint=f"move it into the input {{ }} or output {{ }} block as "
                f"{DEPRECATED_SOURCES[old]}",
            )
    check_names(body, context, TASK_ATTRIBUTES, TASK_BLOCKS)
    if "lock_config" in attributes:
        diagnostics.warn(
            "lock_config is ignored: dstream takes no distributed lock",
            attributes["lock_config"].location,
            hint="remove it; it is accepted so older configs keep working",
        )
    check = diagnostics.attempt
    sides: dict[str, ProviderSpec] = {}
    for role in ("input", "output"):
        side = check(partial(_side, body, role, block, evaluator, name, diagnostics))
        if side is not None:
            sides[role] = side
    if len(sides) < 2:
        return TaskSpec(name=name, input=ProviderSpec("input"), output=ProviderSpec("output"))
    task = TaskSpec(
        name=name, input=sides["input"], output=sides["output"], location=block.location
    )
    readers: list[tuple[str, Callable[[Any, Attribute, str], Any], str]] = [
        ("max_frame_size", parse_size, "max_frame_size"),
        ("invalid_frames", _policy, "invalid_frames"),
        ("dead_letter_path", expect_string, "dead_letter_path"),
        ("start_timeout", parse_duration, "start_timeout"),
        ("stop_grace", parse_duration, "stop_grace"),
        ("commit_interval", parse_duration, "commit_interval"),
    ]
    for attribute_name, convert, field_name in readers:
        store = partial(setattr, task, field_name)
        check(partial(_read, attributes, attribute_name, evaluator, context, convert, store))
    check(
        lambda: _read(
            attributes,
            "passthrough",
            evaluator,
            context,
            expect_bool,
            lambda v: setattr(task, "validate", not v),
        )
    )
    if task.dead_letter_path and "dead_letter_path" in attributes:
        check(
            partial(
                _check_dead_letter_path,
                task.dead_letter_path,
                evaluator.module.base_dir,
                attributes["dead_letter_path"],
            )
        )
    if task.invalid_frames == "dead_letter" and not task.dead_letter_path:
        raise ConfigError(
            f'{context} sets invalid_frames = "dead_letter" without dead_letter_path',
            location=attributes["invalid_frames"].value_location,
            hint='add dead_letter_path = "dead/NAME.jsonl" (relative to the config directory)',
        )
    restart = check(lambda: _restart(body, evaluator, context))
    if restart is not None:
        task.restart = restart
    return task


def _check_dead_letter_path(path: str, base_dir: str, attribute: Attribute) -> None:
    """Refuse at load (lint) what would fail at the first bad frame: a path that is a
    directory, or whose directory would have to be created under a regular file."""
    full = os.path.join(base_dir, os.path.expanduser(path))
    if "\0" in path or os.path.isdir(full):
        raise ConfigError(
            f"dead_letter_path {path!r} is a directory (or not a path), not a file",
            location=attribute.value_location,
            hint='name a file, e.g. dead_letter_path = "dead/TASK.jsonl"',
        )
    probe = os.path.dirname(os.path.abspath(full))
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ConfigError(
            f"dead_letter_path {path!r} lies under {probe}, which is a file, not a directory",
            location=attribute.value_location,
            hint="choose a path whose directories are directories (or do not exist yet)",
        )


def _side(
    body: Body, role: str, block: Block, evaluator: Evaluator, name: str, diagnostics: Diagnostics
) -> ProviderSpec:
    context = f'task "{name}"'
    found = body.blocks_of(role)
    if not found:
        raise ConfigError(
            f"{context} has no {role} block",
            location=block.location,
            hint=f'add {role} {{ provider_path = "..." }}',
        )
    if len(found) > 1:
        raise ConfigError(
            f"{context} has more than one {role} block (first at {found[0].location})",
            location=found[1].location,
            hint=f"a task has one {role}; use another task for another {role}",
        )
    return build_provider(found[0], evaluator, name, diagnostics)


def _read(
    attributes: dict[str, Attribute],
    name: str,
    evaluator: Evaluator,
    context: str,
    convert: Callable[[Any, Attribute, str], Any],
    store: Callable[[Any], None],
) -> None:
    if name in attributes:
        attribute = attributes[name]
        store(convert(evaluator.eval(attribute.expr), attribute, context))


def _policy(value: Any, attribute: Attribute, context: str) -> str:
    if value in POLICIES:
        return str(value)
    guess = nearest(str(value), POLICIES)
    hint = f'did you mean "{guess}"? ' if guess else ""
    raise ConfigError(
        f"invalid_frames in {context} must be one of {', '.join(POLICIES)}, not {_show(value)}",
        location=attribute.value_location,
        hint=hint + "fail stops the task, skip drops the frame, dead_letter writes it aside",
    )


def _restart(body: Body, evaluator: Evaluator, context: str) -> RestartPolicy:
    blocks = body.blocks_of("restart")
    where_context = f"restart of {context}"
    if "restart" in body.attributes and blocks:
        raise ConfigError(
            f"{context} has both `restart = {{...}}` and a restart block",
            location=blocks[0].location,
            hint="use one of the two forms",
        )
    if len(blocks) > 1:
        raise ConfigError(f"{context} has more than one restart block", location=blocks[1].location)
    values: dict[str, Any]
    locations: dict[str, Attribute] = {}
    if blocks:
        check_names(blocks[0].body, where_context, RESTART_ATTRIBUTES)
        locations = blocks[0].body.attributes
        values = {n: evaluator.eval(a.expr) for n, a in locations.items()}
    elif "restart" in body.attributes:
        attribute = body.attributes["restart"]
        values = _object_attribute(attribute, evaluator, context)
        for key in values:
            if key not in RESTART_ATTRIBUTES:
                raise _unknown(key, attribute.value_location, where_context, RESTART_ATTRIBUTES)
        locations = {key: attribute for key in values}
    else:
        return RestartPolicy()
    policy = RestartPolicy()
    for key, value in values.items():
        attribute = locations[key]
        named = Attribute(key, attribute.expr, attribute.location, attribute.value_location)
        if key == "attempts":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(
                    f"attempts in {where_context} must be a whole number >= 0, not {_show(value)}",
                    location=attribute.value_location,
                )
            policy.attempts = value
        elif key == "backoff":
            policy.backoff = parse_duration(value, named, where_context)
        else:
            policy.max_backoff = parse_duration(value, named, where_context)
    return policy


# -- top-level blocks --------------------------------------------------------------------


def build_state(block: Block, evaluator: Evaluator) -> StateSpec:
    context = "state"
    check_names(block.body, context, STATE_ATTRIBUTES)
    attributes = block.body.attributes
    spec = StateSpec(location=block.location)
    for name, attribute in attributes.items():
        value = evaluator.eval(attribute.expr)
        if name in STATE_DURATIONS:
            setattr(spec, name, parse_duration(value, attribute, context))
        else:
            setattr(spec, name, expect_string(value, attribute, context))
    if spec.backend not in STATE_BACKENDS:
        guess = nearest(spec.backend, STATE_BACKENDS)
        raise ConfigError(
            f"state backend {spec.backend!r} is not known; use one of {', '.join(STATE_BACKENDS)}",
            location=attributes["backend"].value_location,
            hint=f'did you mean "{guess}"?' if guess else None,
        )
    if spec.backend == "postgres" and not spec.dsn:
        raise ConfigError(
            'state backend "postgres" needs dsn',
            location=block.location,
            hint='add dsn = "postgresql://user@host/db" (or var./env() for the password)',
        )
    return spec


def build_metrics(block: Block, evaluator: Evaluator) -> MetricsSpec:
    check_names(block.body, "metrics", METRICS_ATTRIBUTES)
    spec = MetricsSpec()
    attribute: Optional[Attribute] = block.body.attributes.get("addr")
    if attribute is not None:
        addr = expect_string(evaluator.eval(attribute.expr), attribute, "metrics")
        host, _, port = addr.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"metrics addr {addr!r} is not host:port",
                location=attribute.value_location,
                hint='write addr = "127.0.0.1:9464"',
            )
        spec.addr = addr
    return spec
