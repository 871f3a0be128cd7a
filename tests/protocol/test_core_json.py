"""dstream._core.dumps, the encoder of dstream's own process: orjson.dumps's bytes, byte
for byte (stored input digests hash this text), and integers beyond 64 bits written
exactly where orjson refuses them.

orjson is the oracle: every value is encoded by both, under every combination of flags.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
import struct
from typing import Any, Callable

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dstream._core import Fragment, dumps

LOW, HIGH = -(2**63), 2**64 - 1  # the integers orjson writes itself
FLAGS = list(itertools.product([False, True], repeat=3))  # sort_keys, indent, non_str_keys


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    """orjson does not write float subclasses: both pass them to `default`."""


class Items(list):
    pass


class Mapping(dict):
    pass


class Color(enum.IntEnum):
    RED = 1
    HUGE = 2**64 - 1


class Mode(str, enum.Enum):
    FAST = "fast"
    SLOW = "slów\n"


class Ratio(float, enum.Enum):  # not a float subclass to orjson: an enum member
    THIRD = 1 / 3


class Plain(enum.Enum):  # written as its value
    ONE = 1
    HALF = 0.5
    NAME = "name"
    NOTHING = None
    PAIR = (1, "two")


class Opaque:
    def __init__(self, name: str) -> None:
        self.name = name


def handle(obj: Any) -> object:  # Any: any object reaches a default
    if isinstance(obj, Opaque):
        return {"opaque": obj.name}
    if isinstance(obj, Real):
        return ["real", float(obj)]
    raise TypeError(f"unexpected {type(obj)}")


def reference(
    value: object, *, sort_keys: bool, indent: bool, non_str_keys: bool, default: Any = None
) -> bytes:
    """orjson.dumps with the same flags, integers beyond 64 bits and our fragments
    swapped for orjson's fragments (what encode_json did through its fallback)."""
    option = (
        (orjson.OPT_SORT_KEYS if sort_keys else 0)
        | (orjson.OPT_INDENT_2 if indent else 0)
        | (orjson.OPT_NON_STR_KEYS if non_str_keys else 0)
    )
    return orjson.dumps(as_orjson(value), option=option, default=default)


