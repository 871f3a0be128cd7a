"""The provider blocks of a task (`input`, `output`) and the project-wide `state` and
`metrics` blocks -> the typed model. A provider's `config` is free-form: any block
body becomes a plain object. The checks of names and values are in config/checks.py,
the task block in config/tasks.py.
"""

from __future__ import annotations

from dstream.config.checks import (
    check_names,
    expect_bool,
    expect_string,
    one_block,
    parse_duration,
)
from dstream.config.diagnostics import Diagnostics
from dstream.config.evaluate import Evaluator
from dstream.config.functions import type_name
from dstream.config.model import (
    COMPANIONS,
    MAX_STATE_TABLE_NAME,
    POSTGRES_NAME_BYTES,
    Location,
    MetricsSpec,
    ProviderSpec,
    StateSpec,
    parse_addr,
    state_table_ok,
)
from dstream.config.numbers import format_number
from dstream.config.provider_config import locate_config
from dstream.config.references import provider_reference
from dstream.config.scope import NOWHERE, UNKNOWN, MissingValue
from dstream.config.syntax import Attribute, Block, Body
from dstream.errors import ConfigError, nearest
from dstream.records import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.protocol.values import JsonObject, JsonValue

SOURCES = ("provider_path", "provider_ref", "provider_image")
DEPRECATED_SOURCES = {"plugin_path": "provider_path", "plugin_ref": "provider_ref"}
# The original's `provider` name beside the path: optional, and unused there too
# (ORIGINAL.md section 2). Read with a warning, never suggested for a misspelt name.
IGNORED_ATTRIBUTES = ("provider",)
PROVIDER_ATTRIBUTES = (*SOURCES, "config", "env", "inherit_env", "lifecycle", *DEPRECATED_SOURCES)
PROVIDER_BLOCKS = ("config", "env")
STATE_ATTRIBUTES = ("backend", "path", "dsn", "table", "lease_ttl", "lease_renew_interval")
STATE_DURATIONS = ("lease_ttl", "lease_renew_interval")
STATE_BACKENDS = ("file", "postgres")
METRICS_ATTRIBUTES = ("addr",)


# -- free-form config --------------------------------------------------------------------


def block_value(
    body: Body, evaluator: Evaluator, context: str, *, unknown_ok: bool = False
) -> JsonObject:
    """A block body as an object: nested blocks become objects, repeated ones lists.
    `unknown_ok` (a provider's config): where the command needs no variable's value
    (lint), a key that needs one without a value is UNKNOWN, so the rest is checked."""
    out: JsonObject = {}
    module = evaluator.module
    for name, attribute in body.attributes.items():
        try:
            out[name] = evaluator.eval(attribute.expr)
        except MissingValue as exc:
            if not unknown_ok or module.needed != NOWHERE:
                raise
            module.unknown_uses.append(exc)
            out[name] = UNKNOWN
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
        value: JsonValue = block_value(
            block.body, evaluator, f"{block.type} in {context}", unknown_ok=unknown_ok
        )
        for label in reversed(block.labels):
            value = {label: value}
        existing = out.get(block.type)
        if block.type not in seen:
            out[block.type] = value
            seen.add(block.type)
        elif block.labels:
            if not isinstance(existing, dict) or not isinstance(value, dict):
                # Unlabelled blocks of this type already became a list: no key to merge at.
                raise ConfigError(
                    f"a labelled {block.type} block in {context} follows repeated "
                    f"unlabelled {block.type} blocks",
                    location=block.location,
                    hint=f"label every {block.type} block, or none",
                )
            _merge_labelled(existing, value, block)
        elif block.type in repeated and isinstance(existing, list):
            existing.append(value)
        else:
            out[block.type] = [existing, value]
            repeated.add(block.type)
    return out


def _merge_labelled(into: JsonObject, value: JsonObject, block: Block) -> None:
    key = next(iter(value))
    if key in into:
        inner, added = into[key], value[key]
        if isinstance(inner, dict) and isinstance(added, dict) and len(block.labels) > 1:
            _merge_labelled(inner, added, block)
            return
        raise ConfigError(
            f"block {block.type} {' '.join(repr(lb) for lb in block.labels)} appears twice",
            location=block.location,
            hint="give each labelled block a different label",
        )
    into[key] = value[key]


