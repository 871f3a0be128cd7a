"""coalesce(), lower(), format("%d") and split() where they differed from Terraform:
coalesce() gives its arguments' common type (as Terraform unifies them), lower() is Go's
letter by letter mapping, %d takes any whole number, and split() by "" splits into
characters. Through `dstream show` and `dstream lint`, as a user runs them.

Every expected value is Terraform 1.11.4's `terraform console` ("<error>": refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config.evaluated import ERROR, evaluated
from tests.workspace import dstream, json_document

ROWS: list[tuple[str, Any]] = [
    ('coalesce(1, "a")', "1"),
    ('coalesce("", 1)', "1"),
    ('coalesce(null, 2, "x")', "2"),
    ('coalesce(null, 1.5, "a")', "1.5"),
    ('coalesce(true, "a")', "true"),
    ('coalesce("", "", 2)', "2"),
    ("coalesce(1, 2)", 1),
    ('coalesce({a = 1}, {a = "x"})', {"a": "1"}),
    ('coalesce([1], ["a"])', ["1"]),
    ("coalesce(1, [1])", ERROR),
    ("coalesce(false, 1)", ERROR),
    ('coalesce([], "a")', ERROR),
    ('coalesce(null, "")', ERROR),
    ('lower("ΣΑΣ")', "\u03c3\u03b1\u03c3"),  # no final sigma: Go maps letter by letter
    ('lower("İSTANBUL")', "istanbul"),
    ('length(lower("İSTANBUL"))', 8),
    ('lower("ǅ")', "ǆ"),
    ('lower("ABC")', "abc"),
    ('upper("ǆ")', "Ǆ"),
    ('format("%d", 1e20)', "100000000000000000000"),
    ('format("%d", 1e19)', "10000000000000000000"),
    ('format("%d", -1e20)', "-100000000000000000000"),
    ('format("%d", "1e20")', "100000000000000000000"),
    ('format("%d", 12345678901234567890)', "12345678901234567890"),
    ('format("%d", 1e16)', "10000000000000000"),
    ('format("%d", 1.5)', ERROR),
    ('split("", "abc")', ["a", "b", "c"]),
    ('split("", "")', []),
    ('split("", "é🇩🇪")', ["é", "🇩", "🇪"]),
    ('split(",", "")', [""]),
]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return evaluated(tmp_path_factory.mktemp("edges"), [row[0] for row in ROWS])


@pytest.mark.parametrize(("index", "row"), list(enumerate(ROWS)), ids=[row[0] for row in ROWS])
def test_a_function_gives_what_terraform_gives(
    shown: dict[str, Any], index: int, row: tuple[str, Any]
) -> None:
    got, want = shown.get(f"c{index}", "<missing>"), row[1]
    assert type(got) is type(want) and got == want, got


def test_coalesce_of_no_common_type_is_an_error_at_the_call(tmp_path: Path) -> None:
    config = tmp_path / "dstream.hcl"
    config.write_text("locals {\n  x = coalesce(false, 1)\n}\n")
    done = dstream("lint", "--json", "-c", str(config), without="DSTREAM_")
    assert done.returncode == 2, done.stderr
    (error,) = [d for d in json_document(done)["diagnostics"] if d["severity"] == "error"]
    assert (error["line"], error["column"]) == (2, 7), error
    assert "coalesce()" in error["message"] and "bool and number" in error["message"], error
    assert error["hint"], error
