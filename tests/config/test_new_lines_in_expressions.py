"""New lines in an expression, as HCL v2 reads them: outside ( ), [ ], a call, `${ }`
or a for expression a new line ends an attribute's or an object item's value, and an
object's items are apart by a comma or a new line. python-hcl2's grammar read
`x = 1\\n+ 2` as 3 and `{ a = 1 b = 2 }` as an object (a review found both), and
`{ a = 1\\n, b = 2 }` as one too, where HCL ends the item at the new line and finds a
comma where an item should start; Terraform v1.11.4's `terraform validate` refuses each
REFUSED text ("Argument or block definition required", "Invalid expression", "Missing
attribute separator") and accepts each ACCEPTED one."""

from __future__ import annotations

import pytest

from tests.config.refusals import TASK, refused_by_both_parsers
from tests.workspace import Workspace

# (the locals block's lines, where dstream.hcl is refused, what it says)
REFUSED = [
    ("x = 1\n    + 2", "3:5", "`+` cannot start a line outside parentheses"),
    ("x = 1 # one\n    * 2", "3:5", "`*` cannot start a line outside parentheses"),
    ("x = true\n    ? 1 : 2", "3:5", "`?` cannot start a line outside parentheses"),
    ("x = 1 +\n    2", "2:9", "a line cannot end with `+` outside parentheses"),
    ("x = true ?\n    1 : 2", "2:12", "a line cannot end with `?` outside parentheses"),
    ("x = {\n    a = 1\n    + 2\n  }", "4:5", "`+` cannot start a line outside parentheses"),
    ("x = { a = 1 b = 2 }", "2:15", "an object's items must be separated by a comma or a new"),
    ("x = { a = 1\n    , b = 2 }", "3:5", "a comma cannot start a line between an object's items"),
    ("x = {\n    a = 1 # one\n    , b = 2\n  }", "4:5", "a comma cannot start a line between"),
    ("x = { a = 1 + 2\n    , b = 2 }", "3:5", "a comma cannot start a line between an object's"),
]
ACCEPTED = [
    "x = (1\n    + 2)",
    "x = [1\n    + 2]",
    "x = max(1\n    + 2)",
    "x = { a = 1, b = 2 }",
    "x = {\n    a = 1\n    b = 2 # two\n  }",
    "x = 1 /* one\n  */ + 2",
    'x = "${true ?\n    1 : 2}"',
    "x = <<EOT\n${1\n  + 2}\nEOT",
    "x = { for k in [1] : k => k\n    + 1 }",
    "x = 1 + 2\n  y = true ? 1 : 2",
    "x = { a = 1,\n    b = 2 }",
    "x = [1\n    , 2]",
    "x = max(1\n    , 2)",
]


def _config(lines: str) -> str:
    return f"locals {{\n  {lines}\n}}\n{TASK}"


@pytest.mark.parametrize(("lines", "where", "reason"), REFUSED)
def test_a_new_line_hcl_refuses_is_a_clear_error(
    ws: Workspace, lines: str, where: str, reason: str
) -> None:
    (ws.root / "dstream.hcl").write_text(_config(lines))
    done = ws.run("lint")
    assert done.returncode != 0
    assert f"error: dstream.hcl:{where}: {reason}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("lines", ACCEPTED)
def test_new_lines_hcl_reads_stay_valid(ws: Workspace, lines: str) -> None:
    (ws.root / "dstream.hcl").write_text(_config(lines))
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("lines", "where", "reason"), REFUSED)
def test_the_quick_parser_and_lark_refuse_them_alike(
    monkeypatch: pytest.MonkeyPatch, lines: str, where: str, reason: str
) -> None:
    said = refused_by_both_parsers(monkeypatch, _config(lines))
    assert f"dstream.hcl:{where}: {reason}" in said
