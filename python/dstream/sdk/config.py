"""Typed provider configuration: bind the `config` object of the command line to a
dataclass.

Keys are accepted in snake_case (`max_count`), camelCase (`maxCount`, the original .NET
providers' spelling) or kebab-case, plus any `aliases` listed in a field's metadata.
Unknown keys are errors that name the known ones and the nearest match, because a
misspelt key silently falling back to a default is the worst kind of config bug.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
import typing
from typing import Any, Literal, Optional, TypeVar, Union

# Any in this module: a type annotation of a config class (int, list[str], Optional[X],
# Any itself for an untyped field) taken apart at run time, and the raw JSON value that
# is checked against it. Neither has a static type worth more than Any.
from dstream.config.provider_config import SCHEMA_ALIASES, SCHEMA_FOLD_CASE, normalize_key
from dstream.errors import ConfigError, nearest
from dstream.protocol.values import NO_JSON_VALUE, json_kind

__all__ = [
    "ConfigClassError",
    "ProviderConfig",
    "bind_config",
    "check_config_class",
    "config_keys",
    "config_schema",
]

T = TypeVar("T")
_NoneType = type(None)


@dataclasses.dataclass
class ProviderConfig:
    """Base for a provider's config dataclass. Subclasses are `@dataclass`es whose fields
    are the config keys; override `validate()` to check values together (raise
    `ConfigError` or `ValueError` with a message naming the key)."""

    def validate(self) -> None:
        """Called after binding; raise to reject the configuration."""


class ConfigClassError(TypeError):
    """A config class binding cannot fill: a bug of the provider's, not of a config."""


# What a config field may be: what _convert binds and _type_schema describes.
SUPPORTED_TYPES = (
    "str, int, float, bool, Optional[...], Literal[...], list[...], tuple[...], set[...], "
    "dict[str, ...], a nested ProviderConfig dataclass or Any"
)
# The classes a JSON value is decoded as: an annotation none of them is an instance of
# (datetime, Path, Decimal) can never be bound.
_JSON_CLASSES = (bool, int, float, str, list, dict, type(None))


def check_config_class(cls: type) -> None:
    """Raise ConfigClassError for a field no config value can bind to, naming it; once
    per process, when the config is described or bound."""
    found = _unsupported_field(cls, "", set())
    if found is not None:
        key, bad = found
        shown = f"{bad.__module__}.{bad.__qualname__}".removeprefix("builtins.")
        raise ConfigClassError(
            f"config field '{key}' of {cls.__name__} has the type {shown}, which no value "
            f"of dstream.hcl can be; a config field is one of {SUPPORTED_TYPES}: use str "
            "and parse it in validate()"
        )


def _unsupported_field(cls: type, path: str, seen: set[type]) -> Optional[tuple[str, type]]:
    seen.add(cls)
    hints = _type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.init:
            found = _unsupported(hints.get(f.name, Any), f"{path}{f.name}", seen)
            if found is not None:
                return found
    return None


def _unsupported(tp: Any, key: str, seen: set[type]) -> Optional[tuple[str, type]]:
    origin = typing.get_origin(tp)
    if tp is Any or tp is object or origin is Literal:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return None if tp in seen else _unsupported_field(tp, f"{key}.", seen)
    if origin is not None:  # Optional, list[...], dict[...]: each of their parts
        for arg in typing.get_args(tp):
            found = None if arg is Ellipsis else _unsupported(arg, key, seen)
            if found is not None:
                return found
        return None
    if isinstance(tp, type) and not any(issubclass(json, tp) for json in _JSON_CLASSES):
        return key, tp
    return None


