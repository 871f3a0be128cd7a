"""Each attribute and block of a body ends its line, as HCL v2 wants (hclsyntax spec,
"Structural Elements"): `a = 1  b = 2` is two attributes on one line, and a one-line
block (`output { path = "x" }`: no new line after its `{`) holds one attribute at most,
no block, and closes on its line. python-hcl2's grammar reads all of these, and dstream
did. Terraform v1.11.4's `terraform validate` refuses each REFUSED text ("Missing
newline after argument", "Missing newline after block definition", "Invalid
single-argument block definition", "Argument definition required"; the `state` and
`task` ones with Terraform's own block types) and accepts each ACCEPTED one. `dstream
fmt` puts each attribute and block on a line of its own, which repairs every REFUSED
text; the error's hint says so."""

from __future__ import annotations

import pytest

from dstream.errors import ExitCode
from tests.config.refusals import TASK, refused_by_both_parsers
from tests.workspace import Workspace

# (the text before TASK, where dstream.hcl is refused, what it says)
REFUSED = [
    ("locals {\n  a = 1  b = 2\n}", "2:10", "an attribute cannot follow an attribute on the same"),
    ("locals { a = 1  b = 2 }", "1:17", "a one-line block holds one attribute at most"),
    ("locals {\n  a = 1\n  b = 2 }", "3:9", "the block's `}` cannot follow an attribute on"),
    ('locals {\n  a = 1\n} state {\n  backend = "file"\n}', "3:3", "a block cannot follow a block"),
    ("locals { a = 1\n}", "2:1", "a one-line block must close on its line"),
    ("locals {\n  a = 1 /* one\n  */ b = 2\n}", "3:6", "an attribute cannot follow an attribute"),
    ("locals { a = <<EOT\nx\nEOT\n}", "4:1", "a one-line block must close on its line"),
    ('state { backend = "file" }  locals {}', "1:29", "a block cannot follow a block on the same"),
    (
        'task "u" {\n  input { provider_path = "dstream-counter" config { interval = 1 } }\n'
        '  output { provider_path = "dstream-null" }\n}',
        "2:45",
        "a one-line block cannot hold a block",
    ),
]
ACCEPTED = [
    "locals { a = 1 }",
    "locals {}",
    "locals { /* one\n  */ a = 1 }",
    "locals { a = [1,\n  2] }",
    "locals { # one\n  a = 1\n}",
    'locals {\n  a = 1 # one\n}\nstate { backend = "file" } # two',
    "locals {\n  a = <<EOT\nx\nEOT\n  b = 1\n}",
    "locals {\n  a = 1 + 2\n  b = 3\n}",
]


def _config(text: str) -> str:
    return f"{text}\n{TASK}"


@pytest.mark.parametrize(("text", "where", "reason"), REFUSED)
def test_items_sharing_a_line_are_a_clear_error_fmt_repairs(
    ws: Workspace, text: str, where: str, reason: str
) -> None:
    config = ws.root / "dstream.hcl"
    config.write_text(_config(text))
    done = ws.run("lint")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert f"error: dstream.hcl:{where}: {reason}" in done.stderr, done.stderr
    assert "`dstream fmt`" in done.stderr
    assert "Traceback" not in done.stderr
    assert ws.run("fmt", "--check").returncode == ExitCode.FAILURE
    assert config.read_text() == _config(text)
    piped = ws.run("fmt", "-", input=_config(text).encode())  # as an editor runs it
    assert piped.returncode == 0, piped.stderr
    fixed = ws.run("fmt")
    assert fixed.returncode == 0, fixed.stderr
    assert config.read_text() == piped.stdout
    assert ws.run("lint").returncode == 0, config.read_text()


@pytest.mark.parametrize("text", ACCEPTED)
def test_items_ending_their_lines_stay_valid(ws: Workspace, text: str) -> None:
    (ws.root / "dstream.hcl").write_text(_config(text))
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("text", "where", "reason"), REFUSED)
def test_the_quick_parser_and_lark_refuse_them_alike(
    monkeypatch: pytest.MonkeyPatch, text: str, where: str, reason: str
) -> None:
    said = refused_by_both_parsers(monkeypatch, _config(text))
    assert f"dstream.hcl:{where}: {reason}" in said
