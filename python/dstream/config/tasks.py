"""A `task` block -> TaskSpec: its input and output, the settings of its run (frame
size, invalid-frame policy, timeouts) and its restart policy.
"""

from __future__ import annotations

import os
from functools import partial

from dstream.config.checks import (
    check_names,
    expect_bool,
    expect_string,
    name_problems,
    one_block,
    parse_duration,
    parse_positive_duration,
    parse_size,
    policy,
    show,
    unknown_name,
    warn_lock_config,
)
from dstream.config.diagnostics import Diagnostics
from dstream.config.evaluate import Evaluator
from dstream.config.limits import TASK_NAME_HINT, task_name_problem
from dstream.config.model import ProviderSpec, RestartPolicy, TaskSpec
from dstream.config.schema import (
    DEPRECATED_SOURCES,
    build_provider,
    object_attribute,
    read_provider_source,
)
from dstream.config.syntax import Attribute, Block, Body
from dstream.errors import ConfigError
from dstream.protocol.frames import ROLES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream.protocol.values import JsonObject, JsonValue

TASK_ATTRIBUTES = (
    "type",
    "max_frame_size",
    "invalid_frames",
    "dead_letter_path",
    "passthrough",
    "start_timeout",
    "stop_grace",
    "flush_timeout",
    "commit_interval",
    "restart",
    "lock_config",
)
TASK_BLOCKS = ("input", "output", "restart")
RESTART_ATTRIBUTES = ("attempts", "backoff", "max_backoff", "reset_after")


def evaluate_task(
    block: Block, evaluator: Evaluator, diagnostics: Diagnostics
) -> Optional[TaskSpec]:
    """The task as far as it evaluates, with errors (recorded in `diagnostics`: the task
    is then not used) or without: None when either provider block did not evaluate.
    Lint checks the providers of a task whose other settings failed."""
    return diagnostics.attempt(lambda: _build_task(block, evaluator, diagnostics))


def outline_task(block: Block, evaluator: Evaluator, name: str) -> TaskSpec:
    """What is known of a task that cannot be used (`dstream list`): where it is, and
    each provider's source where that evaluates without what the task lacks (None in
    every source where it does not)."""
    sides: dict[str, ProviderSpec] = {}
    for role in ROLES:
        sides[role] = spec = ProviderSpec(role)
        found = block.body.blocks_of(role)
        if len(found) == 1:
            spec.location = found[0].location
            try:
                read_provider_source(spec, found[0], evaluator, f'task "{name}"', Diagnostics())
            except ConfigError:  # the failure the task is unusable for, or another one
                spec.provider_path = spec.provider_ref = spec.provider_image = None
    return TaskSpec(
        name=name, input=sides["input"], output=sides["output"], location=block.location
    )


def _build_task(block: Block, evaluator: Evaluator, diagnostics: Diagnostics) -> Optional[TaskSpec]:
    name = _task_name(block)
    context = f'task "{name}"'
    attributes = block.body.attributes
    _check_task_type(attributes, evaluator, context)
    _refuse_task_level_sources(attributes)
    # Recorded, not raised: a misspelt name hides none of the task's other checks.
    for problem in name_problems(block.body, context, TASK_ATTRIBUTES, TASK_BLOCKS):
        diagnostics.error(problem)
    if "lock_config" in attributes:
        warn_lock_config(diagnostics, attributes["lock_config"])
    sides: dict[str, ProviderSpec] = {}
    for role in ROLES:
        side = diagnostics.attempt(partial(_side, block, role, evaluator, name, diagnostics))
        if side is not None:
            sides[role] = side
    if len(sides) < 2:  # the missing side's error is recorded; the task is not used
        return None
    task = TaskSpec(
        name=name, input=sides["input"], output=sides["output"], location=block.location
    )
    _read_settings(task, attributes, evaluator, context, diagnostics)
    restart = diagnostics.attempt(lambda: _restart(block.body, evaluator, context))
    if restart is not None:
        task.restart = restart
    return task


def _task_name(block: Block) -> str:
    if len(block.labels) != 1:
        where = block.label_locations[1] if len(block.labels) > 1 else block.location
        raise ConfigError(
            f"a task block takes exactly one label, its name; got {len(block.labels)}",
            location=where,
            hint='write task "NAME" { ... }',
        )
    problem = task_name_problem(block.labels[0])
    if problem:
        raise ConfigError(problem, location=block.label_locations[0], hint=TASK_NAME_HINT)
    return block.labels[0]


def _check_task_type(attributes: dict[str, Attribute], evaluator: Evaluator, context: str) -> None:
    """`type` may only say "providers": the original's single-plugin tasks are gone."""
    if "type" not in attributes:
        return
    task_type = expect_string(evaluator.eval(attributes["type"].expr), attributes["type"], context)
    if task_type != "providers":
        hint = 'remove `type` or set type = "providers", with input { } and output { } blocks'
        if task_type in ("plugin", "ingester"):
            hint = f'type "{task_type}" was the original DStream\'s single-plugin mode; ' + hint
        raise ConfigError(
            f'task type {task_type!r} is not supported; tasks have type "providers"',
            location=attributes["type"].value_location,
            hint=hint,
        )


