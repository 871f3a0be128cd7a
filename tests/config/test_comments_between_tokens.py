"""Comments between an expression's tokens, as HCL reads them: a `/* */` comment is
nothing (over several lines too), a `#` or `//` comment a line end, which an open
parenthesis ignores. Each expected value is what Terraform v1.11.4's `terraform
console` gives for `local.x` (a review found internal errors, false type errors and
syntax errors here)."""

from __future__ import annotations

from typing import Any

import pytest

from dstream.config import syntax
from dstream.config.tree import freeze
from tests.config.evaluated import local_x, local_x_config
from tests.workspace import Workspace

# (the locals block's attribute `x`, what Terraform gives for it)
CASES = [
    ("x = 1 /* a */ + 2", 3),
    ("x = 2 /* a */ * 3", 6),
    ("x = 1 /* a */ > 0", True),
    ("x = [for i in [1, 2] : i if i /* d */ > 1]", [2]),
    ("x = { a = 1 /* x */ + 1 }", {"a": 2}),
    ("x = (\n    1 # first\n    + 2\n  )", 3),
    ("x = (\n    true // a\n    && false\n  )", False),
    ('x = "a" /* c */ != "b"', True),
    ("x = -/* a */1", -1),
    ("x = ! /* c */ true", False),
    ("x = [1, 2] /* c */ [0]", 1),
    ("x = 1 /* x\n  y */ + 2", 3),
    ("x = [1, 2] /* c */ .0", 1),
    ("x = max /* c */ (1, 2)", 2),
    ("x = true /* c */ ? 1 : 2", 1),
]


@pytest.mark.parametrize(("attribute", "expected"), CASES)
def test_a_comment_between_tokens_is_read_as_terraform_reads_it(
    ws: Workspace, attribute: str, expected: Any
) -> None:
    assert local_x(ws.root, attribute) == expected


@pytest.mark.parametrize(("attribute", "expected"), CASES)
def test_the_quick_parser_and_lark_read_them_alike(
    monkeypatch: pytest.MonkeyPatch, attribute: str, expected: Any
) -> None:
    """The parse (not cached) by config/quickparse.py where it reads the text and by
    python-hcl2's grammar: the same tree."""
    text = local_x_config(attribute)
    either = freeze(syntax.parses_to_tree(text, cache=False))
    monkeypatch.setattr(syntax, "_quick_parse_applies", lambda: False)
    assert freeze(syntax.parses_to_tree(text, cache=False)) == either
