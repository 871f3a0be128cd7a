"""`record`: a class of named fields, as `@dataclass` makes, without `dataclasses`.

On CPython before 3.13 `@dataclass` compiles each class's `__init__`, `__repr__` and
`__eq__` (and a frozen class's `__setattr__`, `__delattr__`, `__hash__`) from source text
when the class is created, and importing `dataclasses` imports `inspect` (with `ast`,
`dis` and `tokenize`): together a third of what `dstream run` used to add to the
interpreter's start (issue 22, docs/benchmarks.md). A record's fields are read once from
its annotations, and its methods are written once, below, for every record.

What a record supports is what dstream uses: `@record` and `@record(frozen=True)`,
`field(default=..., default_factory=..., repr=False, compare=False, init=False)`,
`__post_init__`, subclassing, and `fields`, `asdict` and `replace` from this module. A
`ClassVar` annotation is refused rather than silently made a field. The encoders do not
write a record as an object: a caller converts it with `asdict`. A shared `__init__`
costs ~3x a generated one per instance: right for dstream's own process, which makes ~50
in a one-task run; the providers, which make one per message, keep `@dataclass`.
tests/protocol/test_records.py holds a record to `@dataclass`'s behaviour.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar, overload

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:  # what the two decorators do at run time, without importing typing (issue 22)

    def dataclass_transform(**kwargs: object) -> object:
        return lambda f: f

    def overload(func: object) -> object:
        return func


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # Any: a default of any field's type, as dataclasses.MISSING


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record (dataclasses' error of that name)."""


class Field:
    """One field: its name (set when its class is made), default or factory, flags."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(
        self,
        default: object = MISSING,
        default_factory: Any = MISSING,  # Any: a callable or MISSING
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.compare = init, repr, compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(
    *,
    default: Any = MISSING,  # Any: the field's type
    default_factory: Any = MISSING,  # Any: a callable returning the field's type
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
) -> Any:  # Any: typed by the annotation it is assigned to, as dataclasses.field
    return Field(default, default_factory, init, repr, compare)


class _Plan:
    """What the shared methods need of a class, read once from its fields."""

    __slots__ = ("compared", "fields", "names", "post_init", "shown", "takes")

    def __init__(self, cls: type, fields: tuple[Field, ...]) -> None:
        # name, default, factory, init: in field order
        self.fields = tuple((f.name, f.default, f.default_factory, f.init) for f in fields)
        self.names = tuple(f.name for f in fields if f.init)
        self.takes = frozenset(self.names)
        self.shown = tuple(f.name for f in fields if f.repr)
        self.compared = tuple(f.name for f in fields if f.compare)
        self.post_init = hasattr(cls, "__post_init__")


def _init(self: Any, *args: object, **kwargs: object) -> None:  # Any: any record
    """Set every field, in field order, from the arguments, else its default or
    factory, as @dataclass's would."""
    plan: _Plan = self._record_plan
    values = self.__dict__  # not setattr: a frozen record refuses it
    if not kwargs and len(args) == len(plan.fields) == len(plan.names):
        values.update(zip(plan.names, args))  # every field given in order: most calls
    else:
        given = _bind(plan, type(self).__qualname__, args, kwargs)
        for name, default, factory, init in plan.fields:
            if name in given:
                values[name] = given[name]
            elif default is not MISSING:
                values[name] = default
            elif factory is not MISSING:
                values[name] = factory()
            elif init:
                raise TypeError(f"{type(self).__qualname__}() missing required argument: {name!r}")
    if plan.post_init:
        self.__post_init__()


def _bind(
    plan: _Plan, of: str, args: tuple[object, ...], kwargs: dict[str, object]
) -> dict[str, object]:
    """The arguments by field name, refused as Python refuses a call's."""
    if len(args) > len(plan.names):
        raise TypeError(
            f"{of}() takes {len(plan.names)} positional arguments but {len(args)} were given"
        )
    given = dict(zip(plan.names, args))
    for name, value in kwargs.items():
        if name not in plan.takes:
            raise TypeError(f"{of}() got an unexpected keyword argument {name!r}")
        if name in given:
            raise TypeError(f"{of}() got multiple values for argument {name!r}")
        given[name] = value
    return given


def _repr(self: Any) -> str:
    parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_plan.shown)
    return f"{type(self).__qualname__}({parts})"