def _refuse_task_level_sources(attributes: dict[str, Attribute]) -> None:
    for old in DEPRECATED_SOURCES:
        if old in attributes:
            raise ConfigError(
                f"{old} at task level belongs to the original's single-plugin mode",
                location=attributes[old].location,
                hint=f"move it into the input {{ }} or output {{ }} block as "
                f"{DEPRECATED_SOURCES[old]}",
            )


# The task's settings read by one converter each: (attribute and TaskSpec field, converter).
_SETTINGS: tuple[tuple[str, Callable[[JsonValue, Attribute, str], object]], ...] = (
    ("max_frame_size", parse_size),
    ("invalid_frames", policy),
    ("dead_letter_path", expect_string),
    (
        "start_timeout",
        partial(
            parse_positive_duration,
            why="no provider can answer within 0 s of its start, so every run would fail",
            example='"30s"',
        ),
    ),
    # 0: a stop kills the providers at once (docs/configuration.md)
    ("stop_grace", parse_duration),
    (
        "flush_timeout",
        partial(
            parse_positive_duration,
            why="the output would have no time to flush and exit after the end of the "
            "stream, so a run that ends would fail",
            example='"5m"',
        ),
    ),
    ("commit_interval", parse_duration),  # 0: every checkpoint stored as it arrives
)


def _read_settings(
    task: TaskSpec,
    attributes: dict[str, Attribute],
    evaluator: Evaluator,
    context: str,
    diagnostics: Diagnostics,
) -> None:
    check = diagnostics.attempt
    for name, convert in _SETTINGS:
        store = partial(setattr, task, name)
        check(partial(_read, attributes, name, evaluator, context, convert, store))
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
    if not task.validate:
        for name in ("invalid_frames", "dead_letter_path"):
            if name in attributes:  # a policy for frames the pump never reads
                raise ConfigError(
                    f"{context} sets {name} with passthrough = true, which forwards every "
                    "line unread",
                    location=attributes[name].value_location,
                    hint=f"remove {name}, or passthrough to have each frame checked",
                )
    if task.dead_letter_path and task.invalid_frames != "dead_letter":  # silently unused
        raise ConfigError(
            f"{context} sets dead_letter_path, but invalid_frames is "
            f'"{task.invalid_frames}": no frame is ever written there',
            location=attributes["dead_letter_path"].value_location,
            hint='add invalid_frames = "dead_letter" to the task, or remove dead_letter_path',
        )
    if task.invalid_frames == "dead_letter" and not task.dead_letter_path:
        raise ConfigError(
            f'{context} sets invalid_frames = "dead_letter" without dead_letter_path',
            location=attributes["invalid_frames"].value_location,
            hint='add dead_letter_path = "dead/NAME.jsonl" (relative to the config directory)',
        )


def _check_dead_letter_path(path: str, base_dir: str, attribute: Attribute) -> None:
    """Refuse at load (lint) what would fail at the first bad frame: a path that is a
    directory or anything else but a regular file (a FIFO blocks its writer, a device
    swallows or refuses the records), or whose directory would have to be created under
    a regular file."""
    full = os.path.join(base_dir, os.path.expanduser(path))
    if "\0" in path or os.path.isdir(full):
        raise ConfigError(
            f"dead_letter_path {path!r} is a directory (or not a path), not a file",
            location=attribute.value_location,
            hint='name a file, e.g. dead_letter_path = "dead/TASK.jsonl"',
        )
    if os.path.exists(full) and not os.path.isfile(full):
        raise ConfigError(
            f"dead_letter_path {path!r} exists and is not a regular file (a FIFO, a "
            "device or a socket): dead letters are appended to a file and synced to disk",
            location=attribute.value_location,
            hint='name a regular file, e.g. dead_letter_path = "dead/TASK.jsonl"',
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
    block: Block, role: str, evaluator: Evaluator, name: str, diagnostics: Diagnostics
) -> ProviderSpec:
    context = f'task "{name}"'
    found = block.body.blocks_of(role)
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
    convert: Callable[[JsonValue, Attribute, str], object],
    store: Callable[[object], None],
) -> None:
    if name in attributes:
        attribute = attributes[name]
        store(convert(evaluator.eval(attribute.expr), attribute, context))


def _restart(body: Body, evaluator: Evaluator, context: str) -> RestartPolicy:
    block = one_block(body, "restart", context)
    where_context = f"restart of {context}"
    values: JsonObject
    locations: dict[str, Attribute] = {}
    if block is not None:
        check_names(block.body, where_context, RESTART_ATTRIBUTES)
        locations = block.body.attributes
        values = {n: evaluator.eval(a.expr) for n, a in locations.items()}
    elif "restart" in body.attributes:
        attribute = body.attributes["restart"]
        values = object_attribute(attribute, evaluator, context)
        for key in values:
            if key not in RESTART_ATTRIBUTES:
                raise unknown_name(key, attribute.value_location, where_context, RESTART_ATTRIBUTES)
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
                    f"attempts in {where_context} must be a whole number >= 0, not {show(value)}",
                    location=attribute.value_location,
                    hint="write how many times a failed run starts again, e.g. attempts = 3",
                )
            policy.attempts = value
        elif key == "backoff":
            policy.backoff = parse_duration(value, named, where_context)
        elif key == "reset_after":
            policy.reset_after = parse_positive_duration(
                value,
                named,
                where_context,
                why="every attempt would count as healthy, and a failing task would restart "
                "for ever",
                example='"10m"',
            )
        else:
            policy.max_backoff = parse_duration(value, named, where_context)
    return policy
