"""The one type that several values can all take, by HCL's rules (go-cty's
convert.Unify): what Terraform gives the elements of a `list(any)`, `set(any)` or
`map(any)` value, and what HCL gives the two results of a conditional.

A value's own type is read from the value: a list is a tuple of its elements' types, an
object has its attributes' types (a list(T) or map(T) value holds elements of one type,
so reading it as a tuple or object unifies to the same values). Then, as cty's unify:

- strings, numbers and bools: one of them, or string for a mix holding a string
  (numbers and bools become text); a number and a bool have no common type;
- objects with the same attributes: an object whose attributes are unified one by one;
  with different attributes: a map, if all of their attributes unify to one type;
- tuples of one length: a tuple unified element by element; of different lengths: a
  list, if all of their elements unify to one type;
- any other mix (a number and a list, a list and an object): no common type.

null is a value of every type (HCL types a literal null by the other result; dstream
has no typed nulls, so every null takes the type of the values beside it).
"""

from __future__ import annotations

from dstream.config.functions import type_name
from dstream.config.typeexpr import ANY, EACH, Key, ObjectAttribute, Type, convert, path_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.config.typeexpr import Path
    from dstream.protocol.values import JsonValue

_PRIMITIVES = frozenset({"string", "number", "bool"})
# What a user calls a kind in messages: dstream says list and object (type_name).
_SHOWN = {"tuple": "list", "object": "object"}


class NoCommonType(Exception):
    """Values with no type in common: at `path` (from each value, EACH for every
    element) they hold values of `kinds`."""

    def __init__(self, path: Path, kinds: frozenset[str]) -> None:
        super().__init__(path, kinds)
        self.path = path
        self.kinds = kinds

    def detail(self, *, hide_keys: bool) -> str:
        """The kinds, and where below each value they meet: `bool and number at .a`
        (keys as [...] when `hide_keys`: those of a sensitive value may be secret)."""
        kinds = " and ".join(sorted(_SHOWN.get(kind, kind) for kind in self.kinds))
        if not self.path:
            return kinds
        # An attribute is shown as .name, unless a key of a sensitive value.
        shown = tuple(
            str(step) if isinstance(step, Key) and not hide_keys else step for step in self.path
        )
        return f"{kinds} at {path_text(shown, hide_keys=hide_keys)}"


def type_of(value: JsonValue) -> Type:
    """The type of `value` as HCL reads a literal: lists are tuples, objects objects."""
    if value is None:
        return ANY
    if isinstance(value, list):
        return Type("tuple", elements=tuple(type_of(item) for item in value))
    if isinstance(value, dict):
        attributes = tuple(ObjectAttribute(name, type_of(item)) for name, item in value.items())
        return Type("object", attributes=attributes)
    return Type(type_name(value))


def unify(types: list[Type], path: Path = ()) -> Type:
    """The type all of `types` convert to; NoCommonType if none."""
    known = [t for t in types if t.kind != "any"]
    if not known:
        return ANY
    kinds = frozenset(t.kind for t in known)
    if kinds == {"object"}:
        return _objects(known, path)
    if kinds == {"tuple"}:
        return _tuples(known, path)
    if len(kinds) == 1 and kinds <= _PRIMITIVES:
        return known[0]
    if kinds <= _PRIMITIVES and "string" in kinds:
        return Type("string")  # numbers and bools convert to text, not back
    raise NoCommonType(path, kinds)


def converted_alike(value: JsonValue, other: JsonValue) -> JsonValue:
    """`value` converted to the type it and `other` unify to (a conditional's result,
    with the result not taken); NoCommonType if none."""
    common = unify([type_of(value), type_of(other)])
    return convert(value, common)


def _objects(types: list[Type], path: Path) -> Type:
    names = [t.attributes for t in types]
    first = {a.name for a in names[0]}
    if all({a.name for a in attributes} == first for attributes in names[1:]):
        # Attribute by attribute; one that does not unify is no map either (cty).
        return Type(
            "object",
            attributes=tuple(
                ObjectAttribute(
                    a.name,
                    unify([_attribute(t, a.name) for t in types], (*path, Key(a.name))),
                )
                for a in names[0]
            ),
        )
    element = unify([a.type for attributes in names for a in attributes], (*path, EACH))
    return Type("map", element=element)


def _attribute(type_: Type, name: str) -> Type:
    return next(a.type for a in type_.attributes if a.name == name)


def _tuples(types: list[Type], path: Path) -> Type:
    length = len(types[0].elements)
    if all(len(t.elements) == length for t in types[1:]):
        # Element by element; one that does not unify is no list either (cty).
        return Type(
            "tuple",
            elements=tuple(
                unify([t.elements[i] for t in types], (*path, i)) for i in range(length)
            ),
        )
    element = unify([e for t in types for e in t.elements], (*path, EACH))
    return Type("list", element=element)
