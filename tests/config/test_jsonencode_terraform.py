"""jsonencode(), format("%v", ...) and format("%q", ...) write exactly Terraform's text:
Go's encoding/json of cty's values (keys sorted at every depth; `<`, `>`, `&`, U+2028
and U+2029 escaped; numbers in decimals, never with an exponent), and, for a number
alone under %v, Go's %v of it (the shortest digits, with an exponent from 1e+06 and
below 1e-04). Through `dstream show`, as a user runs it.

Every expected value is Terraform 1.11.4's `terraform console` ("<error>": refused)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.config.evaluated import evaluated

ROWS: list[tuple[str, Any]] = [
    ("jsonencode({b = 1, a = 2})", '{"a":2,"b":1}'),
    (
        "jsonencode({b = {d = 1, c = 2}, a = [{z = 1, y = 2}]})",
        '{"a":[{"y":2,"z":1}],"b":{"c":2,"d":1}}',
    ),
    ('jsonencode(jsondecode("{\\"b\\":1,\\"a\\":2}"))', '{"a":2,"b":1}'),
    ("jsonencode(tomap({b = 1, a = 2}))", '{"a":2,"b":1}'),
    ("jsonencode(1e-7)", "0.0000001"),
    ("jsonencode(0.00001234)", "0.00001234"),
    ("jsonencode(-2.5e-10)", "-0.00000000025"),
    ("jsonencode(1e21)", "1000000000000000000000"),
    ("jsonencode(1e20)", "100000000000000000000"),
    ("jsonencode(123456789012345678901234567890)", "123456789012345678901234567890"),
    ("jsonencode(pow(2, 100))", "1267650600228229400000000000000"),
    ("jsonencode(0.1)", "0.1"),
    ("jsonencode(1.5)", "1.5"),
    ('jsonencode("<a&b>")', '"\\u003ca\\u0026b\\u003e"'),
    ('jsonencode("\\u2028\\u2029")', '"\\u2028\\u2029"'),
    ('jsonencode("é\\t\\u0001\\u007f")', '"é\\t\\u0001\x7f"'),
    (
        'jsonencode(jsondecode("\\"\\\\b\\\\f\\\\u001f\\\\ud83d\\\\ude00\\""))',
        '"\\b\\f\\u001f😀"',
    ),
    ('jsonencode({"<k>" = "v"})', '{"\\u003ck\\u003e":"v"}'),
    ('format("%v", {b = 1, a = 2})', '{"a":2,"b":1}'),
    ('format("%v", [1e-7])', "[0.0000001]"),
    ('format("%v", [1e21, 0.5])', "[1000000000000000000000,0.5]"),
    ('format("%v", 1e-7)', "1e-07"),
    ('format("%v", 1e-5)', "1e-05"),
    ('format("%v", 1e-4)', "0.0001"),
    ('format("%v", 0.5)', "0.5"),
    ('format("%v", 100)', "100"),
    ('format("%v", 1e6)', "1e+06"),
    ('format("%v", 123456789)', "1.23456789e+08"),
    ('format("%v", 1234567.5)', "1.2345675e+06"),
    ('format("%v", 1e20)', "1e+20"),
    ('format("%v", 12345678901234567890)', "1.234567890123456789e+19"),
    ('format("%v", pow(2, 100))', "1.2676506002282294e+30"),
    ('format("%v", 123456789012345678901234567890)', "1.2345678901234567890123456789e+29"),
    ('format("%v", -1500000)', "-1.5e+06"),
    ('format("%v", -0.00012)', "-0.00012"),
    ('format("%v", 0)', "0"),
    ('format("%v", true)', "true"),
    ('format("%v", "<a>")', "<a>"),
    ('format("%10v", {b = 1})', '   {"b":1}'),
    ('format("%q", "<a&b>\\u2028")', '"\\u003ca\\u0026b\\u003e\\u2028"'),
    ('format("%q", "\\u007f\\t")', '"\x7f\\t"'),
]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return evaluated(tmp_path_factory.mktemp("jsonencode"), [row[0] for row in ROWS])


@pytest.mark.parametrize(("index", "row"), list(enumerate(ROWS)), ids=[row[0] for row in ROWS])
def test_json_text_is_terraforms(shown: dict[str, Any], index: int, row: tuple[str, Any]) -> None:
    assert shown.get(f"c{index}", "<missing>") == row[1]
