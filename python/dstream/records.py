"""`record`: `dataclasses.dataclass` whose methods are shared functions, not generated.

On CPython before 3.13 `@dataclass` compiles each class's `__init__`, `__repr__` and
`__eq__` (and a frozen class's `__setattr__`, `__delattr__`, `__hash__`) from source text
when the class is created: about 1 ms per class here, and `dstream run` creates ~30
of them before its first envelope, a fifth of its start (issue 22, docs/benchmarks.md).
`record` lets dataclasses do everything else (fields, defaults, `__dataclass_fields__`,
so `dataclasses.fields`, `asdict`, `replace`, orjson and pickle treat a record as the
dataclass it is) and attaches methods written once, below, that read the fields.

What a record supports is what dstream uses: `@record` and `@record(frozen=True)`,
`field(default=..., default_factory=..., repr=False, compare=False)`, `__post_init__`.
tests/test_records.py holds it to `@dataclass`'s behaviour.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, Field, FrozenInstanceError
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**kwargs: object) -> Callable[[T], T]:
        return lambda f: f


T = TypeVar("T")
_INIT = "_record_init"  # per class, built at its first instance: see _plan


class _Slot:
    """One field as `__init__` fills it."""

    __slots__ = ("default", "factory", "init", "name")

    def __init__(self, f: Field[Any]) -> None:
        self.name, self.init = f.name, f.init
        self.default, self.factory = f.default, f.default_factory


def _plan(cls: type) -> tuple[tuple[_Slot, ...], frozenset[str]]:
    """The fields in order, and the names `__init__` takes."""
    plan = cls.__dict__.get(_INIT)
    if plan is None:
        slots = tuple(_Slot(f) for f in dataclasses.fields(cls))
        plan = (slots, frozenset(s.name for s in slots if s.init))
        setattr(cls, _INIT, plan)
    return plan


def _init(self: Any, *args: object, **kwargs: object) -> None:  # Any: any record
    """Set every field in field order (orjson writes a dataclass in its `__dict__`'s
    order), from the arguments, else its default or factory, as @dataclass's would."""
    cls = type(self)
    slots, takes = _plan(cls)
    name_of = cls.__qualname__
    positional = [s.name for s in slots if s.init]
    if len(args) > len(positional):
        raise TypeError(
            f"{name_of}() takes {len(positional)} positional arguments but {len(args)} were given"
        )
    given = dict(zip(positional, args))
    for name, value in kwargs.items():
        if name not in takes:
            raise TypeError(f"{name_of}() got an unexpected keyword argument {name!r}")
        if name in given:
            raise TypeError(f"{name_of}() got multiple values for argument {name!r}")
        given[name] = value
    setter = object.__setattr__
    for slot in slots:
        if slot.name in given:
            setter(self, slot.name, given[slot.name])
        elif slot.default is not MISSING:
            setter(self, slot.name, slot.default)
        elif slot.factory is not MISSING:
            setter(self, slot.name, slot.factory())
        elif slot.init:
            raise TypeError(f"{name_of}() missing required argument: {slot.name!r}")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _shown(self: Any) -> list[Field[Any]]:
    return [f for f in dataclasses.fields(self) if f.repr]


def _repr(self: Any) -> str:
    parts = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in _shown(self))
    return f"{type(self).__qualname__}({parts})"


def _key(self: Any) -> tuple[object, ...]:
    return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)


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


def _attach(cls: type[T], frozen: bool) -> type[T]:
    if not cls.__doc__:
        # Else dataclasses writes one from inspect.signature(cls), ~10 ms for a class
        # whose __init__ it did not write.
        cls.__doc__ = cls.__name__
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
    # As @dataclass: a frozen record hashes its fields, a mutable one is unhashable.
    methods = {**_METHODS, **(_FROZEN if frozen else {"__hash__": None})}
    for name, method in methods.items():
        setattr(cls, name, method)
    # Read by dataclasses when a record is subclassed (frozen from frozen only).
    cls.__dict__["__dataclass_params__"].frozen = frozen
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, Field))
def record(cls: Any = None, /, *, frozen: bool = False) -> Any:  # Any: as dataclass's
    """`@dataclass` / `@dataclass(frozen=True)`, without compiling methods per class."""
    if cls is None:
        return lambda c: _attach(c, frozen)
    return _attach(cls, frozen)


field = dataclasses.field
