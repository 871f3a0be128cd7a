"""Variables of a dstream.hcl: their `variable` blocks, the values given to them (by
environment, var files and --var; config/var_sources.py reads those) and the conversion
of each value to the variable's type (config/typeexpr.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dstream.config.checks import check_names, expect_bool, expect_string
from dstream.config.diagnostics import Diagnostics
from dstream.config.model import Location
from dstream.config.nfc import nfc
from dstream.config.quicklex import is_name
from dstream.config.scope import (
    ENV_VAR_PREFIX,
    EVERYWHERE,
    STORED,
    TERRAFORM_VAR_PREFIX,
    MissingValue,
    Module,
    VariableValue,
)
from dstream.config.syntax import Block, SourceFile
from dstream.config.typeexpr import (
    ANY,
    CONSTRUCTORS,
    Mismatch,
    OutOfRange,
    Type,
    TypeReader,
    convert,
    path_text,
    type_text,
)
from dstream.config.var_sources import (
    Given,
    evaluate_value,
    names_set,
    parse_literal,
    read_var_file,
    tree_locator,
    whole,
)
from dstream.errors import ConfigError, nearest
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.model import Reads
    from dstream.config.reads import RecordingEnviron
    from dstream.config.tree import Node
    from dstream.protocol.values import JsonValue

VARIABLE_ATTRIBUTES = ("default", "description", "sensitive", "type", "nullable")
DEFAULT_VALUE = "a variable's default"


@record
class Declared:
    name: str
    block: Block
    source: SourceFile
    type: Type = ANY
    sensitive: bool = False
    nullable: bool = True  # false: a null value given means the default
    description: Optional[str] = None
    has_default: bool = False
    default: JsonValue = None
    # The error of a declaration that does not evaluate: each use of the variable repeats
    # it (not "undeclared variable"), and no value is given to it.
    broken: Optional[ConfigError] = None

    @property
    def kind(self) -> str:
        """The outer kind of the type: string, number, bool, any, list, set, map, ..."""
        return self.type.kind


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
            if item.broken is not None:
                diagnostics.error(item.broken)
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
    if not is_name(name):
        raise ConfigError(
            f'variable name "{name}" is not a valid name: var.{name} could never refer to it',
            location=block.label_locations[0],
            hint="a name is a letter or `_`, then letters, digits, `_` or `-`",
        )
    item = Declared(name, block, source)
    try:
        _read_declaration(item, reads)
    except ConfigError as exc:
        item.broken = exc
    return item


def _read_declaration(item: Declared, reads: Reads) -> None:
    name, source, body = item.name, item.source, item.block.body
    check_names(body, f'variable "{name}"', VARIABLE_ATTRIBUTES, ("validation",))
    # A default sees no environment, but file() and the clock are still read.
    module = Module(environ={}, reads=reads)
    attributes = body.attributes

    def constant(node: Node) -> JsonValue:
        return evaluate_value(node, source, module, DEFAULT_VALUE, None)

    for flag in ("sensitive", "nullable"):  # sensitive first: it decides what errors say
        if flag in attributes:
            attribute = attributes[flag]
            setattr(item, flag, expect_bool(constant(attribute.expr), attribute, "variable"))
    if "type" in attributes:
        item.type = TypeReader(source.location, constant).read(attributes["type"].expr)
    if "description" in attributes:
        attribute = attributes["description"]
        item.description = expect_string(constant(attribute.expr), attribute, "variable")
    if "default" in attributes:
        default = attributes["default"]
        secret = name if item.sensitive else None
        value = evaluate_value(default.expr, source, module, DEFAULT_VALUE, secret)
        item.has_default = True
        given = Given(value, default.value_location, tree_locator(default.expr, source))
        item.default = _typed(item, given)


def _typed(item: Declared, given: Given) -> JsonValue:
    """`given`'s value converted to the variable's type; the error at the part of the
    value that does not convert, saying what that part is, never what it holds."""
    try:
        return convert(given.value, item.type)
    except Mismatch as exc:
        raise _type_error(item, exc, given) from None


def _type_error(item: Declared, exc: Mismatch, given: Given) -> ConfigError:
    name = item.name
    subject = f"var.{name}" + path_text(exc.path, hide_keys=item.sensitive)
    where = given.locate(exc.path)
    if isinstance(exc, OutOfRange):
        declared = "" if where == item.block.location else f" (declared at {item.block.location})"
        part = f" in {subject}" if exc.path else ""
        reason = f'variable "{name}"{declared} is given {exc.number}{part}'
    else:
        part = f"{subject} " if exc.path else "its value "
        problem = exc.describe(hide_keys=item.sensitive)
        reason = f'variable "{name}" has type {type_text(item.type)}, but {part}{problem}'
    return ConfigError(reason, location=where, hint=exc.hint(subject))


class _Given:
    """The values given to declared variables, each source in turn (a later one wins)."""

    def __init__(
        self, module: Module, declared: dict[str, Declared], diagnostics: Diagnostics
    ) -> None:
        self.module = module
        self.declared = declared
        self.diagnostics = diagnostics
        self.values: dict[str, Given] = {}
        self.failed: dict[str, ConfigError] = {}  # given a value that could not be read
        # A broken declaration may have said sensitive = true, unread: its value is kept
        # secret too (and not used).
        self.secrets = frozenset(
            n for n, item in declared.items() if item.sensitive or item.broken is not None
        )
        self.terraform_style: frozenset[str] = frozenset()  # names set as TF_VAR_<name>
        self.var_files: list[str] = []  # the --var-file paths, in their order
        # Each var file rejected as a whole, with the names it sets (None: not known).
        self.rejected: list[tuple[str, Optional[frozenset[str]]]] = []
        self._terraform_files: Optional[list[str]] = None  # `terraform_files`, once looked

    def _failed(self, name: str, exc: ConfigError) -> None:
        self.diagnostics.error(exc)
        self.failed[name] = exc
        self.values.pop(name, None)

    def _given(self, name: str, given: Given) -> None:
        if name in self.secrets:
            self.module.taint.mark(given.value)
        self.values[name] = given
        self.failed.pop(name, None)

    def _text(self, name: str, text: str, label: str) -> None:
        """A value given as text (environment, --var): a literal for a complex type."""
        item = self.declared[name]
        if name in self.secrets:  # before parsing: an error may quote it
            self.module.taint.mark(text)
        value: JsonValue = text
        if item.broken is None and item.type.kind in CONSTRUCTORS:
            secret = name if name in self.secrets else None
            try:
                value = parse_literal(text, label, self.module.reads, secret)
            except ConfigError as exc:
                self._failed(name, exc)
                return
        self._given(name, Given(value, Location(label), whole(Location(label))))

    def from_environment(self, environ: RecordingEnviron) -> None:
        if not self.declared:
            return  # nothing to give a value to: the environment's DSTREAM_VAR_ are not read
        # Terraform's way to give a variable (TF_VAR_name), which dstream does not read:
        # named in the hint of a variable left without a value, never its value.
        self.terraform_style = frozenset(
            name for name in self.declared if environ.holds_unnoted(TERRAFORM_VAR_PREFIX + name)
        )
        for key, text in environ.with_prefix(ENV_VAR_PREFIX).items():
            name = key[len(ENV_VAR_PREFIX) :]
            if name in self.declared:
                self._text(name, text, key)

    def from_var_file(self, path: str, environ: RecordingEnviron) -> None:
        self.var_files.append(path)
        try:
            var_file = read_var_file(
                path, environ, frozenset(self.declared), self.secrets, self.module.taint
            )
        except ConfigError as exc:
            self.diagnostics.error(exc)
            self.rejected.append((path, names_set(path)))
            return
        for name, where in var_file.names.items():
            if name not in self.declared:
                self.diagnostics.warn(
                    f"{path} sets {name!r}, which no variable block declares",
                    where,
                    hint=_declared_hint(name, self.declared),
                )
        for name, error in var_file.failed.items():
            self._failed(name, error)
        for name, given in var_file.values.items():
            if name in self.declared:
                self._given(name, given)

    def from_option(self, assignment: str) -> None:
        """One --var NAME=VALUE."""
        name, equals, text = assignment.partition("=")
        name = name.strip()
        if not equals or not name:
            from dstream.config.redact import masked_assignment

            # Read before the configuration says whether the variable is sensitive.
            shown = masked_assignment(assignment.strip())
            self.diagnostics.error(
                ConfigError(
                    f"--var {shown!r} is not NAME=VALUE", hint="write --var region=eu-west-1"
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
            self._text(name, text, f"--var {name}")

    def settle(self, item: Declared) -> None:
        """Give the module the variable's value, or the error that using it repeats."""
        module, name = self.module, item.name
        if item.broken is not None:
            module.unset_variables[name] = item.broken  # reported where it was declared
            return
        try:
            value = nfc(self._value(item))  # composed before it is marked sensitive
        except ConfigError as exc:
            module.unset_variables[name] = exc
            return
        if item.sensitive:
            module.taint.mark(value)
        module.variables[name] = VariableValue(value, item.sensitive)

    def _value(self, item: Declared) -> JsonValue:
        name = item.name
        if name in self.failed:
            raise self.failed[name]  # already reported
        given = self.values.get(name)
        if given is not None and (given.value is not None or item.nullable):
            try:
                return _typed(item, given)
            except ConfigError as exc:
                self.diagnostics.error(exc)
                raise
        if item.has_default and (item.default is not None or item.nullable):
            return item.default
        error = self._missing(item, given)
        needed = self.module.needed
        if (
            not isinstance(error, MissingValue)
            or needed == EVERYWHERE
            or (needed == STORED and item.sensitive)  # what masks a stored secret
        ):
            self.diagnostics.error(error)
        raise error

    def _missing(self, item: Declared, given: Optional[Given]) -> ConfigError:
        name = item.name
        ways = (
            f"set it with --var {name}=VALUE, in a --var-file, with the environment "
            f"variable {ENV_VAR_PREFIX}{name}"
        )
        if given is not None or item.has_default:  # null, where nullable = false
            where = given.where if given is not None else item.block.location
            return ConfigError(
                f'variable "{name}" is declared nullable = false, but its value is null',
                location=where,
                hint=f"{ways}, or give it a default that is not null",
            )
        for path, sets in self.rejected:  # its value is there, in a file not used
            if sets is None or name in sets:
                which = "sets it" if sets is not None else "may set it"
                return MissingValue(
                    f'variable "{name}" has no value: {path}, which {which}, was rejected',
                    location=item.block.location,
                    hint=f"fix {path} (its error is reported too); or {ways}",
                )
        hint = f"{ways}, or give it a default = ..."
        terraform_files = self.terraform_files()
        if terraform_files:
            import shlex

            names = ", ".join(os.path.basename(path) for path in terraform_files)
            flags = " ".join(f"--var-file {shlex.quote(path)}" for path in terraform_files)
            them = "it" if len(terraform_files) == 1 else "them"
            hint = (
                f"dstream does not load Terraform's {names} beside the configuration by "
                f"itself: give {them} with `{flags}`; or {hint}"
            )
        if name in self.terraform_style:
            hint = (
                f"{TERRAFORM_VAR_PREFIX}{name} is set, but dstream reads "
                f"{ENV_VAR_PREFIX}{name} (not Terraform's {TERRAFORM_VAR_PREFIX}*); {hint}"
            )
        return MissingValue(
            f'variable "{name}" has no value', location=item.block.location, hint=hint
        )

    def terraform_files(self) -> list[str]:
        """The var files Terraform would load by itself beside the configuration that no
        --var-file gave (config/tfvars.py): looked for once, when a value is missing."""
        if self._terraform_files is None:
            from dstream.config.tfvars import unread_terraform_var_files

            found = unread_terraform_var_files(self.module.base_dir, self.var_files)
            self._terraform_files = found
        return self._terraform_files


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
