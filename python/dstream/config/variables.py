"""Variables of a dstream.hcl: their `variable` blocks, the values given to them (by
environment, var files and --var) and the checks of their declared types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dstream.config.checks import check_names, expect_bool, expect_string
from dstream.config.diagnostics import Diagnostics
from dstream.config.evaluate import Evaluator
from dstream.config.functions import (
    FunctionError,
    NumberOutOfRange,
    as_bool,
    to_number,
    to_string,
    type_name,
)
from dstream.config.limits import MAX_INTEGER_DIGITS, TooDeep, check_nesting
from dstream.config.model import Location
from dstream.config.numbers import NUMBER_HINT, BadNumber, decode_config_json, json_number_position
from dstream.config.scope import Module, VariableValue
from dstream.config.syntax import Attribute, Block, SourceFile, parse_text, read_source
from dstream.errors import ConfigError, nearest
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.model import Reads
    from dstream.config.reads import RecordingEnviron
    from dstream.protocol.values import JsonValue

ENV_VAR_PREFIX = "DSTREAM_VAR_"
VARIABLE_ATTRIBUTES = ("default", "description", "sensitive", "type", "nullable")
# Types whose value given as text (environment, --var) is an HCL literal to parse.
_COMPLEX = ("list", "map", "set", "object", "tuple")


@record
class Declared:
    name: str
    block: Block
    source: SourceFile
    kind: str = "any"  # string, number, bool, or a complex type (list, map, object, ...)
    sensitive: bool = False
    description: Optional[str] = None
    has_default: bool = False
    default: JsonValue = None


def declare_variables(
    sources: list[SourceFile], diagnostics: Diagnostics, reads: Reads
) -> dict[str, Declared]:
    """The variable blocks of `sources`; what their defaults read (file()) goes to `reads`."""
    declared: dict[str, Declared] = {}
    for source in sources:
        for block in source.body.blocks_of("variable"):
            try:
                item = _declare_variable(block, source, reads)
            except ConfigError as exc:
                diagnostics.error(exc)
                continue
            if item.name in declared:
                first = declared[item.name].block.location
                diagnostics.error(
                    ConfigError(
                        f'variable "{item.name}" is declared twice (first at {first})',
                        location=block.label_locations[0],
                        hint="remove one declaration",
                    )
                )
                continue
            declared[item.name] = item
    return declared


def _declare_variable(block: Block, source: SourceFile, reads: Reads) -> Declared:
    if len(block.labels) != 1:
        raise ConfigError(
            f"a variable block takes exactly one label, its name; got {len(block.labels)}",
            location=block.location,
            hint='write variable "NAME" { default = ... }',
        )
    name = block.labels[0]
    body = block.body
    check_names(body, f'variable "{name}"', VARIABLE_ATTRIBUTES, ("validation",))
    item = Declared(name, block, source)
    # A default sees no environment, but file() and the clock are still read.
    evaluator = Evaluator(source, Module(environ={}, reads=reads), allow_references=False)
    attributes = body.attributes
    if "type" in attributes:
        item.kind = _type_keyword(attributes["type"], source)
    if "sensitive" in attributes:
        item.sensitive = expect_bool(
            evaluator.eval(attributes["sensitive"].expr), attributes["sensitive"], "variable"
        )
    if "description" in attributes:
        item.description = expect_string(
            evaluator.eval(attributes["description"].expr), attributes["description"], "variable"
        )
    if "default" in attributes:
        item.has_default = True
        item.default = evaluator.eval(attributes["default"].expr)
        if item.default is not None:
            item.default = _typed(item, item.default, attributes["default"].value_location)
    return item


_TYPES = ("string", "number", "bool", "any", "list", "map", "set", "object", "tuple")


def _type_keyword(attribute: Attribute, source: SourceFile) -> str:
    # `type = string` is a type constraint, not an expression: read its first name.
    for tree in attribute.expr.iter_subtrees_topdown():
        if tree.data == "identifier":
            word = str(tree.children[0])
            if word in _TYPES:
                return word
            break
    raise ConfigError(
        "variable type must be one of " + ", ".join(_TYPES),
        location=attribute.value_location,
        hint="write type = string (no quotes), or list(string), map(string), ...",
    )


def _typed(item: Declared, value: JsonValue, where: Optional[Location]) -> JsonValue:
    """Check and convert `value` to the variable's declared type."""
    kind = item.kind
    try:
        if kind == "string":
            if isinstance(value, (list, dict)) or value is None:
                raise FunctionError("not a string")
            return to_string(value)
        if kind == "number":
            return to_number(value)
        if kind == "bool":
            converted = as_bool(value)
            if converted is None:
                raise FunctionError("not a bool")
            return converted
        if kind in ("list", "set", "tuple") and not isinstance(value, list):
            raise FunctionError("not a list")
        if kind in ("map", "object") and not isinstance(value, dict):
            raise FunctionError("not an object")
    except NumberOutOfRange as exc:
        declared = "" if where == item.block.location else f" (declared at {item.block.location})"
        raise ConfigError(
            f'variable "{item.name}"{declared} is given {exc.problem}',
            location=where,
            hint=f"give var.{item.name} a number within ±1.8e308 (an integer of at most "
            f"{MAX_INTEGER_DIGITS:,} digits), or declare it type = string if the provider "
            "takes the value as text",
        ) from None
    except FunctionError:
        # The type, never the value: it may be a secret, even if not declared sensitive.
        raise ConfigError(
            f'variable "{item.name}" has type {kind}, but its value is a {type_name(value)} '
            f"that is not a {kind}",
            location=where,
            hint=f"give var.{item.name} a {kind} value, or change its type",
        ) from None
    return value


