"""Text converted to a number or a bool as Terraform (cty) converts it, wherever dstream
converts: tonumber() and tobool(), an operand of arithmetic or of `&&`, and a value for a
variable of type number or bool. Through `dstream show`, as a user runs it.

Every expected value is Terraform 1.11.4's `terraform console` ("<error>": refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config.evaluated import ERROR, evaluated
from tests.workspace import dstream, json_document

ROWS: list[tuple[str, Any]] = [
    ('tonumber("007")', 7),
    ('"007" + 1', 8),
    ('tonumber("-007")', -7),
    ('tonumber("00")', 0),
    ('tonumber(".5")', 0.5),
    ('tonumber("-.5")', -0.5),
    ('tonumber("+.5")', 0.5),
    ('tonumber("+5")', 5),
    ('"1" + "+2"', 3),
    ('tonumber("5.")', 5),
    ('tonumber("0.")', 0),
    ('tonumber("5.e3")', 5000),
    ('tonumber("-.5e-3")', -0.0005),
    ('tonumber("0007.5000")', 7.5),
    ('tonumber("1e0010")', 10000000000),
    ('tonumber("1E+3")', 1000),
    ('tonumber("1p3")', 8),
    ('tonumber("3p-1")', 1.5),
    ('tonumber(" 5")', ERROR),
    ('tonumber("0x10")', ERROR),
    ('tonumber("0b101")', ERROR),
    ('tonumber("1_000")', ERROR),
    ('tonumber("")', ERROR),
    ('tonumber(".")', ERROR),
    ('tonumber(".e5")', ERROR),
    ('tonumber("e5")', ERROR),
    ('tonumber("5e")', ERROR),
    ('tonumber("5e+")', ERROR),
    ('tonumber("+-5")', ERROR),
    ('tonumber("NaN")', ERROR),
    ('tonumber("Infinity")', ERROR),
    ('tonumber("\\u0661")', ERROR),
    ('tobool("1")', True),
    ('tobool("0")', False),
    ('true && "1"', True),
    ('!"0"', True),
    ('"1" ? "y" : "n"', "y"),
    ('tobool("01")', ERROR),
    ('tobool(" 1")', ERROR),
    ('tobool("True")', ERROR),
    ('tobool("TRUE")', ERROR),
    ('tobool("t")', ERROR),
    ("tobool(1)", ERROR),
]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return evaluated(tmp_path_factory.mktemp("conversions"), [row[0] for row in ROWS])


@pytest.mark.parametrize(("index", "row"), list(enumerate(ROWS)), ids=[row[0] for row in ROWS])
def test_text_converts_as_in_terraform(
    shown: dict[str, Any], index: int, row: tuple[str, Any]
) -> None:
    got, want = shown.get(f"c{index}", "<missing>"), row[1]
    assert type(got) is type(want) or {type(got), type(want)} == {int, float}, got
    assert got == want, got


def test_infinity_spelled_as_terraform_spells_it_is_out_of_range(tmp_path: Path) -> None:
    """Terraform reads "Inf" as infinity; no configuration value can be one here, so it
    is refused as any number out of range, not as text that is no number."""
    config = tmp_path / "dstream.hcl"
    config.write_text('locals {\n  x = tonumber("-Inf")\n}\n')
    done = dstream("lint", "--json", "-c", str(config), without="DSTREAM_")
    assert done.returncode == 2, done.stderr
    (error,) = [d for d in json_document(done)["diagnostics"] if d["severity"] == "error"]
    assert "out of range" in error["message"], error


VARIABLES = """
variable "half" {
  type    = number
  default = ".5"
}
variable "plus" {
  type    = number
  default = "+5"
}
variable "given" { type = number }
variable "on" {
  type    = bool
  default = "1"
}
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-null"
    config = {
      half  = var.half
      plus  = var.plus
      given = var.given
      on    = var.on
    }
  }
}
"""


def test_a_variable_converts_text_as_terraform(tmp_path: Path) -> None:
    config = tmp_path / "dstream.hcl"
    config.write_text(VARIABLES)
    done = dstream("show", "t", "-c", str(config), "--var", "given=007", without="DSTREAM_")
    assert done.returncode == 0, done.stderr
    assert json_document(done)["output"]["config"] == {
        "half": 0.5,
        "plus": 5,
        "given": 7,
        "on": True,
    }


def test_a_tiny_number_is_read_at_once(tmp_path: Path) -> None:
    """`1e-99999999` underflows a double to 0 (Terraform's 512-bit number keeps it),
    at once: not after computing a power of ten of a hundred million digits."""
    config = tmp_path / "dstream.hcl"
    config.write_text(
        'task "t" {\n  input { provider_path = "dstream-counter" }\n'
        '  output {\n    provider_path = "dstream-null"\n'
        '    config = { a = tonumber("1e-99999999"), b = 1e-99999999 }\n  }\n}\n'
    )
    done = dstream("show", "t", "-c", str(config), without="DSTREAM_", timeout=30)
    assert done.returncode == 0, done.stderr
    assert json_document(done)["output"]["config"] == {"a": 0, "b": 0}