def object_attribute(attribute: Attribute, evaluator: Evaluator, context: str) -> JsonObject:
    value = evaluator.eval(attribute.expr)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{attribute.name} in {context} must be an object {{ ... }}, not a {type_name(value)}",
            location=attribute.value_location,
            hint=f"write a block, {attribute.name} {{ key = value }}, or an object, "
            f"{attribute.name} = {{ key = value }}",
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
    body = _without_ignored(block.body, context, diagnostics)
    check_names(body, context, PROVIDER_ATTRIBUTES, PROVIDER_BLOCKS)
    spec = ProviderSpec(role=role, location=block.location)
    read_provider_source(spec, block, evaluator, context, diagnostics)
    spec.config = _single(body, "config", evaluator, context)
    spec.config_locations = locate_config(body, evaluator)
    if "lifecycle" in body.attributes:
        lifecycle = body.attributes["lifecycle"]
        spec.lifecycle = expect_bool(evaluator.eval(lifecycle.expr), lifecycle, context)
    env = _single(body, "env", evaluator, context)
    spec.env = _environment(env, block, context)
    if "inherit_env" in body.attributes:
        spec.inherit_env = _inherit_env(body.attributes["inherit_env"], evaluator, context)
    return spec


def _without_ignored(body: Body, context: str, diagnostics: Diagnostics) -> Body:
    """`body` without the attributes the original declared and never used, each one
    warned about (its value is not evaluated: nothing reads it)."""
    ignored = [body.attributes[name] for name in IGNORED_ATTRIBUTES if name in body.attributes]
    if not ignored:
        return body
    for attribute in ignored:
        diagnostics.warn(
            f'{attribute.name} = "..." in {context} has no effect (the original ignored it '
            "too); the provider comes from provider_path, provider_ref or provider_image",
            attribute.location,
            hint=f"remove {attribute.name} = ...",
        )
    kept = {name: a for name, a in body.attributes.items() if name not in IGNORED_ATTRIBUTES}
    return replace(body, attributes=kept)


def _inherit_env(attribute: Attribute, evaluator: Evaluator, context: str) -> tuple[str, ...]:
    """Names of dstream's environment variables the provider also gets; never one of
    dstream's own credentials (docs/security.md, "The provider environment")."""
    from dstream.config.redact import is_own_credential

    value = evaluator.eval(attribute.expr)
    names = [n for n in value if isinstance(n, str) and n] if isinstance(value, list) else []
    if not isinstance(value, list) or len(names) != len(value):
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


def _env_entry(key: str, value: JsonValue, where: Location, context: str) -> str:
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


def read_provider_source(
    spec: ProviderSpec, block: Block, evaluator: Evaluator, context: str, diagnostics: Diagnostics
) -> None:
    """Set the one source the provider comes from (path, OCI reference or image),
    reading the original's plugin_* names with a warning."""
    body = block.body
    chosen: list[Attribute] = []
    for name, attribute in body.attributes.items():
        if name in DEPRECATED_SOURCES:
            _warn_deprecated_source(name, attribute, body, context, diagnostics)
        target = DEPRECATED_SOURCES.get(name, name)
        if target in SOURCES:
            value = expect_string(evaluator.eval(attribute.expr), attribute, context)
            if not value:
                raise ConfigError(
                    f"{name} in {context} is empty",
                    location=attribute.value_location,
                    hint=f"give {name} a value, or remove it",
                )
            if target in ("provider_ref", "provider_image"):
                provider_reference(value, attribute, context)
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


def _warn_deprecated_source(
    name: str, attribute: Attribute, body: Body, context: str, diagnostics: Diagnostics
) -> None:
    new = DEPRECATED_SOURCES[name]
    if new in body.attributes:
        raise ConfigError(
            f"{context} sets both {name} and {new}",
            location=attribute.location,
            hint=f"remove {name}: it is the old name of {new}",
        )
    diagnostics.warn(
        f"{name} is deprecated; it is read as {new}", attribute.location, hint=f"rename it to {new}"
    )