def as_orjson(value: object) -> object:
    if isinstance(value, Fragment):
        return orjson.Fragment(value.contents)
    if isinstance(value, int) and not isinstance(value, bool) and not LOW <= value <= HIGH:
        return orjson.Fragment(int.__repr__(value).encode())
    if isinstance(value, dict):
        return type(value)((k, as_orjson(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(as_orjson(v) for v in value)
    return value


def double(sign: bool, exponent: int, mantissa: int) -> float:
    bits = sign << 63 | exponent << 52 | mantissa
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


# Every bit pattern, its fields drawn apart so that every exponent is as likely (a
# drawn 64-bit integer leans small: mostly tiny doubles): subnormals, NaNs, infinities.
BIT_PATTERNS = st.builds(double, st.booleans(), st.integers(0, 2047), st.integers(0, 2**52 - 1))


EDGE_FLOATS = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, 2.2250738585072014e-308]
EDGE_FLOATS += [1.7976931348623157e308, 1e16, 1e15, 1e-7, 1e-6, 0.1, 1 / 3, -1.5e-300]
FLOATS = st.one_of(
    BIT_PATTERNS,
    st.sampled_from(EDGE_FLOATS),
    st.floats(),
)
EDGE_INTS = [LOW, LOW + 1, LOW - 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**64), 10**40]
INTS = st.one_of(st.integers(), st.sampled_from(EDGE_INTS))
EDGE_CHARS = ["\x00", "\x08", "\x1f", "\x7f", "\x80", '"', "\\", "/", "\u2028", "😀"]
CHARS = st.one_of(st.characters(codec="utf-8"), st.sampled_from(EDGE_CHARS))
TEXTS = st.text(CHARS, max_size=12)
FRAGMENTS = st.sampled_from(['{"a":[1,2]}', "[]", "1e5", '"\\u00e9"', " null "]).flatmap(
    lambda t: st.sampled_from([Fragment(t), Fragment(t.encode())])
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTS,
    INTS.map(Number),
    FLOATS,
    FLOATS.map(Real),
    TEXTS,
    TEXTS.map(Text),
    st.sampled_from([*Color, *Mode, *Ratio, *Plain]),
    TEXTS.map(Opaque),
    FRAGMENTS,
)
# Keys orjson takes with OPT_NON_STR_KEYS (integers within 64 bits only).
KEYS = st.one_of(
    TEXTS,
    TEXTS.map(Text),
    st.integers(LOW, HIGH),
    st.booleans(),
    st.none(),
    FLOATS,
    st.sampled_from([Color.RED, *Mode, Plain.ONE, Plain.HALF, Plain.NAME, Plain.NOTHING]),
)


def distinct_key_texts(d: dict[Any, object]) -> dict[Any, object]:  # Any: any key type
    """Without the keys whose text repeats an earlier one's ("1" and 1): their order
    after sorting is the sort algorithm's, not a property of the encoding."""
    seen: set[bytes] = set()
    kept = {}
    for k, v in d.items():
        text = orjson.dumps({k: None}, option=orjson.OPT_NON_STR_KEYS)
        if text not in seen:
            seen.add(text)
            kept[k] = v
    return kept


def containers(keys: st.SearchStrategy[Any]) -> Callable[[st.SearchStrategy[Any]], Any]:
    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        dicts = st.dictionaries(keys, children, max_size=5).map(distinct_key_texts)
        return st.one_of(
            st.lists(children, max_size=5),
            st.lists(children, max_size=5).map(tuple),
            st.lists(children, max_size=5).map(Items),
            dicts,
            dicts.map(Mapping),
        )

    return extend


STR_KEYED = st.recursive(SCALARS, containers(st.one_of(TEXTS)), max_leaves=30)
ANY_KEYED = st.recursive(SCALARS, containers(KEYS), max_leaves=30)


@pytest.mark.parametrize(("sort_keys", "indent", "non_str_keys"), FLAGS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_bytes_as_orjson(
    data: st.DataObject, sort_keys: bool, indent: bool, non_str_keys: bool
) -> None:
    value = data.draw(ANY_KEYED if non_str_keys else STR_KEYED)
    flags = dict(sort_keys=sort_keys, indent=indent, non_str_keys=non_str_keys)
    assert dumps(value, default=handle, **flags) == reference(value, default=handle, **flags)


@given(BIT_PATTERNS)
@example(-0.0)
@example(1e16)
@example(5e-324)
def test_floats_from_every_bit_pattern(value: float) -> None:
    assert dumps([value, {"k": value}]) == orjson.dumps([value, {"k": value}])
    assert dumps({value: 0}, non_str_keys=True) == orjson.dumps(
        {value: 0}, option=orjson.OPT_NON_STR_KEYS
    )


@pytest.mark.parametrize("n", [2**64, 2**64 + 1, -(2**63) - 1, -(10**100), 3**500])
def test_integers_beyond_64_bits_are_written_exactly(n: int) -> None:
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(n)
    assert dumps(n) == str(n).encode()
    assert dumps({"a": [n, Number(n)]}) == b'{"a":[%d,%d]}' % (n, n)


def test_fragments_are_written_verbatim() -> None:
    value = {"a": Fragment(b'{"x": 1}'), "b": [Fragment("[1,2]"), 3], "c": (Fragment("7"),)}
    assert dumps(value) == b'{"a":{"x": 1},"b":[[1,2],3],"c":[7]}'
    assert dumps(value) == reference(value, sort_keys=False, indent=False, non_str_keys=False)
    assert Fragment(b"1").contents == b"1" and Fragment("1").contents == "1"
    assert Fragment(b"1") == Fragment(b"1") != Fragment(b"2")
    assert len({Fragment("x"), Fragment("x")}) == 1
    not_text: Any = 1  # Any: what the stub rules out, to see it refused
    with pytest.raises(TypeError):
        Fragment(not_text)
    with pytest.raises(TypeError, match="surrogates not allowed"):
        dumps(Fragment("\ud800"))


def test_default_replaces_what_is_not_json() -> None:
    value = [Opaque("x"), {"k": Opaque("y")}]
    assert dumps(value, default=str) == orjson.dumps(value, default=str)
    assert dumps(value, default=handle) == b'[{"opaque":"x"},{"k":{"opaque":"y"}}]'


def test_default_that_raises_is_the_cause() -> None:
    def refuse(obj: object) -> object:
        raise ValueError("no")

    with pytest.raises(TypeError, match=r"^Type is not JSON serializable: Opaque$") as caught:
        dumps(Opaque("x"), default=refuse)
    assert isinstance(caught.value.__cause__, ValueError)


def test_default_calls_nest_as_deep_as_orjson_allows() -> None:
    def unwrap(obj: Any) -> object:  # Any: an Opaque holding an int or another Opaque
        return obj.name

    def chain(calls: int) -> Opaque:
        value: Any = 1
        for _ in range(calls):
            value = Opaque(value)
        return value

    assert dumps(chain(255), default=unwrap) == orjson.dumps(chain(255), default=unwrap)
    for encode in (dumps, orjson.dumps):
        with pytest.raises(TypeError, match=r"^default serializer exceeds recursion limit$"):
            encode(chain(256), default=unwrap)
        with pytest.raises(TypeError, match="exceeds recursion limit"):
            encode(Opaque("x"), default=lambda o: o)  # returns what it cannot encode


ERRORS: list[tuple[object, dict[str, Any], str]] = [
    (Opaque("x"), {}, "Type is not JSON serializable: Opaque"),
    (Real(1.5), {}, "Type is not JSON serializable: Real"),
    (struct.Struct("b"), {}, "Type is not JSON serializable: _struct.Struct"),
    ({1: 2}, {}, "Dict key must be str"),
    ({Text("k"): 2}, {}, "Dict key must be str"),
    ({"a": 1, 2: 3}, {"sort_keys": True}, "Dict key must be str"),
    ({(1,): 2}, {"non_str_keys": True}, "Dict key must a type serializable"),
    ({Real(1.0): 2}, {"non_str_keys": True}, "Dict key must a type serializable"),
    ({2**64: 2}, {"non_str_keys": True}, "Dict integer key must be within 64-bit range"),
    ("a\ud800", {}, "str is not valid UTF-8: surrogates not allowed"),
    ({"\udfff": 1}, {}, "str is not valid UTF-8: surrogates not allowed"),
    ({Text("\udfff"): 1}, {"non_str_keys": True}, "str is not valid UTF-8"),
]


@pytest.mark.parametrize(("value", "flags", "message"), ERRORS)
def test_refusals_are_orjsons(value: object, flags: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(message)}") as ours:
        dumps(value, **flags)
    flags = dict(dict.fromkeys(["sort_keys", "indent", "non_str_keys"], False), **flags)
    with pytest.raises(TypeError) as theirs:
        reference(value, **flags)
    assert str(ours.value) == str(theirs.value)


def nested(pattern: str, leaf: object = 1) -> object:
    """Containers from the outermost in: L a list, D a dict, T a tuple."""
    value = leaf
    for kind in reversed(pattern):
        value = [value] if kind == "L" else {"k": value} if kind == "D" else (value,)
    return value


def first_refused(encode: Callable[..., bytes], prefix: str, unit: str, leaf: object) -> int:
    """The fewest repetitions of `unit` after `prefix` that `encode` refuses; 0 when
    none up to 1000 levels (orjson itself crashes some thousands of levels down)."""
    for n in range(1, (1000 - len(prefix)) // len(unit) + 1):
        try:
            encode(nested(prefix + unit * n, leaf), default=handle)
        except TypeError as e:
            assert str(e) == "Recursion limit reached"
            return n
    return 0


@pytest.mark.parametrize(
    ("prefix", "unit"),
    [
        *[("", unit) for unit in ("L", "D", "LT", "DT", "TL", "LTT", "TLD")],
        *[("T" * 100, "L"), ("T" * 254, "D"), ("T" * 255, "L"), ("L" * 200, "T")],
    ],
)
@pytest.mark.parametrize("leaf", [1, [], {}, (), Plain.PAIR, Opaque("x")])
def test_nesting_limit_is_orjsons(prefix: str, unit: str, leaf: object) -> None:
    """orjson 3.13 counts every container but checks only lists and dicts, at exactly
    level 255: a list reached past it through tuples goes on. Measured, not designed."""
    ours = first_refused(dumps, prefix, unit, leaf)
    assert ours == first_refused(orjson.dumps, prefix, unit, leaf)
    if ours != 1:  # the deepest value both write, written alike
        deepest = nested(prefix + unit * (ours - 1 if ours else 3), leaf)
        assert dumps(deepest, default=handle) == orjson.dumps(deepest, default=handle)


def test_deep_tuples_are_bounded() -> None:
    """A deliberate difference: orjson writes tuples nested past level 255 (and crashes
    a few thousand levels down); here no container may be deeper than 1024."""
    assert dumps(nested("T" * 1024)) == b"[" * 1024 + b"1" + b"]" * 1024
    with pytest.raises(TypeError, match=r"^Recursion limit reached$"):
        dumps(nested("T" * 1025))
    with pytest.raises(TypeError, match=r"^Recursion limit reached$"):
        dumps(nested("TL" * 600))


def test_a_dict_changed_by_default_while_written() -> None:
    """Keys swapped at the same size are walked as orjson walks them; a change of size
    is a TypeError (a deliberate difference: orjson writes the first items it finds)."""

    def run(encode: Callable[..., bytes], change: Callable[[dict[str, object]], None]) -> bytes:
        d: dict[str, object] = {"a": Opaque("x"), "b": 1}

        def mutate(obj: object) -> object:
            change(d)
            return 0

        return encode(d, default=mutate)

    def swap(d: dict[str, object]) -> None:
        del d["b"]
        d["z"] = 2

    assert run(dumps, swap) == run(orjson.dumps, swap) == b'{"a":0,"z":2}'
    with pytest.raises(TypeError, match="changed size"):
        run(dumps, lambda d: d.update(c=3))
