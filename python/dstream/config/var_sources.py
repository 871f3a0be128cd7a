"""The values given to variables from outside the configuration: var files (HCL
`NAME = value` lines, or one JSON object when the name ends in .json) and the texts of
--var and DSTREAM_VAR_*. Each value keeps where it was written, down to its parts, so a
type error points at the element it is about.

A sensitive variable's value never shows in an error about it: what is wrong is said in
general terms (a bare word, a syntax error) at its place, without the parser's own
words, which quote the text.
"""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]  # public, not in typeshed

from dstream.config.evaluate import Evaluator
from dstream.config.limits import TooDeep, check_nesting, line_column
from dstream.config.model import Location
from dstream.config.numbers import NUMBER_HINT, BadNumber, decode_config_json, json_number_position
from dstream.config.scope import Module
from dstream.config.syntax import (
    SourceFile,
    attribute_names,
    literal_key,
    parse_text,
    parse_tree,
    read_source,
    trees,
    unwrap,
)
from dstream.config.tree import Tree
from dstream.errors import ConfigError
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream.config.model import Reads
    from dstream.config.reads import RecordingEnviron
    from dstream.config.taint import Taint
    from dstream.config.tree import Node
    from dstream.config.typeexpr import Path
    from dstream.protocol.values import JsonObject, JsonValue

VAR_FILE_VALUE = "a var file's value"
LITERAL_HINT = 'quote text ("..."), write lists as ["a", "b"] and maps as {k = "v"}'


@record
class Given:
    """A value given to a variable, and where: `locate(path)` is where the part of the
    value at `path` was written (the whole value's place where parts are not known)."""

    value: JsonValue
    where: Location
    locate: Callable[[Path], Location]


def whole(where: Location) -> Callable[[Path], Location]:
    """The locator of a value whose parts have no place of their own (a --var text)."""
    return lambda path: where


# -- keeping a sensitive value out of errors -------------------------------------------

# What went wrong, in general terms, by the kind of expression that failed.
_MISTAKES = {
    "identifier": "holds a name where a value belongs",
    "function_call": "calls a function that fails",
    "binary_op": "holds an operation that fails",
    "unary_op": "holds an operation that fails",
    "int_lit": "holds a number out of range",
    "float_lit": "holds a number out of range",
    "object": "holds an object with a key twice",
    "get_attr_expr_term": "refers to var.* or local.*, which a given value cannot",
}


class SecretValueError(ConfigError):
    """What is wrong with sensitive variable `variable`'s value, in general terms
    (`mistake`); `at` says where inside a value that has no place of its own (a --var
    text)."""

    def __init__(
        self, variable: str, mistake: str, where: Optional[Location], at: str = ""
    ) -> None:
        what = f'the value of sensitive variable "{variable}"'
        super().__init__(
            f"{what} {mistake}{at} (not shown: it is secret)",
            location=where,
            hint=f"correct it there: {LITERAL_HINT}",
        )
        self.mistake = mistake


class SecretEvaluator(Evaluator):
    """Evaluates the value of sensitive variable `variable`: each error says where and
    what kind of mistake, not the evaluator's own words, which may quote the value."""

    def __init__(self, source: SourceFile, module: Module, *, constant: str, variable: str) -> None:
        super().__init__(source, module, constant=constant)
        self.variable = variable

    def fail(self, node: Node, reason: str, hint: str) -> ConfigError:
        kind = node.data if isinstance(node, Tree) else "token"
        mistake = _MISTAKES.get(kind, "cannot be evaluated")
        return SecretValueError(self.variable, mistake, self.where(node))

    def child(self, names: JsonObject) -> Evaluator:
        assert self.constant is not None  # set by __init__
        scope = SecretEvaluator(
            self.source, self.module, constant=self.constant, variable=self.variable
        )
        scope.names = {**self.names, **names}
        return scope


def evaluate_value(
    expr: Node, source: SourceFile, module: Module, constant: str, secret: Optional[str]
) -> JsonValue:
    """The constant `expr`; `secret` names the sensitive variable it is the value of."""
    if secret is None:
        return Evaluator(source, module, constant=constant).eval(expr)
    evaluator = SecretEvaluator(source, module, constant=constant, variable=secret)
    try:
        return evaluator.eval(expr)
    except SecretValueError:
        raise
    except ConfigError as exc:
        # Not made by evaluator.fail (a template's error): its words are not ours to show.
        where = exc.location if isinstance(exc.location, Location) else None
        raise SecretValueError(secret, "cannot be evaluated", where) from None


# -- --var and DSTREAM_VAR_ texts ------------------------------------------------------


