"""What an input yields becomes frame lines: the encoder's rules, in-process."""

from __future__ import annotations

import decimal

import orjson
import pytest

from dstream.sdk import Checkpoint, Envelope
from dstream.sdk.encode import encode_into


def _lines(*items: object) -> list[object]:
    parts: list[bytes] = []
    count = sum(encode_into(parts, item) for item in items)
    lines = b"".join(parts).splitlines()
    assert len(lines) == count
    return [orjson.loads(line) for line in lines]


def test_envelopes_checkpoints_dicts_lists_and_raw_lines() -> None:
    assert _lines(
        Envelope({"a": 1}, {"TableName": "t"}),
        Checkpoint({"lsn": "0/1"}),
        [{"data": 2}, Envelope(3)],
        b'{"data":4}\n',
    ) == [
        {"data": {"a": 1}, "metadata": {"TableName": "t"}},
        {"checkpoint": {"lsn": "0/1"}},
        {"data": 2},
        {"data": 3, "metadata": {}},
        {"data": 4},
    ]


def test_non_string_keys_decimals_and_bytes_are_encoded_losslessly() -> None:
    row = {1: decimal.Decimal("12345678901234567890.000001"), "b": b"\x00\xff"}
    assert _lines(Envelope(row)) == [
        {"data": {"1": "12345678901234567890.000001", "b": "AP8="}, "metadata": {}}
    ]


def test_an_unencodable_value_says_what_to_do() -> None:
    with pytest.raises(
        TypeError, match=r"cannot encode a builtins\.object as JSON; convert it to str"
    ):
        _lines(Envelope({"when": object()}))


def test_uniform_lists_fall_back_item_by_item_for_the_retry_and_the_error() -> None:
    """A list of only Envelopes or only dicts is encoded in one go; one item needing the
    non-string-key retry must neither lose nor repeat the items around it."""
    envelopes = [Envelope({"n": n}) for n in range(3)] + [Envelope({7: "int key"})]
    assert _lines(envelopes) == [{"data": {"n": n}, "metadata": {}} for n in range(3)] + [
        {"data": {"7": "int key"}, "metadata": {}}
    ]
    dicts = [{"data": decimal.Decimal("1.10")}, {"data": {(1, 2): "tuple key"}}]
    with pytest.raises(TypeError, match="Dict key"):  # no retry makes a tuple key JSON
        _lines(dicts)
    with pytest.raises(TypeError, match=r"cannot encode a builtins\.object"):
        _lines([{"data": 1}, {"data": object()}])
    assert _lines([]) == []


def test_a_null_checkpoint_is_refused_where_it_is_made() -> None:
    """dstream refuses {"checkpoint":null} as an invalid frame (it would reset the
    task): the SDK says so at the line that made it, not later from the pump."""
    with pytest.raises(ValueError, match="null is the state of a task that starts"):
        Checkpoint(None)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_checkpoint_json_cannot_hold_is_refused_where_it_is_made(value: float) -> None:
    """orjson writes nan and inf as null: the same refused frame as Checkpoint(None)."""
    with pytest.raises(ValueError, match="JSON has no such number"):
        Checkpoint(value)
    assert Checkpoint(1.5).value == 1.5


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"lsn": "0/1", "ratio": float("nan")}, r"at \['ratio'\]"),
        ({"tables": [{"pos": 1}, {"pos": float("-inf")}]}, r"at \['tables'\]\[1\]\['pos'\]"),
        ([1, float("inf")], r"at \[1\]"),
    ],
)
def test_a_nested_number_json_cannot_hold_is_refused_in_a_checkpoint(
    value: object, where: str
) -> None:
    """orjson writes nan and inf as null wherever they are: a nested one would store a
    resume position that no longer says where to resume."""
    with pytest.raises(ValueError, match=rf"cannot encode the float .* {where} as JSON"):
        Checkpoint(value)


@pytest.mark.parametrize(
    ("item", "where"),
    [
        (Envelope({"name": "caf\udce9"}), r"\['data'\]\['name'\]"),
        (
            [Envelope({"n": 1}), Envelope([1, {"k": ["ok", "\udcff"]}])],
            r"\['data'\]\[1\]\['k'\]\[1\]",
        ),
        ({"data": {"b\udcffad": 1}}, r"the key 'b\\udcffad' in \['data'\]"),
    ],
)
def test_a_lone_surrogate_names_where_it_is_and_how_to_convert_it(item: object, where: str) -> None:
    """A file name or a byte string decoded with surrogateescape holds lone surrogates,
    which UTF-8 cannot encode: the error says where, and how to make it text."""
    with pytest.raises(TypeError, match=rf"cannot encode .*{where}.*surrogate") as caught:
        _lines(item)
    assert "s.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')" in str(caught.value)
