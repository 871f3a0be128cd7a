"""`record`: `dataclasses.dataclass` whose methods are shared functions, not generated.

On CPython before 3.13 `@dataclass` compiles each class's `__init__`, `__repr__` and
`__eq__` (and a frozen class's `__setattr__`, `__delattr__`, `__hash__`) from source text
when the class is created: about 1 ms per class here, and `dstream run` creates 32
of them before its first envelope: a third of what it adds to the interpreter's start
(issue 22, docs/benchmarks.md).
`record` lets dataclasses do everything else (fields, defaults, `__dataclass_fields__`,
so `dataclasses.fields`, `asdict`, `replace`, orjson and pickle treat a record as the
dataclass it is) and attaches methods written once, below, that read the fields.

What a record supports is what dstream uses: `@record` and `@record(frozen=True)`,
`field(default=..., default_factory=..., repr=False, compare=False, init=False)`,
`__post_init__`. A shared `__init__` costs ~3x a generated one per instance: right for
dstream's own process, which makes ~50 in a one-task run; the providers, which make one per
message, keep `@dataclass`. tests/protocol/test_records.py holds a record to
`@dataclass`'s behaviour.
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


class _Plan:
    """What the shared methods need of a class, read once from its fields."""

    __slots__ = ("compared", "fields", "names", "post_init", "shown", "takes")

    def __init__(self, cls: type) -> None:
        fields = dataclasses.fields(cls)
        # name, default, factory, init: in field order
        self.fields = tuple((f.name, f.default, f.default_factory, f.init) for f in fields)
        self.names = tuple(f.name for f in fields if f.init)
        self.takes = frozenset(self.names)
        self.shown = tuple(f.name for f in fields if f.repr)
        self.compared = tuple(f.name for f in fields if f.compare)
        self.post_init = hasattr(cls, "__post_init__")


def _init(self: Any, *args: object, **kwargs: object) -> None:  # Any: any record
    """Set every field, in field order (orjson writes a dataclass in its `__dict__`'s
    order), from the arguments, else its default or factory, as @dataclass's would."""
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


def _attach(cls: type[T], frozen: bool) -> type[T]:
    if not cls.__doc__:
        # Else dataclasses writes one from inspect.signature(cls): several ms for a
        # class whose __init__ it did not write.
        cls.__doc__ = cls.__name__
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False)
    cls._record_plan = _Plan(cls)  # type: ignore[attr-defined]  # read by the methods
    # As @dataclass: a frozen record hashes its fields, a mutable one is unhashable.
    methods = {**_METHODS, **(_FROZEN if frozen else {"__hash__": None})}
    for name, method in methods.items():
        setattr(cls, name, method)
    # Its params keep frozen=False, as passed: dataclasses refuses a non-frozen subclass of
    # a frozen dataclass, and every record is one as far as it knows (frozen is ours).
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
