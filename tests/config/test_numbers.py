"""Numbers of a configuration: integers exact at any size (up to MAX_INTEGER_DIGITS),
fractions IEEE-754 doubles, and a number a double cannot hold (1e400, NaN) refused where
it is made, with file:line:col, never sent on as null."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dstream.config.limits import MAX_INTEGER_DIGITS
from dstream.config.loader import load_project_text
from dstream.errors import ConfigError
from tests.hostile.numbers import BIG

LONG = "1" + "0" * MAX_INTEGER_DIGITS  # one digit too many
TASK = """
task "t" {
  input {
    provider_path = "dstream-counter"
    config = { x = %s }
  }
  output { provider_path = "dstream-console" }
}
"""


def value(expr: str, prelude: str = "\n", **kwargs: Any) -> Any:
    text = prelude + TASK.lstrip("\n") % expr
    return load_project_text(text, "test.hcl", **kwargs).tasks["t"].input.config["x"]


def error(expr: str, prelude: str = "\n", **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        value(expr, prelude, **kwargs)
    return str(caught.value) + "\nhint: " + str(caught.value.hint)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("18446744073709551617", BIG),
        ("-9223372036854775809", -(2**63) - 1),
        ('"${18446744073709551617}"', BIG),
        ('"n${18446744073709551617}"', f"n{BIG}"),
        ('jsondecode("18446744073709551617")', BIG),
        ('jsondecode("[18446744073709551617]")', [BIG]),
        ('tonumber("18446744073709551617")', BIG),
        ("18446744073709551617 * 2 - 1", 2 * BIG - 1),
        ("18446744073709551617 / 1", BIG),  # exact: not through a double
        ("36893488147419103234 / 2", BIG),
        ("[1, 2][18446744073709551617 - 18446744073709551616]", 2),
        ("9" * MAX_INTEGER_DIGITS, int("9" * MAX_INTEGER_DIGITS)),
        ("1e308", 1e308),
        ("0.1000000000000000000000000001", 0.1),  # a double: docs/configuration.md
    ],
)
def test_numbers_are_kept(expr: str, expected: object) -> None:
    got = value(expr)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1.0", 1),
        ("1.5e3", 1500),
        ("1E+2", 100),
        ("10 / 4 * 2", 5),
        ("2.5 + 2.5", 5),
        ('tonumber("1e3")', 1000),
        ('jsondecode("[1.0, 2.50]")', [1, 2.5]),
        ("9.223372036854775807e18", 2**63 - 1),
        ("1e21", 1e21),  # beyond int64: a double, as the original sent it
        ("1.00000000000000000001", 1.0),  # its digits are no integer
        ("-7 % 3", -1),  # the sign of the dividend, as HCL's (and Go's) remainder
        ("7 % -3", 1),
        ("-7.5 % 2", -1.5),
        ('format("%v|%d", 1.0, 3.0)', "1|3"),
    ],
)
def test_a_whole_number_reaches_the_provider_as_an_integer(expr: str, expected: object) -> None:
    """The original DStream sent an integral number as an int: a Go or .NET provider
    refuses `1500.0` for an integer field (docs/migrating.md)."""
    got = value(expr)
    assert got == expected and type(got) is type(expected)
    if isinstance(expected, list):
        assert [type(v) for v in got] == [type(v) for v in expected]


def test_format_d_refuses_a_fraction() -> None:
    """As Terraform: "an integer is required", not a silent truncation."""
    assert 'a %d value must be a whole number\nhint: write "%.0f"' in error('format("%d", 1.5)')


def test_big_integers_through_locals_and_variables(tmp_path: Path) -> None:
    prelude = 'locals { big = 18446744073709551617 }\nvariable "n" { type = number }\n'
    environ = {"DSTREAM_VAR_n": str(BIG)}
    assert value("[local.big, var.n]", prelude, environ=environ) == [BIG, BIG]
    (tmp_path / "v.json").write_text(f'{{"n": {BIG}}}')
    got = value("var.n", prelude, var_files=[str(tmp_path / "v.json")])
    assert got == BIG


@pytest.mark.parametrize(
    ("expr", "shown"),
    [
        ("1e400", "number 1e400 is out of range"),
        ("-1e400", "number -1e400 is out of range"),
        ("[1, 1E+999]", "number 1E+999 is out of range"),
        ("1e308 * 10", "makes a number out of range"),
        ("-1e308 - 1e308", "makes a number out of range"),
        ('jsondecode("1e400")', "jsondecode() argument holds a number out of range"),
        ('jsondecode("{\\"a\\": [1e400]}")', "jsondecode() argument holds a number out of"),
        ('jsondecode("NaN")', "NaN"),
        ('jsondecode("-Infinity")', "Infinity"),
        ('tonumber("1e400")', "tonumber() is a number out of range"),
        ('"1e400" * 1', "operand is a number out of range"),
        (f"1{'0' * 400} * 1.5", "makes a number out of range"),
        (f"1{'0' * 400} / 3", "makes a number out of range"),
        (LONG, f"more than {MAX_INTEGER_DIGITS:,} digits"),
        (f"{'9' * MAX_INTEGER_DIGITS} * 10", f"more than {MAX_INTEGER_DIGITS:,} digits"),
        (f'jsondecode("{LONG}")', f"more than {MAX_INTEGER_DIGITS:,} digits"),
        (f'tonumber("{"1" * 5000}")', f"more than {MAX_INTEGER_DIGITS:,} digits"),
        (f"[1][1{'0' * 400}]", "out of range"),
        (f'format("%e", 1{"0" * 400})', "a %e value is a number out of range"),
    ],
)
def test_a_number_a_double_cannot_hold_is_refused_where_it_is_made(expr: str, shown: str) -> None:
    message = error(expr)
    assert message.startswith("test.hcl:5:"), message
    assert shown in message, message
    assert "string" in message.split("hint: ")[1] or "index" in message, message


@pytest.mark.parametrize(
    ("given", "where"),
    [
        ({"environ": {"DSTREAM_VAR_n": "2e400"}}, "DSTREAM_VAR_n"),
        ({"environ": {"DSTREAM_VAR_n": "1" * 5000}}, "DSTREAM_VAR_n"),
        ({"variables": ["n=-2e400"]}, "--var n"),
    ],
)
def test_a_number_variable_out_of_range(given: dict[str, Any], where: str) -> None:
    message = error("var.n", 'variable "n" { type = number }\n', **given)
    assert message.startswith(where), message
    assert 'variable "n"' in message and "test.hcl:1:1" in message, message  # declared
    assert "out of range" in message or "digits" in message, message
    assert "2e400" not in message and "11111" not in message  # a value may be a secret


def test_a_list_variable_out_of_range_from_the_environment() -> None:
    message = error("var.l", 'variable "l" { type = list }\n', environ={"DSTREAM_VAR_l": "[1e400]"})
    assert message.startswith("DSTREAM_VAR_l"), message
    assert "out of range" in message, message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{\n  "n": [1,\n   1e400]\n}', "v.json:3:4"),
        ('{"n": NaN}', "v.json:1:7"),
        ('{"n": ' + LONG + "}", "v.json:1:7"),
        ("n = [1e400]\n", "v.hcl:1:6"),
    ],
)
def test_a_var_file_number_out_of_range(tmp_path: Path, text: str, where: str) -> None:
    name = where.split(":")[0]
    (tmp_path / name).write_text(text)
    message = error("var.n", 'variable "n" {}\n', var_files=[str(tmp_path / name)])
    assert message.startswith(str(tmp_path / where)), message


def test_a_setting_quotes_the_number_written() -> None:
    text = 'task "t" {\n  commit_interval = 1e400\n' + TASK.split('task "t" {')[1]
    with pytest.raises(ConfigError) as caught:
        load_project_text(text.replace("%s", "1"), "test.hcl")
    assert str(caught.value).startswith("test.hcl:2:21: number 1e400 is out of range")


def test_a_template_number_of_too_many_digits() -> None:
    assert value(f'"{{{{ default 1 {BIG} }}}}"') == str(BIG)
    assert f"more than {MAX_INTEGER_DIGITS:,} digits" in error(f'"{{{{ default {LONG} 1 }}}}"')


def test_jsonencode_keeps_big_integers() -> None:
    assert json.loads(value(f"jsonencode([{BIG}, 0.5])")) == [BIG, 0.5]