def _environment(env: JsonObject, block: Block, context: str) -> dict[str, str]:
    """The provider's `env`, each entry checked; errors point at where env was written."""
    body = block.body
    where = (
        body.attributes["env"].value_location
        if "env" in body.attributes
        else (body.blocks_of("env")[0].location if body.blocks_of("env") else block.location)
    )
    return {key: _env_entry(key, entry, where, context) for key, entry in env.items()}


def _single(body: Body, name: str, evaluator: Evaluator, context: str) -> JsonObject:
    block = one_block(body, name, context)
    if block is not None:
        unknown_ok = name == "config"  # a config value may be unknown to lint, an env not
        return block_value(block.body, evaluator, f"{name} of {context}", unknown_ok=unknown_ok)
    if name in body.attributes:
        return object_attribute(body.attributes[name], evaluator, context)
    return {}


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
            hint=f'did you mean "{guess}"?' if guess else f'set backend = "{STATE_BACKENDS[0]}"',
        )
    if spec.backend == "postgres" and not spec.dsn:
        raise ConfigError(
            'state backend "postgres" needs dsn',
            location=block.location,
            hint='add dsn = "postgresql://user@host/db" (or var./env() for the password)',
        )
    if "dsn" in attributes:
        spec.dsn_location = attributes["dsn"].value_location
    if "table" in attributes:
        spec.table_location = attributes["table"].value_location
    if "lease_ttl" in attributes:
        spec.lease_ttl_location = attributes["lease_ttl"].value_location
    if "lease_renew_interval" in attributes:
        spec.lease_renew_interval_location = attributes["lease_renew_interval"].value_location
    if spec.backend == "postgres":
        check_postgres_state(spec)
    return spec


def check_postgres_state(spec: StateSpec) -> None:
    """What the postgres state backend cannot use, at the value's file:line:col: found
    as the file is read (so `lint` reports it) and by `open_store` for a spec built in
    code. A dsn libpq would read as another host is refused before anything connects:
    its errors would quote a piece of the password."""
    from dstream.config.connstr import AMBIGUOUS_DSN, AMBIGUOUS_DSN_HINT, ambiguous_dsn

    if spec.dsn and ambiguous_dsn(spec.dsn):
        raise ConfigError(
            f"the state dsn {AMBIGUOUS_DSN}",
            location=spec.dsn_location or spec.location,
            hint=AMBIGUOUS_DSN_HINT,
        )
    if not state_table_ok(spec.table):
        raise ConfigError(
            f"invalid state table name {spec.table!r}",
            location=spec.table_location or spec.location,
            hint='use a plain identifier or schema.table, e.g. table = "dstream_state"',
        )
    *schema, name = spec.table.split(".")  # identifiers: ASCII, a byte a character
    limits = [(part, POSTGRES_NAME_BYTES, "schema") for part in schema]
    for part, limit, what in [*limits, (name, MAX_STATE_TABLE_NAME, "state table")]:
        if len(part) > limit:
            raise ConfigError(
                f"{what} name {part!r} is {len(part)} characters long, more than {limit}",
                location=spec.table_location or spec.location,
                hint=f"PostgreSQL cuts names at {POSTGRES_NAME_BYTES} bytes, and the tables "
                f"dstream names after the state table (<table>{', '.join(COMPANIONS)}) must "
                f"stay distinct when cut: shorten it to {limit} characters or fewer",
            )


def build_metrics(block: Block, evaluator: Evaluator) -> MetricsSpec:
    check_names(block.body, "metrics", METRICS_ATTRIBUTES)
    spec = MetricsSpec()
    attribute: Optional[Attribute] = block.body.attributes.get("addr")
    if attribute is not None:
        addr = expect_string(evaluator.eval(attribute.expr), attribute, "metrics")
        try:
            parse_addr(addr)
        except ValueError as exc:
            raise ConfigError(
                f"metrics addr: {exc}",
                location=attribute.value_location,
                hint='write addr = "127.0.0.1:9464"',
            ) from None
        spec.addr, spec.location = addr, attribute.value_location
    return spec
