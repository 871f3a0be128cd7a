"""A provider's `config { ... }` checked against the JSON Schema the provider describes
it with (docs/protocol.md, section 2), with dstream.hcl's file:line:col for each key.

Two parts: `locate_config` remembers where each key and value of a config block was
written (the loader calls it; the values themselves carry no positions), and
`check_config` walks the config with a schema and returns every problem as a
ConfigError located there. The schema subset checked is what providers emit: `type`,
`properties`, `required`, `additionalProperties`, `enum`, `items`, `minimum`; any
other keyword is ignored (the provider still checks its config itself at start).

Values are compared after the conversions HCL makes where Terraform would (and the
SDK's binding does): a numeric string is a number, "true"/"false" a boolean, a number
a string. A schema may list extra spellings of a property under `x-dstream-aliases`
and, with `x-dstream-fold-case`, match keys after folding camelCase and kebab-case to
snake_case, as the SDK binds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dstream.config.model import Location
from dstream.config.scope import UNKNOWN
from dstream.errors import ConfigError, nearest
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Union

    from dstream.config.evaluate import Evaluator
    from dstream.config.syntax import Body
    from dstream.config.tree import Node
    from dstream.protocol.values import JsonValue

    KeyPath = tuple[Union[str, int], ...]

SCHEMA_ALIASES = "x-dstream-aliases"
SCHEMA_FOLD_CASE = "x-dstream-fold-case"
_CAMEL_BOUNDARY = r"(?<=[a-z0-9])([A-Z])"


def normalize_key(key: str) -> str:
    """`maxCount`, `max-count`, `MaxCount` and `max_count` all become `max_count`."""
    return re.sub(_CAMEL_BOUNDARY, r"_\1", key).replace("-", "_").lower()


@record(frozen=True)
class KeyWhere:
    key: Location  # of the key's name
    value: Location  # of its value


if TYPE_CHECKING:
    ConfigLocations = dict[KeyPath, KeyWhere]


# -- where each key was written ----------------------------------------------------------


def locate_config(body: Body, evaluator: Evaluator) -> ConfigLocations:
    """The positions of a provider block's `config` (block or `config = { ... }`)."""
    found: ConfigLocations = {}
    blocks = body.blocks_of("config")
    if blocks:
        found[()] = KeyWhere(blocks[0].location, blocks[0].location)
        _locate_body(blocks[0].body, (), evaluator, found)
    elif "config" in body.attributes:
        attribute = body.attributes["config"]
        found[()] = KeyWhere(attribute.location, attribute.value_location)
        _locate_expr(attribute.expr, (), evaluator, found)
    return found


def _locate_body(body: Body, path: KeyPath, evaluator: Evaluator, found: ConfigLocations) -> None:
    for name, attribute in body.attributes.items():
        at: KeyPath = (*path, name)
        found[at] = KeyWhere(attribute.location, attribute.value_location)
        _locate_expr(attribute.expr, at, evaluator, found)
    counts: dict[str, int] = {}
    for block in body.blocks:
        counts[block.type] = counts.get(block.type, 0) + 1
    seen: dict[str, int] = {}
    for block in body.blocks:
        # The key itself (a problem with the whole list or object of blocks) is where
        # its first block was written.
        found.setdefault((*path, block.type), KeyWhere(block.location, block.location))
        where: KeyPath = (*path, block.type, *block.labels)
        if not block.labels and counts[block.type] > 1:  # repeated: a list of objects
            where = (*where, seen.get(block.type, 0))
            seen[block.type] = seen.get(block.type, 0) + 1
        found.setdefault(where, KeyWhere(block.location, block.location))
        _locate_body(block.body, where, evaluator, found)


def _unwrap(node: Node) -> Node:
    from dstream.config.tree import Tree

    while isinstance(node, Tree) and node.data == "expr_term" and len(node.children) == 1:
        inner = node.children[0]
        if not isinstance(inner, Tree):
            break
        node = inner
    return node


def _locate_expr(node: Node, path: KeyPath, evaluator: Evaluator, found: ConfigLocations) -> None:
    from dstream.config.syntax import literal_key, trees
    from dstream.config.tree import Tree

    node = _unwrap(node)
    if not isinstance(node, Tree):
        return
    if node.data == "tuple":
        for index, item in enumerate(trees(node)):
            where = evaluator.where(item)
            at: KeyPath = (*path, index)
            found[at] = KeyWhere(where, where)
            _locate_expr(item, at, evaluator, found)
    elif node.data == "object":
        for element in trees(node):
            parts = trees(element)
            if len(parts) != 2:
                continue
            key = literal_key(parts[0])
            if key is None:  # a computed key: its problems point at the object
                continue
            at = (*path, key)
            found[at] = KeyWhere(evaluator.where(parts[0]), evaluator.where(parts[1]))
            _locate_expr(parts[1], at, evaluator, found)


# -- the check ---------------------------------------------------------------------------


def check_config(
    config: Mapping[str, JsonValue],
    schema: Mapping[str, JsonValue],
    *,
    provider: str,
    locations: Optional[ConfigLocations] = None,
    fallback: Optional[Location] = None,
) -> list[ConfigError]:
    """Every problem of `config` under `schema`, located in dstream.hcl. `provider`
    names it in messages ("input 'dstream-counter'")."""
    checker = _Checker(provider, locations or {}, fallback)
    checker.walk(dict(config), schema, ())
    return checker.problems


_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