def config_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def bind_config(cls: type[T], raw: Any, *, provider: str = "provider", path: str = "") -> T:
    """Build `cls` (a dataclass) from the JSON object `raw`, converting and checking every
    value against the field's annotation. Raises ConfigError naming the key path."""
    if not isinstance(raw, dict):
        where = f"config key '{path}'" if path else "config"
        raise ConfigError(
            f"{where} for {provider} must be an object, got {_describe(raw)}",
            hint="write it as a block: name { key = value }",
        )
    if not path:  # the top: nested classes are checked with it
        check_config_class(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    hints = _type_hints(cls)  # type: ignore[arg-type]  # T is a dataclass type, as above
    by_key: dict[str, dataclasses.Field[Any]] = {}
    for f in fields:
        by_key[f.name] = f
        by_key.setdefault(normalize_key(f.name), f)
        for alias in f.metadata.get("aliases", ()):
            by_key.setdefault(normalize_key(alias), f)

    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}  # field -> the key it was given as
    for key, value in raw.items():
        found = by_key.get(key) or by_key.get(normalize_key(str(key)))
        if found is None:
            known = [f.name for f in fields]
            raise ConfigError(
                _unknown_key_message(str(key), known, provider, path),
                hint=f"remove it, or name one of {provider}'s keys",
            )
        f = found
        key_path = f"{path}.{f.name}" if path else f.name
        if f.name in values:
            raise ConfigError(
                f"config key '{key_path}' for {provider} is given twice, as "
                f"'{spelled[f.name]}' and as '{key}'",
                hint="keep one spelling",
            )
        spelled[f.name] = str(key)
        values[f.name] = _convert(hints.get(f.name, Any), value, provider, key_path)
        minimum = f.metadata.get("minimum")
        bound = values[f.name]
        if minimum is not None and isinstance(bound, (int, float)) and bound < minimum:
            raise ConfigError(
                f"config key '{key_path}' for {provider} must be at least {minimum}, "
                f"got {_describe(value)}",
                hint=f"set {key_path} to {minimum} or more",
            )

    missing = [
        f.name
        for f in fields
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        names = ", ".join(f"'{path}.{m}'" if path else f"'{m}'" for m in missing)
        raise ConfigError(
            f"missing required config key{'s' if len(missing) > 1 else ''} {names} for {provider}",
            hint="add it to the provider's config block in dstream.hcl",
        )
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            where = f" ('{path}')" if path else ""
            raise ConfigError(
                f"invalid config for {provider}{where}: {exc}",
                hint=f"`dstream lint` checks {provider}'s config against the schema it describes",
            ) from exc
    return obj


def _unknown_key_message(key: str, known: list[str], provider: str, path: str) -> str:
    full = f"{path}.{key}" if path else key
    message = f"unknown config key '{full}' for {provider}; known keys: " + (
        ", ".join(known) if known else "(none)"
    )
    guess = nearest(normalize_key(key), known)
    if guess:
        message += f" (did you mean '{guess}'?)"
    return message


@functools.cache  # asked by the class check and by the binding, once per class
def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        # Annotations that cannot be evaluated here (a local class, `int | None` on
        # Python 3.9): bind those fields without conversion rather than refuse the config.
        module = sys.modules.get(cls.__module__)
        globalns = vars(module) if module else {}
        hints: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, ann in getattr(klass, "__annotations__", {}).items():
                try:
                    hints[name] = (
                        eval(ann, globalns, dict(vars(klass))) if isinstance(ann, str) else ann
                    )
                except Exception:
                    hints[name] = Any
        return hints


def _describe(value: Any) -> str:
    kind = json_kind(value)
    if kind == NO_JSON_VALUE:
        kind = type(value).__name__
    shown = repr(value) if not isinstance(value, (dict, list)) else ""
    if isinstance(value, str):
        shown = '"' + (value if len(value) <= 40 else value[:37] + "...") + '"'
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    return f"{kind} {shown}".strip()


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if tp is bool:
        return "a boolean (true or false)"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple, set, frozenset):
        return "a list"
    if origin is dict or tp is dict:
        return "an object"
    if dataclasses.is_dataclass(tp):
        return "an object (block)"
    return getattr(tp, "__name__", str(tp))