def parse_literal(text: str, label: str, reads: Reads, secret: Optional[str]) -> JsonValue:
    """A --var or DSTREAM_VAR_ text for a list, map, object... variable: an HCL (or JSON)
    literal. `label` names where it came from; `secret` as for evaluate_value."""
    module = Module(environ={}, reads=reads)
    try:
        source = parse_text(_LITERAL_PREFIX + text + "\n", label, cache=False)  # may be secret
        expr = source.body.attributes["value"].expr
        return evaluate_value(expr, source, module, f"the value of {label}", secret)
    except ConfigError as exc:
        if secret is None:
            shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
            raise ConfigError(
                f"{label}: {shown} is not a valid HCL value ({exc.reason})",
                hint='write lists as ["a", "b"] and maps as {k = "v"}',
            ) from None
        # Else a syntax error, whose words quote the text, or an error already hidden.
        mistake = exc.mistake if isinstance(exc, SecretValueError) else _SYNTAX_ERROR
        raise SecretValueError(secret, mistake, Location(label), _within(exc)) from None


_LITERAL_PREFIX = "value = "
_SYNTAX_ERROR = "does not parse as an HCL value"


def _within(exc: ConfigError) -> str:
    """Where in a --var text `exc` is: the text is parsed after _LITERAL_PREFIX."""
    where = exc.location
    if not isinstance(where, Location) or not where.line:
        return ""
    if where.line == 1:
        return f", at character {max(where.column - len(_LITERAL_PREFIX), 1)}"
    return f", at line {where.line}, column {where.column}"


# -- var files -------------------------------------------------------------------------


@record
class VarFile:
    """What one var file gives: a value for each name it sets, and the errors of the
    values it could not read (the others stand)."""

    values: dict[str, Given]
    names: dict[str, Location]  # where each name was written
    failed: dict[str, ConfigError]  # the error of each value that could not be read


def read_var_file(
    path: str,
    environ: RecordingEnviron,
    declared: frozenset[str],
    secrets: frozenset[str],
    taint: Taint,
) -> VarFile:
    """The var file at `path`: the values of the `declared` variables (of the others,
    where their names are), `secrets` the sensitive ones. Its expressions mark what they
    compute from a credential in `taint`, the configuration's own. ConfigError when the
    file as a whole cannot be read."""
    environ.reads.add_file(path)
    text = read_source(path)
    if path.endswith(".json"):
        return _read_json(path, text, secrets)
    try:
        source = parse_text(text, path, cache=False)  # values: maybe secret, never cached
    except ConfigError as exc:
        if not secrets or exc.location is None:
            raise
        from dstream.config.sprig import TemplateError, TemplateSyntaxError

        # Which variable the broken text was for is not known: it may be a secret. The
        # parser's hints name the mistake without quoting; a template's may quote.
        quoting = isinstance(exc, (TemplateError, TemplateSyntaxError))
        raise ConfigError(
            "the var file does not parse here (the parser's words are not shown: they may "
            "quote a sensitive variable's value)",
            location=exc.location,
            hint=LITERAL_HINT if quoting or not exc.hint else exc.hint,
        ) from None
    if source.body.blocks:
        block = source.body.blocks[0]
        raise ConfigError(
            f"a var file holds only NAME = value lines, not a {block.type} block",
            location=block.location,
            hint="declare variables in dstream.hcl; the var file only gives them values",
        )
    # env() and file() are noted; upper(env("API_TOKEN")) is marked where it counts
    module = Module(environ=environ, reads=environ.reads, taint=taint)
    out = VarFile({}, {}, {})
    for name, attribute in source.body.attributes.items():
        out.names[name] = attribute.location
        if name not in declared:
            continue  # no use for its value, which may be a secret under a misspelt name
        secret = name if name in secrets else None
        try:
            value = evaluate_value(attribute.expr, source, module, VAR_FILE_VALUE, secret)
        except ConfigError as exc:
            out.failed[name] = exc
            continue
        locate = tree_locator(attribute.expr, source)
        out.values[name] = Given(value, attribute.value_location, locate)
    return out


def names_set(path: str) -> Optional[frozenset[str]]:
    """The names a var file that read_var_file rejected sets, when its text parses that
    far (a name set twice, a block); None when that is not known (a syntax error)."""
    try:
        text = read_source(path)
        if path.endswith(".json"):
            data = json.loads(text)  # a key set twice too: the check left out
            return frozenset(data) if isinstance(data, dict) else None
        tree, _rewritten = parse_tree(text, path, cache=False)  # values: maybe secret
    except (ConfigError, ValueError, RecursionError):  # JSON's: ValueError, too deep
        return None
    return frozenset(attribute_names(tree))


def tree_locator(expr: Node, source: SourceFile) -> Callable[[Path], Location]:
    """Where the part of `expr`'s value at a path was written: followed through list
    and object literals as far as they go."""

    def locate(path: Path) -> Location:
        node = expr
        for step in path:
            inner = _part(node, step)
            if inner is None:
                break
            node = inner
        return source.location(node)

    return locate


