"""`dstream.records.record` behaves as `dataclasses.dataclass` for what dstream uses:
each check builds the same class both ways and compares what they do."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, Callable, Optional

import orjson
import pytest

from dstream.records import field, record

Decorator = Callable[..., Any]
BOTH = pytest.mark.parametrize("make", [dataclasses.dataclass, record], ids=["dataclass", "record"])


def pair(make: Decorator, *, frozen: bool = False) -> type:
    deco = make(frozen=True) if frozen else make

    @deco
    class Spec:
        """A class in the shape of the config model's."""

        name: str
        count: int = 3
        tags: list[str] = field(default_factory=list)
        where: Optional[str] = field(default=None, repr=False, compare=False)

    return Spec


@BOTH
def test_arguments_defaults_and_a_fresh_factory_value_each_time(make: Decorator) -> None:
    spec = pair(make)
    one, two = spec("a"), spec("b", 5, tags=["x"], where="f:1:2")
    assert (one.name, one.count, one.tags, one.where) == ("a", 3, [], None)
    assert (two.name, two.count, two.tags, two.where) == ("b", 5, ["x"], "f:1:2")
    assert spec("c").tags is not one.tags
    assert list(vars(two)) == ["name", "count", "tags", "where"]  # orjson's order


@BOTH
def test_wrong_arguments_are_type_errors(make: Decorator) -> None:
    spec = pair(make)
    for args, kwargs in (((), {}), (("a",), {"bogus": 1}), (("a",), {"name": "b"})):
        with pytest.raises(TypeError):
            spec(*args, **kwargs)
    with pytest.raises(TypeError):
        spec("a", 1, [], None, "extra")


def test_repr_eq_and_hash_match_dataclass() -> None:
    for frozen in (False, True):
        real, mine = pair(dataclasses.dataclass, frozen=frozen), pair(record, frozen=frozen)
        a, b = real("a", 1, ["t"], "w"), mine("a", 1, ["t"], "w")
        assert repr(b).replace(mine.__qualname__, "X") == repr(a).replace(real.__qualname__, "X")
        assert b == mine("a", 1, ["t"], "elsewhere")  # compare=False field
        assert b != mine("a", 2, ["t"])
        assert b != a  # another class: not equal, as between two dataclasses
        if frozen:
            c, d = real("a", 1, ("t",)), mine("a", 1, ("t",))  # type: ignore[arg-type]
            assert hash(d) == hash(mine("a", 1, ("t",), "elsewhere"))  # type: ignore[arg-type]
            assert hash(d) == hash(c)  # the compared fields' tuple, as dataclasses hash
        else:
            with pytest.raises(TypeError):
                hash(b)


@BOTH
def test_frozen_refuses_assignment(make: Decorator) -> None:
    spec = pair(make, frozen=True)("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del spec.name


@BOTH
def test_dataclasses_functions_orjson_and_pickle(make: Decorator) -> None:
    spec = pair(make)("a", 2, ["t"], "w")
    assert [f.name for f in dataclasses.fields(spec)] == ["name", "count", "tags", "where"]
    assert dataclasses.asdict(spec) == {"name": "a", "count": 2, "tags": ["t"], "where": "w"}
    assert dataclasses.replace(spec, count=7).count == 7
    assert orjson.dumps(spec) == b'{"name":"a","count":2,"tags":["t"],"where":"w"}'


@record(frozen=True)
class Point:
    """At module level, where pickle finds a class (the parse cache pickles records)."""

    x: int
    y: int = 0


def test_a_record_survives_pickle() -> None:
    assert pickle.loads(pickle.dumps(Point(1, 2))) == Point(1, 2)


@BOTH
def test_post_init_and_a_field_it_sets(make: Decorator) -> None:
    @make
    class Reader:
        interval: float
        current: float = field(init=False)

        def __post_init__(self) -> None:
            self.current = self.interval * 2

    assert Reader(1.5).current == 3.0
    with pytest.raises(TypeError):
        Reader(1.0, 2.0)  # type: ignore[call-arg]


@BOTH
def test_a_subclass_adds_fields(make: Decorator) -> None:
    base = pair(make)

    @make
    class Child(base):  # type: ignore[valid-type,misc]
        extra: int = 0

    child = Child("a", extra=4)
    assert (child.name, child.count, child.extra) == ("a", 3, 4)
    assert child == Child("a", extra=4) and child != Child("a")


def test_a_frozen_record_subclasses_a_frozen_record() -> None:
    @record(frozen=True)
    class Base:
        name: str

    @record(frozen=True)
    class Child(Base):
        extra: int = 0

    child = Child("a", 4)
    assert (child.name, child.extra) == ("a", 4) and hash(child) == hash(Child("a", 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.extra = 5  # type: ignore[misc]