def _show(value: JsonValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean " + ("true" if value else "false")
    if isinstance(value, (int, float)):
        return f"a number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string "{shown}"'
    return "a list" if isinstance(value, list) else "an object"


def _number(value: JsonValue) -> Optional[float]:
    """`value` as a number, with HCL's conversion of a numeric string; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value  # not float(): an integer may be beyond a double (exact, any size)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _is(value: JsonValue, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false")
        )
    if kind == "string":
        return isinstance(value, str) or (
            isinstance(value, (int, float)) and not isinstance(value, bool)
        )
    number = _number(value)
    if kind == "number":
        return number is not None
    if kind == "integer":
        return isinstance(number, int) or (number is not None and number.is_integer())
    return True  # a type this checker does not know: the provider decides


class _Checker:
    def __init__(
        self, provider: str, locations: ConfigLocations, fallback: Optional[Location]
    ) -> None:
        self.provider = provider
        self.locations = locations
        self.fallback = fallback
        self.problems: list[ConfigError] = []

    def where(self, path: KeyPath, *, key: bool) -> Optional[Location]:
        """The position of `path` (its key or its value), else of the nearest parent."""
        probe = path
        while True:
            found = self.locations.get(probe)
            if found is not None:
                return found.key if key and probe == path else found.value
            if not probe:
                return self.fallback
            probe = probe[:-1]

    def fail(self, path: KeyPath, reason: str, hint: str, *, key: bool = False) -> None:
        self.problems.append(ConfigError(reason, location=self.where(path, key=key), hint=hint))

    def name(self, path: KeyPath) -> str:
        text = ""
        for part in path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    def walk(self, value: JsonValue, schema: object, path: KeyPath) -> None:
        if not isinstance(schema, Mapping) or value is UNKNOWN:
            return  # `true` or a malformed part; or a value lint cannot know: nothing to check
        what = f"config key '{self.name(path)}'" if path else "config"
        enum = schema.get("enum")
        if isinstance(enum, list) and value not in enum:
            choices = ", ".join("null" if e is None else repr(e) for e in enum)
            guess = nearest(str(value), [str(e) for e in enum if e is not None])
            more = f" (did you mean '{guess}'?)" if guess else ""
            self.fail(path, f"{what} for {self.provider} must be one of {choices}, "
                            f"got {_show(value)}{more}",
                      "write one of the values it names")  # fmt: skip
            return
        kinds = schema.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if isinstance(kinds, list) and kinds and not any(_is(value, str(k)) for k in kinds):
            expected = " or ".join(_TYPE_WORDS.get(str(k), str(k)) for k in kinds)
            hint = f"write it as {expected}"
            if isinstance(value, dict) and "array" in kinds and path:
                key = path[-1]  # a `key { }` block: as Terraform's list of one block
                hint = (
                    f"one block is an object: write {key} = [{{ ... }}] for a list of one, "
                    "or repeat the block"
                )
            self.fail(
                path, f"{what} for {self.provider} must be {expected}, got {_show(value)}", hint
            )
            return
        minimum = schema.get("minimum")
        number = _number(value)
        if isinstance(minimum, (int, float)) and number is not None and number < minimum:
            self.fail(path, f"{what} for {self.provider} must be at least {minimum:g}, "
                            f"got {_show(value)}",
                      f"set it to {minimum:g} or more")  # fmt: skip
        if isinstance(value, dict):
            self.walk_object(value, schema, path)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.walk(item, schema.get("items"), (*path, index))

    def walk_object(
        self, value: dict[str, JsonValue], schema: Mapping[str, JsonValue], path: KeyPath
    ) -> None:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        fold = bool(schema.get(SCHEMA_FOLD_CASE))
        spelling: dict[str, str] = {}
        for prop, sub in properties.items():
            aliases = sub.get(SCHEMA_ALIASES, []) if isinstance(sub, Mapping) else []
            aliases = aliases if isinstance(aliases, list) else []
            for word in (prop, *aliases):
                spelling.setdefault(str(word), prop)
                if fold:
                    spelling.setdefault(normalize_key(str(word)), prop)
        extra = schema.get("additionalProperties", True)
        given: dict[str, str] = {}  # property -> the spelling it was given as
        for key, item in value.items():
            found = spelling.get(key)
            if found is None and fold:
                found = spelling.get(normalize_key(key))
            if found is not None and found in given:  # the SDK refuses it at its start
                self.fail(
                    (*path, key),
                    f"config key '{self.name((*path, found))}' for {self.provider} is given "
                    f"twice, as '{given[found]}' and as '{key}'",
                    "keep one spelling",
                    key=True,
                )
            elif found is not None:
                given[found] = key
                self.walk(item, properties[found], (*path, key))
            elif extra is False:
                self.unknown(key, list(properties), path, fold)
            elif isinstance(extra, Mapping):
                self.walk(item, extra, (*path, key))
        required = schema.get("required")
        missing = [str(r) for r in required if r not in given] if isinstance(required, list) else []
        if missing:
            names = ", ".join(f"'{self.name((*path, m))}'" for m in missing)
            plural = "s" if len(missing) > 1 else ""
            self.fail(path, f"missing required config key{plural} {names} for {self.provider}",
                      "add it to the provider's config block")  # fmt: skip

    def unknown(self, key: str, known: list[str], path: KeyPath, fold: bool) -> None:
        full = self.name((*path, key))
        guess = nearest(normalize_key(key) if fold else key, known)
        more = f" (did you mean '{guess}'?)" if guess else ""
        self.fail(
            (*path, key),
            f"unknown config key '{full}' for {self.provider}{more}",
            "known keys: " + (", ".join(known) if known else "none: remove the config block"),
            key=True,
        )
