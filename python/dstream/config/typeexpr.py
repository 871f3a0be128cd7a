"""The type constraints of `variable` blocks (`type = list(object({ port = number }))`)
and the conversion of a value to one, by Terraform's rules:

- `string`, `number`, `bool` convert into each other where the text spells the value
  ("5" -> 5, 5 -> "5", "true" -> true); a list or an object converts to none of them.
- `list(T)`, `set(T)`, `map(T)` convert every element to T; a set drops duplicates
  (and puts strings, numbers and bools in order).
  The elements of a collection whose element type holds `any` (`list(any)`, the legacy
  `list`, `set`, `map`, `list(object({ a = any }))`) are then given one type, the one
  they unify to (config/unify.py): ["a", 1] is ["a", "1"]; a mix with none is refused.
- `tuple([T1, T2])` takes exactly as many elements as it lists, each converted.
- `object({ a = T })` takes a value with at least those attributes, each converted; a
  missing one is an error unless declared `optional(T)` (then null) or
  `optional(T, default)`; attributes the type does not list are dropped.
- null is a value of every type.

A value that does not convert raises Mismatch, with the path to the part that does not
and what that part is, never the value itself: it may be a secret.
"""

from __future__ import annotations

from dstream.config.functions import (
    FunctionError,
    NumberOutOfRange,
    as_bool,
    to_number,
    to_string,
    type_name,
)
from dstream.config.limits import MAX_INTEGER_DIGITS
from dstream.config.syntax import bare_key, trees, unwrap
from dstream.config.tree import Tree
from dstream.errors import ConfigError, nearest
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Union

    from dstream.config.model import Location
    from dstream.config.tree import Node
    from dstream.config.unify import NoCommonType
    from dstream.protocol.values import JsonObject, JsonValue

    # A step into a value: a list index, an object attribute, or a map key (Key).
    Step = Union[int, str]
    Path = tuple[Step, ...]

KEYWORDS = ("string", "number", "bool", "any")
COLLECTIONS = ("list", "set", "map")
CONSTRUCTORS = (*COLLECTIONS, "object", "tuple")
TYPE_NAMES = (*KEYWORDS, *CONSTRUCTORS)
TYPE_HINT = (
    "a type is string, number, bool, any, list(T), set(T), map(T), tuple([T, ...]) or "
    "object({ NAME = T, ... }), written without quotes; an attribute of an object may be "
    "optional(T) or optional(T, default)"
)
# A type longer than this is shown by its kind in messages: `object({...})`.
_SHOWN_TYPE = 80


@record(frozen=True)
class Type:
    kind: str  # one of TYPE_NAMES
    element: Optional[Type] = None  # list, set, map
    attributes: tuple[ObjectAttribute, ...] = ()  # object
    elements: tuple[Type, ...] = ()  # tuple


@record(frozen=True)
class ObjectAttribute:
    """An attribute of an object type."""

    name: str
    type: Type
    optional: bool = False
    # optional(T, default): the default, converted to T (null when none is written).
    default: JsonValue = field(default=None, compare=False)


ANY = Type("any")


class Key(str):
    """A map's key in a Path (an object attribute is a plain str): shown as ["key"]."""


class _Each(str):
    """Every element, in a Path: shown as [*]."""


EACH = _Each("*")


def type_text(type_: Type) -> str:
    """The type as written in HCL; a long one by its kind only."""
    text = _written(type_)
    if len(text) <= _SHOWN_TYPE:
        return text
    return {"object": "object({...})", "tuple": "tuple([...])"}.get(type_.kind, text)


def _written(type_: Type) -> str:
    if type_.kind in COLLECTIONS:
        assert type_.element is not None
        return f"{type_.kind}({_written(type_.element)})"
    if type_.kind == "tuple":
        return "tuple([" + ", ".join(_written(t) for t in type_.elements) + "])"
    if type_.kind == "object":
        return "object({" + ", ".join(_attribute_text(a) for a in type_.attributes) + "})"
    return type_.kind


def _attribute_text(attribute: ObjectAttribute) -> str:
    written = _written(attribute.type)
    if not attribute.optional:
        return f"{attribute.name} = {written}"
    default = "" if attribute.default is None else ", ..."
    return f"{attribute.name} = optional({written}{default})"


# -- reading a type constraint ---------------------------------------------------------