def _parse_literal(text: str, label: str, reads: Reads) -> JsonValue:
    """A --var or DSTREAM_VAR_ value for a list/map variable: an HCL (or JSON) literal."""
    try:
        source = parse_text(f"value = {text}\n", label)
        attribute = source.body.attributes["value"]
        module = Module(environ={}, reads=reads)
        return Evaluator(source, module, allow_references=False).eval(attribute.expr)
    except (ConfigError, KeyError) as exc:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        raise ConfigError(
            f"{label}: {shown} is not a valid HCL value ({getattr(exc, 'reason', exc)})",
            hint='write lists as ["a", "b"] and maps as {k = "v"}',
        ) from None


class _Given:
    """The values given to declared variables, each source in turn (a later one wins)."""

    def __init__(
        self, module: Module, declared: dict[str, Declared], diagnostics: Diagnostics
    ) -> None:
        self.module = module
        self.declared = declared
        self.diagnostics = diagnostics
        self.values: dict[str, tuple[JsonValue, Optional[Location]]] = {}
        self.failed: dict[str, ConfigError] = {}  # given a value that could not be read

    def _text(self, name: str, text: str, label: str, where: Optional[Location]) -> None:
        """A value given as text (environment, --var): a literal for a complex type."""
        item = self.declared[name]
        if item.sensitive:  # before parsing: an error may quote it
            self.module.taint.mark(text)
        try:
            complex_kind = item.kind in _COMPLEX
            value = _parse_literal(text, label, self.module.reads) if complex_kind else text
        except ConfigError as exc:
            self.diagnostics.error(exc)
            self.failed[name] = exc
            return
        self.values[name] = (value, where)

    def from_environment(self, environ: RecordingEnviron) -> None:
        if not self.declared:
            return  # nothing to give a value to: the environment's DSTREAM_VAR_ are not read
        for key, text in environ.with_prefix(ENV_VAR_PREFIX).items():
            name = key[len(ENV_VAR_PREFIX) :]
            if name in self.declared:
                self._text(name, text, key, Location(key))

    def from_var_file(self, path: str, environ: RecordingEnviron) -> None:
        try:
            for name, (value, where) in _read_var_file(path, environ).items():
                if name not in self.declared:
                    self.diagnostics.warn(
                        f"{path} sets {name!r}, which no variable block declares",
                        where,
                        hint=_declared_hint(name, self.declared),
                    )
                    continue
                if self.declared[name].sensitive:
                    self.module.taint.mark(value)
                self.values[name] = (value, where)
        except ConfigError as exc:
            self.diagnostics.error(exc)

    def from_option(self, assignment: str) -> None:
        """One --var NAME=VALUE."""
        name, equals, text = assignment.partition("=")
        name = name.strip()
        if not equals or not name:
            self.diagnostics.error(
                ConfigError(
                    f"--var {assignment!r} is not NAME=VALUE", hint="write --var region=eu-west-1"
                )
            )
        elif name not in self.declared:
            self.diagnostics.error(
                ConfigError(
                    f"--var {name}: no variable {name!r} is declared",
                    hint=_declared_hint(name, self.declared),
                )
            )
        else:
            self._text(name, text, f"--var {name}", Location(f"--var {name}"))

    def settle(self, item: Declared) -> None:
        """Give the module the variable's value, or the error that using it repeats."""
        module, name = self.module, item.name
        try:
            value = self._value(item)
        except ConfigError as exc:
            module.unset_variables[name] = exc
            return
        if item.sensitive:
            module.taint.mark(value)
        module.variables[name] = VariableValue(value, item.sensitive)

    def _value(self, item: Declared) -> JsonValue:
        name = item.name
        if name in self.values:
            value, origin = self.values[name]
            try:
                return _typed(item, value, origin or item.block.location)
            except ConfigError as exc:
                self.diagnostics.error(exc)
                raise
        if name in self.failed:
            raise self.failed[name]  # already reported
        if item.has_default:
            return item.default
        missing = ConfigError(
            f'variable "{name}" has no value',
            location=item.block.location,
            hint=f"set it with --var {name}=VALUE, in a --var-file, with the environment "
            f"variable {ENV_VAR_PREFIX}{name}, or give it a default = ...",
        )
        self.diagnostics.error(missing)
        raise missing


