"""`dstream.records.record` behaves as `dataclasses.dataclass` for what dstream uses:
each check builds the same class both ways and compares what they do."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, Callable, NamedTuple, Optional

import pytest

from dstream import records
from dstream.records import record


class Kit(NamedTuple):
    """One implementation's decorator and functions."""

    make: Callable[..., Any]
    field: Callable[..., Any]
    fields: Callable[[Any], Any]
    asdict: Callable[[Any], Any]
    replace: Callable[..., Any]
    frozen_error: type[Exception]


DATACLASS = Kit(
    dataclasses.dataclass,
    dataclasses.field,
    dataclasses.fields,
    dataclasses.asdict,
    dataclasses.replace,
    dataclasses.FrozenInstanceError,
)
RECORD = Kit(
    record, records.field, records.fields, records.asdict, records.replace,
    records.FrozenInstanceError,
)  # fmt: skip
BOTH = pytest.mark.parametrize("kit", [DATACLASS, RECORD], ids=["dataclass", "record"])
field = records.field  # for the classes made by records only


def pair(kit: Kit, *, frozen: bool = False) -> type:
    deco = kit.make(frozen=True) if frozen else kit.make

    @deco
    class Spec:
        """A class in the shape of the config model's."""

        name: str
        count: int = 3
        tags: list[str] = kit.field(default_factory=list)
        where: Optional[str] = kit.field(default=None, repr=False, compare=False)

    return Spec


@BOTH
def test_arguments_defaults_and_a_fresh_factory_value_each_time(kit: Kit) -> None:
    spec = pair(kit)
    one, two = spec("a"), spec("b", 5, tags=["x"], where="f:1:2")
    assert (one.name, one.count, one.tags, one.where) == ("a", 3, [], None)
    assert (two.name, two.count, two.tags, two.where) == ("b", 5, ["x"], "f:1:2")
    assert spec("c").tags is not one.tags
    assert list(vars(two)) == ["name", "count", "tags", "where"]  # orjson's order


@BOTH
def test_wrong_arguments_are_type_errors(kit: Kit) -> None:
    spec = pair(kit)
    for args, kwargs in (((), {}), (("a",), {"bogus": 1}), (("a",), {"name": "b"})):
        with pytest.raises(TypeError):
            spec(*args, **kwargs)
    with pytest.raises(TypeError):
        spec("a", 1, [], None, "extra")


def test_repr_eq_and_hash_match_dataclass() -> None:
    for frozen in (False, True):
        real, mine = pair(DATACLASS, frozen=frozen), pair(RECORD, frozen=frozen)
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
def test_frozen_refuses_assignment(kit: Kit) -> None:
    spec = pair(kit, frozen=True)("a")
    with pytest.raises(kit.frozen_error):
        spec.name = "b"
    with pytest.raises(kit.frozen_error):
        del spec.name


@BOTH
def test_fields_asdict_and_replace(kit: Kit) -> None:
    spec = pair(kit)("a", 2, ["t"], "w")
    assert [f.name for f in kit.fields(spec)] == ["name", "count", "tags", "where"]
    assert [f.name for f in kit.fields(type(spec))] == ["name", "count", "tags", "where"]
    assert kit.asdict(spec) == {"name": "a", "count": 2, "tags": ["t"], "where": "w"}
    changed = kit.replace(spec, count=7)
    assert (changed.count, changed.name, spec.count) == (7, "a", 2)
    outer = pair(kit)("o", 1, [spec])
    assert kit.asdict(outer)["tags"] == [kit.asdict(spec)]  # nested records converted
    with pytest.raises(TypeError):
        kit.fields(object())
    with pytest.raises(TypeError):
        kit.asdict(type(spec))


@record(frozen=True)
class Point:
    """At module level, where pickle finds a class: a record pickles as a dataclass does."""

    x: int
    y: int = 0


def test_a_record_survives_pickle() -> None:
    assert pickle.loads(pickle.dumps(Point(1, 2))) == Point(1, 2)


@BOTH
def test_post_init_and_a_field_it_sets(kit: Kit) -> None:
    @kit.make
    class Reader:
        interval: float
        current: float = kit.field(init=False)

        def __post_init__(self) -> None:
            self.current = self.interval * 2

    assert Reader(1.5).current == 3.0
    with pytest.raises(TypeError):
        Reader(1.0, 2.0)  # type: ignore[call-arg]


@BOTH
def test_a_subclass_adds_fields(kit: Kit) -> None:
    base = pair(kit)

    @kit.make
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
    with pytest.raises(records.FrozenInstanceError):
        child.extra = 5  # type: ignore[misc]


@BOTH
def test_replace_refuses_a_field_not_in_init(kit: Kit) -> None:
    @kit.make
    class Reader:
        interval: float
        current: float = kit.field(init=False, default=0.0)

    assert kit.replace(Reader(1.0), interval=2.0).interval == 2.0
    with pytest.raises(ValueError):
        kit.replace(Reader(1.0), current=2.0)


@BOTH
def test_class_shape_errors(kit: Kit) -> None:
    with pytest.raises(ValueError):  # one list shared by every instance

        @kit.make
        class Shared:
            items: list[int] = []

    with pytest.raises(TypeError):

        @kit.make
        class Ordered:
            first: int = 0
            second: int

    with pytest.raises(ValueError):
        kit.field(default=1, default_factory=int)


def test_class_attributes_hold_the_defaults_as_in_a_dataclass() -> None:
    real, mine = pair(DATACLASS), pair(RECORD)
    for name in ("count", "tags", "where"):
        assert hasattr(mine, name) == hasattr(real, name), name
        if hasattr(real, name):
            assert getattr(mine, name) == getattr(real, name)


def test_a_classvar_is_refused_not_made_a_field() -> None:
    with pytest.raises(TypeError, match="ClassVar"):

        @record
        class Counted:
            total: ClassVar[int] = 0  # noqa: F821


def test_a_record_is_not_a_dataclass_and_does_not_import_dataclasses() -> None:
    """The point of records (issue 22): no `dataclasses`, hence no `inspect`."""
    import subprocess
    import sys

    code = (
        "import sys; from dstream.records import record\n"
        "@record\nclass A:\n    x: int\n"
        "assert A(1).x == 1\n"
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert not dataclasses.is_dataclass(Point(1))