class TypeReader:
    """Reads a `type = ...` expression: a type constraint is no value, it is read from
    the parse tree. `where` locates a node; `evaluate` gives an optional default's value."""

    def __init__(
        self, where: Callable[[Node], Location], evaluate: Callable[[Node], JsonValue]
    ) -> None:
        self.where = where
        self.evaluate = evaluate

    def read(self, node: Node) -> Type:
        term = unwrap(node)
        if isinstance(term, Tree) and term.data == "identifier":
            return self._keyword(term)
        if isinstance(term, Tree) and term.data == "function_call":
            return self._constructor(term)
        if isinstance(term, Tree) and term.data == "string":
            raise self._fail(
                node,
                "a type is written without quotes",
                'write type = string, not type = "string"; ' + TYPE_HINT,
            )
        raise self._fail(node, "this is not a type", TYPE_HINT)

    def _fail(self, node: Node, reason: str, hint: str = TYPE_HINT) -> ConfigError:
        return ConfigError(reason, location=self.where(node), hint=hint)

    def _keyword(self, term: Tree) -> Type:
        name = str(term.children[0])
        if name in KEYWORDS:
            return Type(name)
        if name in COLLECTIONS:  # the legacy shorthand: `list` is list(any)
            return Type(name, element=ANY)
        if name in ("object", "tuple"):
            shape = "object({ NAME = TYPE, ... })" if name == "object" else "tuple([TYPE, ...])"
            raise self._fail(term, f"{name} needs its parts: write {shape}")
        raise self._unknown(term, name)

    def _unknown(self, node: Node, name: str) -> ConfigError:
        if name == "optional":
            return self._fail(
                node,
                "optional(...) marks an attribute of an object type, and is valid only there",
                "write object({ NAME = optional(TYPE) }), or remove optional(...)",
            )
        guess = nearest(name, TYPE_NAMES)
        hint = (f"did you mean {guess}? " if guess else "") + TYPE_HINT
        return self._fail(node, f"unknown type {name}", hint)

    def _constructor(self, call: Tree) -> Type:
        parts = trees(call)
        name = str(parts[0].children[0])
        arguments = next((p for p in parts if p.data == "arguments"), None)
        args = trees(arguments) if arguments is not None else []
        if name in KEYWORDS:
            raise self._fail(call, f"{name} takes no arguments: write {name}")
        if name not in CONSTRUCTORS:
            raise self._unknown(parts[0], name)
        if len(args) != 1:
            shape = {"object": "object({ NAME = TYPE })", "tuple": "tuple([TYPE, ...])"}
            raise self._fail(
                call,
                f"{name}(...) takes one argument, got {len(args)}",
                f"write {shape.get(name, name + '(TYPE)')}",
            )
        if name == "object":
            return Type("object", attributes=self._attributes(args[0]))
        if name == "tuple":
            items = unwrap(args[0])
            if not (isinstance(items, Tree) and items.data == "tuple"):
                raise self._fail(args[0], "tuple(...) takes a list of types: tuple([TYPE, ...])")
            return Type("tuple", elements=tuple(self.read(item) for item in trees(items)))
        return Type(name, element=self.read(args[0]))

    def _attributes(self, node: Node) -> tuple[ObjectAttribute, ...]:
        shape = unwrap(node)
        if not (isinstance(shape, Tree) and shape.data == "object"):
            raise self._fail(node, "object(...) takes its attributes: object({ NAME = TYPE })")
        attributes: dict[str, ObjectAttribute] = {}
        for element in trees(shape):
            key_node, type_node = trees(element)
            name = self._attribute_name(key_node)
            if name in attributes:
                raise self._fail(
                    key_node,
                    f"attribute {name!r} appears twice in this object type",
                    "keep one of them",
                )
            attributes[name] = self._attribute(name, type_node)
        return tuple(attributes.values())

    def _attribute_name(self, key_node: Tree) -> str:
        name = bare_key(key_node)  # `port = number`, as an object's key
        if name is not None:
            return name
        inner = trees(key_node)[0]
        value = self.evaluate(inner)  # a quoted name: "first-name" = string
        if not isinstance(value, str):
            raise self._fail(inner, "an attribute name is a name or a quoted string")
        return value

    def _attribute(self, name: str, node: Node) -> ObjectAttribute:
        term = unwrap(node)
        if not (
            isinstance(term, Tree)
            and term.data == "function_call"
            and str(trees(term)[0].children[0]) == "optional"
        ):
            return ObjectAttribute(name, self.read(node))
        arguments = next((p for p in trees(term) if p.data == "arguments"), None)
        args = trees(arguments) if arguments is not None else []
        if not 1 <= len(args) <= 2:
            raise self._fail(
                term,
                f"optional(...) takes a type and, maybe, a default; got {len(args)} argument(s)",
                "write optional(TYPE) or optional(TYPE, DEFAULT)",
            )
        type_ = self.read(args[0])
        if len(args) == 1:
            return ObjectAttribute(name, type_, optional=True)
        default = self.evaluate(args[1])
        try:
            converted = convert(default, type_)
        except Mismatch as exc:
            subject = "the default" + path_text(exc.path, hide_keys=False)
            raise self._fail(
                args[1],
                f"the default of attribute {name!r} is not a {type_text(type_)}: "
                f"{subject} {exc.problem}",
                exc.hint(subject),
            ) from None
        return ObjectAttribute(name, type_, optional=True, default=converted)