def _is_union(origin: Any) -> bool:
    return origin is Union or (sys.version_info >= (3, 10) and origin is types.UnionType)


def _convert(tp: Any, value: Any, provider: str, path: str) -> Any:
    """Check `value` against the annotation `tp`, converting where Terraform would
    (a numeric string for a number, "true"/"false" for a boolean)."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def wrong() -> ConfigError:
        return ConfigError(
            f"config key '{path}' for {provider} must be {_type_name(tp)}, got {_describe(value)}",
            hint=f"write {path} as {_type_name(tp)}",
        )

    if _is_union(origin):
        if value is None and _NoneType in args:
            return None
        last: Optional[ConfigError] = None
        for arg in args:
            if arg is _NoneType:
                continue
            try:
                return _convert(arg, value, provider, path)
            except ConfigError as exc:
                last = exc
        if last is not None and len([a for a in args if a is not _NoneType]) == 1:
            raise last
        raise wrong()
    if origin is Literal:
        if value in args:
            return value
        choices = [str(a) for a in args]
        message = (
            f"config key '{path}' for {provider} must be one of "
            + ", ".join(repr(a) for a in args)
            + f", got {_describe(value)}"
        )
        guess = nearest(str(value), choices)
        raise ConfigError(
            message + (f" (did you mean '{guess}'?)" if guess else ""),
            hint=f"set {path} to one of the values it names",
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise wrong()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise wrong()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise wrong()
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise wrong()
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        if not isinstance(value, list):
            raise wrong()
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, provider, f"{path}[{i}]") for i, v in enumerate(value)]
        if origin is tuple or tp is tuple:
            return tuple(items)
        if origin in (set, frozenset):
            return origin(items)
        return items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise wrong()
        value_tp = args[1] if len(args) == 2 else Any
        return {str(k): _convert(value_tp, v, provider, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return bind_config(tp, value, provider=provider, path=path)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise wrong()
    return value


# -- the JSON Schema a provider describes its config with (docs/protocol.md, section 2) --


def config_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of what `bind_config(cls, ...)` accepts: one definition (the
    dataclass) for the provider's binding and for dstream's check of dstream.hcl.
    A field's `metadata` may add `minimum` and `description`. ConfigClassError for a
    field no config value can be."""
    check_config_class(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    hints = _type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        prop = _type_schema(hints.get(f.name, Any))
        for key in ("minimum", "description"):
            if key in f.metadata:
                prop[key] = f.metadata[key]
        aliases = list(f.metadata.get("aliases", ()))
        if aliases:
            prop[SCHEMA_ALIASES] = aliases
        properties[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        SCHEMA_FOLD_CASE: True,
    }
    if required:
        schema["required"] = required
    return schema


_JSON_TYPES: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    _NoneType: "null",
}


def _type_schema(tp: Any) -> dict[str, Any]:
    """The schema of one annotation; `{}` (anything) where the subset dstream checks
    (type, properties, required, additionalProperties, enum, items, minimum) cannot
    say it."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in _JSON_TYPES:
        return {"type": _JSON_TYPES[tp]}
    if origin is Literal:
        return {"enum": list(args)}
    if _is_union(origin):
        parts = [_type_schema(a) for a in args]
        types = [p.get("type") for p in parts]
        if all(isinstance(t, str) and len(p) == 1 for t, p in zip(types, parts)):
            return {"type": types}
        if len(parts) == 2 and {"type": "null"} in parts:
            other = dict(next(p for p in parts if p != {"type": "null"}))
            if isinstance(other.get("type"), str):
                other["type"] = [other["type"], "null"]
                return other
            if "enum" in other:
                other["enum"] = [*other["enum"], None]
                return other
        return {}
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        schema: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            item = _type_schema(args[0])
            if item:
                schema["items"] = item
        return schema
    if origin is dict or tp is dict:
        value = _type_schema(args[1]) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value or True}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return config_schema(tp)
    return {}
