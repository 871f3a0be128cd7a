"""Strip markers (`~`) in a heredoc, as HCL applies them: a heredoc's literal text is
one piece per line (the rest of a line after a `}` and the text before a `${`/`%{` are
pieces of their own), and a marker trims the white space of the one piece beside it,
if that is text: `~}` the rest of its line (up to and including its line break),
`${~`/`%{~` the text before it on its line, or the whole line before when it starts
one. `<<-` then removes the indentation of the pieces that start a line, counted
after trimming, as HCL's flush heredocs do.

Each expected value was recorded from Terraform v1.11.4 (`terraform console`,
`jsonencode(local.x)`); a review found dstream trimming across lines instead."""

from __future__ import annotations

import pytest

from tests.config.evaluated import local_x
from tests.workspace import Workspace

# (the value of local.x as written, what Terraform gives for it)
CASES = [
    (
        '<<EOT\ntables:\n%{ for t in ["a", "b"] ~}\n  - name: ${t}\n    key: id\n'
        "%{ endfor ~}\nEOT\n",
        "tables:\n  - name: a\n    key: id\n  - name: b\n    key: id\n",
    ),
    (
        "<<EOT\nWHERE 1=1\n%{ if true ~}\n  AND x = 1\n%{ endif ~}\nEOT\n",
        "WHERE 1=1\n  AND x = 1\n",
    ),
    ('<<EOT\na\n   \n   ${~ "b"}\nEOT\n', "a\n   \nb\n"),
    ("<<EOT\na\n  %{~ if true }\nb\n  %{~ endif }\nEOT\n", "a\n\nb\n\n"),
    (
        '<<-EOT\n    tables:\n    %{ for t in ["a", "b"] ~}\n      - name: ${t}\n'
        "    %{ endfor ~}\n    EOT\n",
        "tables:\n      - name: a\n      - name: b\n",
    ),
    # A line-leading piece trimmed to nothing counts as no indentation: nothing removed.
    ("<<-EOT\n    a\n      %{~ if true }\n    b\n    %{~ endif }\n    EOT\n", "    a\n\n    b\n\n"),
    ('<<EOT\n${"x" ~}   foo\n  bar\nEOT\n', "xfoo\n  bar\n"),
    ('<<EOT\n${"x" ~}\n\nbar\nEOT\n', "x\nbar\n"),
    ('<<EOT\na  \n${~ "b"}\nEOT\n', "ab\n"),
    ('"a\\n  ${~ "b"}"\n', "ab"),
    ('<<-EOT\n      a\n    ${"b"}\n    EOT\n', "  a\nb\n"),
    ("<<-EOT\n      %{ if true ~}\n      a\n      %{ endif ~}\n    EOT\n", "      a\n"),
    ('<<-EOT\n    x\n      ${~ "y"} z\n    EOT\n', "    x\ny z\n"),
    ('<<EOT\n${"a"~}${"b"}\n  c\nEOT\n', "ab\n  c\n"),
    ('<<EOT\na   ${~ "b" ~}   c\nd\nEOT\n', "abc\nd\n"),
]


@pytest.mark.parametrize(("written", "expected"), CASES)
def test_strip_markers_trim_as_terraform_does(ws: Workspace, written: str, expected: str) -> None:
    assert local_x(ws.root, f"x = {written}") == expected