# -- converting a value ----------------------------------------------------------------


class Mismatch(Exception):
    """A value that does not convert to a type: `path` leads to the part that does not,
    `problem` says what that part is (never quoting it), `expected` is its type."""

    def __init__(self, path: Path, problem: str, expected: Type) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem
        self.expected = expected

    def describe(self, *, hide_keys: bool) -> str:
        """`problem`, with the keys of a sensitive value hidden when `hide_keys`."""
        return self.problem

    def hint(self, subject: str) -> str:
        return f"give {subject} a {type_text(self.expected)} value, or change the variable's type"


class OutOfRange(Mismatch):
    """A number no configuration value can hold (config/numbers.py): `number` says
    what it is ("a number out of range ..."), not what it is written as."""

    def __init__(self, path: Path, number: str, expected: Type) -> None:
        super().__init__(path, f"is {number}", expected)
        self.number = number

    def hint(self, subject: str) -> str:
        return (
            f"give {subject} a number within ±1.8e308 (an integer of at most "
            f"{MAX_INTEGER_DIGITS:,} digits), or declare it type = string if the provider "
            "takes the value as text"
        )


class MissingAttribute(Mismatch):
    def __init__(self, path: Path, attribute: ObjectAttribute, expected: Type) -> None:
        super().__init__(path, f"has no attribute {attribute.name!r}", expected)
        self.attribute = attribute

    def hint(self, subject: str) -> str:
        name, written = self.attribute.name, _written(self.attribute.type)
        return (
            f"add {name} = ... to {subject}, or declare the attribute optional in the "
            f"variable's type: {name} = optional({written})"
        )


class WrongLength(Mismatch):
    def hint(self, subject: str) -> str:
        count = len(self.expected.elements)
        return f"give {subject} exactly {count} element(s), one for each type of the tuple"


class MixedElements(Mismatch):
    def __init__(self, path: Path, conflict: NoCommonType, expected: Type) -> None:
        super().__init__(path, self._problem(conflict, hide_keys=False), expected)
        self.conflict = conflict

    @staticmethod
    def _problem(conflict: NoCommonType, *, hide_keys: bool) -> str:
        return f"has elements of different types ({conflict.detail(hide_keys=hide_keys)})"

    def describe(self, *, hide_keys: bool) -> str:
        return self._problem(self.conflict, hide_keys=hide_keys)

    def hint(self, subject: str) -> str:
        kind = self.expected.kind
        return (
            f"give every element of {subject} the same type (strings take numbers and "
            f"bools), or declare each one's type: {kind}(object({{...}})), tuple([...])"
        )


def convert(value: JsonValue, type_: Type, path: Path = ()) -> JsonValue:
    """`value` converted to `type_`; Mismatch where it does not convert."""
    if value is None or type_.kind == "any":
        return value
    converted: JsonValue = _CONVERSIONS[type_.kind](value, type_, path)
    return converted


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _not_a(value: JsonValue, type_: Type, path: Path) -> Mismatch:
    return Mismatch(path, f"is {_a(type_name(value))} that is not {_a(type_.kind)}", type_)


