"""The one JSON encoder of dstream's process (dstream.protocol.values.encode_json, the
Rust core's): orjson's bytes for everything orjson takes, and integers of any size kept
exact. tests/protocol/test_core_json.py compares the encoder with orjson at random."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from dstream.config.loader import load_project_text
from dstream.protocol.messages import Command, command_line
from dstream.protocol.values import decode_json, encode_json
from dstream.records import asdict, record
from dstream.runtime.resume import input_digest
from tests.hostile.numbers import BIG

PLAIN = {
    "int": 9223372036854775807,
    "low": -9223372036854775808,
    "top": 2**64 - 1,
    "float": 0.25,
    "exp": 1e16,
    "tiny": 1.5e-7,
    "text": 'é ✓ \u2028 "q"',
    "list": [1, 2.0, "3", None, True, False],
    "nested": {"b": {"a": []}, "a": {}},
}
# encode_json's flags and orjson's options for the same layout
OPTIONS: list[tuple[dict[str, Any], int]] = [
    ({}, 0),
    ({"sort_keys": True}, orjson.OPT_SORT_KEYS),
    ({"indent": True}, orjson.OPT_INDENT_2),
    ({"indent": True, "sort_keys": True}, orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS),
]

# A normal input configuration, and the digest the code before this encoder stored for
# it: a stored digest that changes would make every resume ask --resume-changed.
CONFIG = """
locals { tables = ["dbo.Orders", "dbo.Customers"] }
task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count = 9223372036854775807
      low = -9223372036854775808
      interval = 0.25
      ratio = 1e16
      tiny = 1.5e-7
      name = "é ünïcode ✓"
      tables = local.tables
      nested = { on = true, off = null, list = [1, 2.0, "3"] }
    }
  }
  output { provider_path = "dstream-console" }
}
"""
BIG_CONFIG = CONFIG.replace("-9223372036854775808", str(-BIG))  # beyond 64 bits
# Moved once, when whole numbers written with a fraction or an exponent (`1e16`, `2.0`)
# became integers, as the original sent them (CHANGELOG); pinned again from then on.
DIGEST_BEFORE = "blake2b:22dcceb063308750a3f384e79f7897e1"


@pytest.mark.parametrize(("flags", "option"), OPTIONS)
def test_what_orjson_encodes_is_encoded_byte_for_byte_as_before(
    flags: dict[str, Any], option: int
) -> None:
    assert encode_json(PLAIN, **flags) == orjson.dumps(PLAIN, option=option)


@pytest.mark.parametrize(("flags", "option"), OPTIONS)
def test_integers_beyond_64_bits_are_exact(flags: dict[str, Any], option: int) -> None:
    value = {"z": BIG, "a": [-(2**63) - 1, 10**40, {"deep": [BIG]}], "f": 0.5, "s": "x"}
    encoded = encode_json(value, **flags)
    assert json.loads(encoded) == value  # stdlib json reads integers exactly
    # Everything else is laid out exactly as orjson lays it out.
    small = {"z": 7, "a": [7, 7, {"deep": [7]}], "f": 0.5, "s": "x"}
    for digits in (str(BIG), str(-(2**63) - 1), str(10**40)):
        encoded = encoded.replace(digits.encode(), b"7")
    assert encoded == orjson.dumps(small, option=option)


def test_layout_around_a_big_integer_is_orjsons() -> None:
    assert encode_json({"b": BIG, "a": 1e16}, sort_keys=True) == (
        b'{"a":1e+16,"b":18446744073709551617}'
    )
    assert encode_json([BIG], indent=True) == b"[\n  18446744073709551617\n]"


def test_a_record_is_written_through_asdict_with_tuples_and_big_integers() -> None:
    @record
    class Spec:
        name: str
        config: dict[str, object]

    spec = Spec("n", {"x": (BIG, 1)})
    encoded = encode_json(asdict(spec))
    assert encoded == b'{"name":"n","config":{"x":[18446744073709551617,1]}}'
    with pytest.raises(TypeError):  # not silently as its repr
        encode_json(spec)


def test_what_is_not_json_is_still_refused() -> None:
    with pytest.raises(TypeError):
        encode_json({"x": object()})
    with pytest.raises(TypeError):
        encode_json({"x": object(), "y": BIG})


def test_default_applies_as_with_orjson() -> None:
    assert encode_json({"x": object(), "y": BIG}, default=lambda o: "obj") == (
        b'{"x":"obj","y":18446744073709551617}'
    )


def test_a_normal_configurations_digest_is_unchanged() -> None:
    project = load_project_text(CONFIG, "test.hcl", environ={})
    assert input_digest(project.tasks["t"].input, ()) == DIGEST_BEFORE


def test_a_digest_of_a_config_with_big_integers() -> None:
    project = load_project_text(BIG_CONFIG, "t.hcl")
    # Its own value (every digit counted), pinned: orjson could not compute one.
    assert input_digest(project.tasks["t"].input, ()) == "blake2b:ebb96d64743e81175489966e927f595d"


def test_the_command_line_carries_big_integers_exactly() -> None:
    line = command_line("run", {"x": BIG, "y": -BIG, "z": 1.5}, task="t", role="input")
    assert line.endswith(b"\n")
    assert json.loads(line)["config"] == {"x": BIG, "y": -BIG, "z": 1.5}
    assert line == (
        b'{"command":"run","config":{"x":18446744073709551617,"y":-18446744073709551617,'
        b'"z":1.5},"protocol":1,"task":"t","role":"input","state":null}\n'
    )


def test_a_provider_reads_big_integers_of_its_command_line_exactly() -> None:
    line = command_line("run", {"x": BIG, "y": [10**400], "z": 0.5}, task="t", role="input")
    assert Command.parse(line).config == {"x": BIG, "y": [10**400], "z": 0.5}
    assert decode_json(b'{"a": -18446744073709551617}') == {"a": -BIG}


def test_decode_json_refuses_what_is_not_json_with_value_error() -> None:
    for bad in (b"{not json", b"[" * 100_000, b"NaN", b"[Infinity]", b"-Infinity", b"\xff"):
        with pytest.raises(ValueError):
            decode_json(bad)


def test_a_tasks_definition_hash_takes_big_integers_and_keeps_its_old_value() -> None:
    """Agents compare these hashes and leases keep them: a normal task's must not move,
    and a config with an integer beyond 64 bits must not crash a postgres-state run."""
    from dstream.runtime.taking import definition_hash

    project = load_project_text(CONFIG, "test.hcl", environ={})
    assert definition_hash(project.tasks["t"], ()) == "788d677bbfdfc78b"  # as DIGEST_BEFORE
    big = load_project_text(BIG_CONFIG, "t.hcl")
    assert definition_hash(big.tasks["t"], ()) == "efa60a67690ae152"


def test_a_config_key_named_like_a_spec_field_counts_in_the_digests() -> None:
    """`location`, `lifecycle` and `config_locations` are left out of the digests as
    fields of a spec (where it was written, what dstream learnt), never as keys of the
    user's own config: a provider's `location = "westus"` is what it does. Both digests
    dropped such keys at every depth, so changing them went unnoticed."""
    from dstream.runtime.taking import definition_hash

    def digests(where: str) -> tuple[str, str]:
        text = CONFIG.replace("tiny = 1.5e-7", f'tiny = 1.5e-7\n      location = "{where}"')
        task = load_project_text(text, "test.hcl", environ={}).tasks["t"]
        return input_digest(task.input, ()), definition_hash(task, ())

    east, west = digests("eastus"), digests("westus")
    assert east[0] != west[0] and east[1] != west[1]