def _part(node: Node, step: object) -> Optional[Node]:
    term = unwrap(node)
    if not isinstance(term, Tree):
        return None
    if term.data == "tuple" and isinstance(step, int):
        items = trees(term)
        return items[step] if step < len(items) else None
    if term.data == "object" and isinstance(step, str):
        for element in trees(term):
            key_node, value_node = trees(element)
            if literal_key(key_node) == step:
                return value_node
    return None


# -- JSON var files --------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, JsonValue]]) -> JsonObject:
    out: JsonObject = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _read_json(path: str, text: str, secrets: frozenset[str]) -> VarFile:
    try:
        check_nesting(text, templates=False)
    except TooDeep as exc:
        raise ConfigError(
            f"the JSON is {exc.reason}",
            location=Location(path, *exc.position(text)),
            hint="a variable's value is configuration, not data: flatten it",
        ) from None
    try:
        data = decode_config_json(text, object_pairs_hook=_unique_keys)
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
    except _DuplicateKey:
        raise _duplicate_key_error(path, text, secrets) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "a JSON var file must hold an object",
            location=Location(path, 1, 1),
            hint='write {"name": "value", ...}: one key for each variable',
        )
    document = _JsonText(text)
    out = VarFile({}, {}, {})
    for name, key_at, value_at in document.members(document.start()):
        out.names[name] = Location(path, *line_column(text, key_at))

        def locate(part: Path, value_at: int = value_at) -> Location:
            return Location(path, *line_column(text, document.value_start(value_at, part)))

        out.values[name] = Given(data[name], locate(()), locate)
    return out


def _duplicate_key_error(path: str, text: str, secrets: frozenset[str]) -> ConfigError:
    document = _JsonText(text)
    found = document.first_duplicate(document.start(), ())
    assert found is not None, "json.loads found a duplicate key in this text"
    key, trail, key_at = found
    if not trail:
        reason = f"variable {key!r} is set twice in this JSON var file"
    elif trail[0] in secrets:  # a key inside a sensitive value is part of the value
        reason = f'a key appears twice in an object of sensitive variable "{trail[0]}"'
    else:
        reason = f"the key {key!r} appears twice in one object of this JSON var file"
    return ConfigError(
        reason + " (JSON leaves which one counts to the reader)",
        location=Location(path, *line_column(text, key_at)),
        hint="keep one of the two",
    )


class _JsonText:
    """Places in a JSON text json.loads has read: where each key and value starts.
    Walked only along a path, or whole for an error."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._decoder = json.JSONDecoder()

    def start(self) -> int:
        return self._blanks(0)

    def _blanks(self, at: int) -> int:
        """`at`, moved past blanks."""
        text = self.text
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        return at

    def _end(self, at: int) -> int:
        """Where the value starting at `at` ends (the decoder's own scan)."""
        return int(self._decoder.raw_decode(self.text, at)[1])

    def members(self, at: int) -> list[tuple[str, int, int]]:
        """The members of the object starting at `at`: key, where it and its value start."""
        found = []
        at = self._blanks(at + 1)
        while self.text[at] == '"':
            key, after = scanstring(self.text, at + 1)
            value_at = self._blanks(self._blanks(after) + 1)  # past the ':'
            found.append((key, at, value_at))
            at = self._next(self._end(value_at))
        return found

    def _next(self, end: int) -> int:
        """Where the next member or element starts after one that ends at `end` (or
        where its container closes)."""
        at = self._blanks(end)
        return self._blanks(at + 1) if self.text[at] == "," else at

    def elements(self, at: int) -> list[int]:
        """Where each element of the array starting at `at` starts."""
        found = []
        at = self._blanks(at + 1)
        while self.text[at] != "]":
            found.append(at)
            at = self._next(self._end(at))
        return found

    def value_start(self, at: int, path: Path) -> int:
        """Where the part at `path` of the value starting at `at` starts, as far as the
        path leads."""
        for step in path:
            if self.text[at] == "{" and isinstance(step, str):
                found = [value_at for key, _, value_at in self.members(at) if key == step]
            elif self.text[at] == "[" and isinstance(step, int):
                found = self.elements(at)[step : step + 1]
            else:
                found = []
            if not found:
                break
            at = found[-1]
        return at

    def first_duplicate(
        self, at: int, trail: tuple[str, ...]
    ) -> Optional[tuple[str, tuple[str, ...], int]]:
        """The first key written twice in one object at or inside the value starting at
        `at`: the key, the keys leading to its object, and where it is written again."""
        inner: Optional[tuple[str, tuple[str, ...], int]] = None
        if self.text[at] == "{":
            seen: set[str] = set()
            for key, key_at, value_at in self.members(at):
                if key in seen:
                    return key, trail, key_at
                seen.add(key)
                inner = self.first_duplicate(value_at, (*trail, key))
                if inner is not None:
                    return inner
        elif self.text[at] == "[":
            for element_at in self.elements(at):
                inner = self.first_duplicate(element_at, trail)
                if inner is not None:
                    return inner
        return None