def _string(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    if isinstance(value, (list, dict)):
        raise _not_a(value, type_, path)
    return to_string(value)


def _number(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    if isinstance(value, (bool, list, dict)):
        raise _not_a(value, type_, path)
    try:
        return to_number(value)
    except NumberOutOfRange as exc:
        raise OutOfRange(path, exc.problem, type_) from None
    except FunctionError:
        raise _not_a(value, type_, path) from None


def _bool(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    converted = as_bool(value)
    if converted is None:
        raise _not_a(value, type_, path)
    return converted


def _list(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    if not isinstance(value, list):
        raise _not_a(value, type_, path)
    assert type_.element is not None
    items = [convert(item, type_.element, (*path, i)) for i, item in enumerate(value)]
    return _unified(items, type_, path) if _holds_any(type_.element) else items


def _set(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    import json  # only a set needs it

    items = _list(value, type_, path)
    assert isinstance(items, list)
    seen: set[str] = set()
    unique = []
    for item in items:  # a set holds each value once; the first one keeps its place
        identity = json.dumps(item, sort_keys=True)
        if identity not in seen:
            seen.add(identity)
            unique.append(item)
    kinds = {type(item) for item in unique}  # set(any) holds one kind once unified
    if kinds and (kinds <= {str} or kinds <= {int, float} or kinds <= {bool}):
        unique.sort(key=_primitive_order)  # in order, as Terraform's
    return unique


def _primitive_order(value: JsonValue) -> Union[str, float]:
    """The order of a set's string, number or bool elements (all of one kind)."""
    assert isinstance(value, (str, int, float))
    return value


def _tuple(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    if not isinstance(value, list):
        raise _not_a(value, type_, path)
    if len(value) != len(type_.elements):
        count = len(type_.elements)
        raise WrongLength(path, f"has {len(value)} element(s), not {count}", type_)
    return [convert(item, t, (*path, i)) for i, (item, t) in enumerate(zip(value, type_.elements))]


def _map(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    if not isinstance(value, dict):
        raise _not_a(value, type_, path)
    assert type_.element is not None
    out: JsonObject = {k: convert(v, type_.element, (*path, Key(k))) for k, v in value.items()}
    if not _holds_any(type_.element):
        return out
    unified = _unified(list(out.values()), type_, path)
    return dict(zip(out, unified))


def _object(value: JsonValue, type_: Type, path: Path) -> JsonValue:
    if not isinstance(value, dict):
        raise _not_a(value, type_, path)
    out: JsonObject = {}
    for attribute in type_.attributes:
        name = attribute.name
        given = value.get(name)
        if given is None and attribute.optional:
            out[name] = _copy(attribute.default)
        elif name not in value:
            raise MissingAttribute(path, attribute, type_)
        else:
            out[name] = convert(given, attribute.type, (*path, name))
    return out


def _copy(value: JsonValue) -> JsonValue:
    """A default given to many values: each gets its own."""
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _holds_any(type_: Type) -> bool:
    """Whether `type_` leaves a part's type to the value (any): values of it may differ."""
    if type_.kind == "any":
        return True
    parts = (type_.element,) if type_.element is not None else ()
    return any(
        _holds_any(part) for part in (*parts, *type_.elements, *(a.type for a in type_.attributes))
    )


def _unified(items: list[JsonValue], type_: Type, path: Path) -> list[JsonValue]:
    """The converted elements of a list, set or map whose element type holds `any`,
    given the one type they unify to, as Terraform's conversion does (cty's
    conversionUnifyListElements): [[1], ["a"]] is [["1"], ["a"]]."""
    from dstream.config.unify import NoCommonType, type_of, unify  # it imports this module

    try:
        common = unify([type_of(item) for item in items])
    except NoCommonType as exc:
        if exc.path:  # below the elements: from each one, [*]
            exc = NoCommonType((EACH, *exc.path), exc.kinds)
        raise MixedElements(path, exc, type_) from None
    return [convert(item, common) for item in items]


_CONVERSIONS: dict[str, Callable[[JsonValue, Type, Path], JsonValue]] = {
    "string": _string,
    "number": _number,
    "bool": _bool,
    "list": _list,
    "set": _set,
    "tuple": _tuple,
    "map": _map,
    "object": _object,
}


def path_text(path: Path, *, hide_keys: bool) -> str:
    """`path` as HCL writes it after a value: [0], .port, ["key"] (a key of a sensitive
    value is sensitive: `hide_keys` shows it as [...])."""
    import json  # only an error needs it

    parts = []
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif isinstance(step, _Each):
            parts.append("[*]")
        elif isinstance(step, Key):
            parts.append("[...]" if hide_keys else f"[{json.dumps(str(step))}]")
        elif step.isidentifier():
            parts.append(f".{step}")
        else:
            parts.append(f"[{json.dumps(step)}]")
    return "".join(parts)