def assign_variables(
    module: Module,
    declared: dict[str, Declared],
    variables: list[str],
    var_files: list[str],
    environ: RecordingEnviron,
    diagnostics: Diagnostics,
) -> None:
    """Give each declared variable its value in `module`, in Terraform's order:
    default < environment < var files < --var (later wins)."""
    given = _Given(module, declared, diagnostics)
    given.from_environment(environ)
    for path in var_files:
        given.from_var_file(path, environ)
    for assignment in variables:
        given.from_option(assignment)
    for item in declared.values():
        given.settle(item)


def _declared_hint(name: str, declared: Mapping[str, Declared]) -> str:
    guess = nearest(name, declared)
    known = ", ".join(sorted(declared)) or "none"
    return (f"did you mean {guess}? " if guess else "") + f"declared variables: {known}"


def _read_var_file(path: str, environ: RecordingEnviron) -> dict[str, tuple[JsonValue, Location]]:
    environ.reads.add_file(path)
    text = read_source(path)
    if path.endswith(".json"):
        try:
            check_nesting(text, templates=False)
        except TooDeep as exc:
            raise ConfigError(
                f"the JSON is {exc.reason}",
                location=Location(path, *exc.position(text)),
                hint="a variable's value is configuration, not data: flatten it",
            ) from None
        try:
            data = decode_config_json(text)
        except BadNumber as exc:  # which variable it is for is not known: no value quoted
            raise ConfigError(
                f"the var file holds {exc.problem}",
                location=Location(path, *json_number_position(text, exc)),
                hint=NUMBER_HINT,
            ) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"var file is not valid JSON: {exc.msg}",
                location=Location(path, exc.lineno, exc.colno),
                hint='a .json var file holds one object: {"name": "value", ...}',
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                "a JSON var file must hold an object",
                location=Location(path, 1, 1),
                hint='write {"name": "value", ...}: one key for each variable',
            )
        return {name: (value, Location(path)) for name, value in data.items()}
    source = parse_text(text, path)
    if source.body.blocks:
        block = source.body.blocks[0]
        raise ConfigError(
            f"a var file holds only NAME = value lines, not a {block.type} block",
            location=block.location,
            hint="declare variables in dstream.hcl; the var file only gives them values",
        )
    module = Module(environ=environ, reads=environ.reads)  # env() and file() are noted
    evaluator = Evaluator(source, module, allow_references=False)
    return {
        name: (evaluator.eval(attribute.expr), attribute.location)
        for name, attribute in source.body.attributes.items()
    }