def _key(self: Any) -> tuple[object, ...]:
    return tuple(getattr(self, name) for name in self._record_plan.compared)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: Any) -> int:
    return hash(_key(self))


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


_METHODS: dict[str, object] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq}
_FROZEN: dict[str, object] = {
    "__setattr__": _frozen_setattr,
    "__delattr__": _frozen_delattr,
    "__hash__": _hash,
}
# Defaults shared by every instance would be one object mutated through all of them.
_MUTABLE = (list, dict, set)


def _own_annotations(cls: type) -> dict[str, object]:
    # Not inspect.get_annotations: importing inspect is the cost this module avoids.
    found = cls.__dict__.get("__annotations__")  # noqa: RUF063
    if found is None and "__annotate__" in cls.__dict__:  # CPython 3.14's lazy ones
        found = cls.__annotations__
    return dict(found or {})


def _collect(cls: type) -> tuple[Field, ...]:
    """The fields of `cls`: its record bases' first, then its own annotations in order
    (a redefined field keeps its first place), as dataclasses collects them."""
    fields: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("_record_fields", ()):
            fields[f.name] = f
    for name, kind in _own_annotations(cls).items():
        if str(kind).replace("typing.", "").startswith("ClassVar"):
            raise TypeError(f"{cls.__qualname__}.{name}: a record has no ClassVar fields")
        value = cls.__dict__.get(name, MISSING)
        made = value if isinstance(value, Field) else Field(default=value)
        if isinstance(made.default, _MUTABLE):
            raise ValueError(
                f"mutable default {type(made.default)} for field {name} is not allowed: "
                "use default_factory"
            )
        made.name = name
        fields[name] = made
        if isinstance(value, Field):  # the class keeps the plain default, as dataclasses'
            if made.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, made.default)
    defaulted = False
    for f in fields.values():
        if not f.init:
            continue
        if f.default is MISSING and f.default_factory is MISSING:
            if defaulted:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            defaulted = True
    return tuple(fields.values())


def _attach(cls: type[T], frozen: bool) -> type[T]:
    found = _collect(cls)
    cls._record_fields = found  # type: ignore[attr-defined]  # read by fields()
    cls._record_plan = _Plan(cls, found)  # type: ignore[attr-defined]  # read by the methods
    # As @dataclass: a frozen record hashes its fields, a mutable one is unhashable.
    methods = {**_METHODS, **(_FROZEN if frozen else {"__hash__": None})}
    for name, method in methods.items():
        setattr(cls, name, method)
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...


# F811: ruff does not take the run-time `overload` above for typing's
@overload
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...  # noqa: F811


@dataclass_transform(field_specifiers=(field, Field))
def record(cls: Any = None, /, *, frozen: bool = False) -> Any:  # noqa: F811  # Any: as dataclass's
    """`@dataclass` / `@dataclass(frozen=True)`, without compiling methods per class."""
    if cls is None:
        return lambda c: _attach(c, frozen)
    return _attach(cls, frozen)


def is_record(obj: object) -> bool:
    """Whether `obj` is a record instance (not a record class)."""
    return not isinstance(obj, type) and hasattr(type(obj), "_record_fields")


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a record or record class, in order (`dataclasses.fields`)."""
    found: tuple[Field, ...] | None = getattr(obj, "_record_fields", None)
    if found is None:
        raise TypeError(f"{obj!r} is not a record or a record class")
    return found


def asdict(
    obj: object, *, skip: frozenset[str] = frozenset()
) -> dict[str, Any]:  # Any: the fields' values, as asdict's
    """The fields of a record as a dict, records, lists, tuples and dicts inside it
    converted too (`dataclasses.asdict`, except that other values are not copied).
    `skip`: names of fields left out of this record and of every record inside it."""
    if not is_record(obj):
        raise TypeError(f"asdict() needs a record instance, not {type(obj).__name__}")
    return {
        f.name: _converted(getattr(obj, f.name), skip) for f in fields(obj) if f.name not in skip
    }


def _converted(value: object, skip: frozenset[str]) -> object:
    if is_record(value):
        return asdict(value, skip=skip)
    if isinstance(value, (list, tuple)):
        return type(value)(_converted(v, skip) for v in value)
    if isinstance(value, dict):
        return type(value)((_converted(k, skip), _converted(v, skip)) for k, v in value.items())
    return value


def replace(obj: T, /, **changes: object) -> T:
    """A copy of the record `obj` with `changes` (`dataclasses.replace`)."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)
