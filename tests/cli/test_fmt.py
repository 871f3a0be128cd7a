"""`dstream fmt`: the canonical layout of .hcl files, like `terraform fmt` (issue 19)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dstream.errors import ExitCode
from tests.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]

MESSY = """\
# top comment
locals{
tables=["a","b"]   # trailing
  db_name   =   "shop"
}


task   "t"  {
    restart {
attempts = 2
       backoff=1
    }
  /* a
     block comment { */
  input {
  provider_path = "dstream-counter"
  config {
      max_count = 10
      checkpoint_every=5
      tables = ["a { brace in a string"]
  }
  }
  output {provider_path="dstream-null"}
}
"""

CANONICAL = """\
# top comment
locals {
  tables  = ["a", "b"] # trailing
  db_name = "shop"
}


task "t" {
  restart {
    attempts = 2
    backoff  = 1
  }
  /* a
     block comment { */
  input {
    provider_path = "dstream-counter"
    config {
      max_count        = 10
      checkpoint_every = 5
      tables           = ["a { brace in a string"]
    }
  }
  output { provider_path = "dstream-null" }
}
"""


def test_fmt_rewrites_to_the_canonical_layout_keeping_comments(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(MESSY)
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "dstream.hcl\n"
    assert (ws.root / "dstream.hcl").read_text() == CANONICAL
    again = ws.run("fmt")
    assert again.returncode == 0 and again.stdout == ""  # idempotent
    assert ws.run("lint").returncode == 0


def test_fmt_check_changes_nothing_and_fails(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(MESSY)
    done = ws.run("fmt", "-check", "-diff")
    assert done.returncode == 1
    assert '+  db_name = "shop"' in done.stdout  # the diff
    assert "1 file(s) not formatted" in done.stderr
    assert (ws.root / "dstream.hcl").read_text() == MESSY
    (ws.root / "dstream.hcl").write_text(CANONICAL)
    assert ws.run("fmt", "--check").returncode == 0


def test_a_file_that_does_not_parse_is_left_alone(ws: Workspace) -> None:
    broken = 'task "t" {\n    input {\n}\n'
    (ws.root / "dstream.hcl").write_text(broken)
    done = ws.run("fmt")
    assert done.returncode == 2
    assert done.stderr.startswith("error: dstream.hcl:"), done.stderr
    assert (ws.root / "dstream.hcl").read_text() == broken


def test_the_shipped_examples_are_formatted(ws: Workspace) -> None:
    for example in (ROOT / "examples").glob("*.hcl"):
        shutil.copy(example, ws.root / example.name)
    done = ws.run("fmt", "--check", "--diff", ".")
    assert done.returncode == 0, done.stdout


# Laid out as fmt would lay them out, so fmt has nothing to rewrite, yet none parses:
# the error must come whether or not the file would be rewritten (`terraform fmt`).
FORMATTED_BUT_BROKEN = {
    "unclosed block": ('task "t" {\n  input {\n  }\n', "dstream.hcl:1:10: syntax error"),
    "doubled equals": ('task "t" {\n  x = = 1\n}\n', "dstream.hcl:2:7: syntax error"),
    "extra closer": ('task "t" {\n  x = 1\n}\n}\n', "dstream.hcl:4:1: syntax error"),
}


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["fmt", "fmt --check"])
@pytest.mark.parametrize("case", sorted(FORMATTED_BUT_BROKEN))
def test_a_formatted_file_that_does_not_parse_is_an_error(
    ws: Workspace, case: str, check: list[str]
) -> None:
    broken, where = FORMATTED_BUT_BROKEN[case]
    (ws.root / "dstream.hcl").write_text(broken)
    done = ws.run("fmt", *check)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith(f"error: {where}"), done.stderr
    assert "\n  hint: " in done.stderr  # the parser's own diagnostic, hint and all
    assert done.stdout == ""
    assert (ws.root / "dstream.hcl").read_text() == broken


def test_a_file_that_is_not_utf8_is_an_error_not_a_crash(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_bytes(b'a = "caf\xe9"\n')
    done = ws.run("fmt", "--check")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith("error: dstream.hcl:1:9: the file is not UTF-8"), done.stderr


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["fmt", "fmt --check"])
def test_json_reports_each_file_that_does_not_parse(ws: Workspace, check: list[str]) -> None:
    """The other files are still formatted (or checked), as `terraform fmt` does; the
    exit is 2 whatever they needed, and --json names every broken file."""
    (ws.root / "a.hcl").write_text(FORMATTED_BUT_BROKEN["unclosed block"][0])
    (ws.root / "b.hcl").write_text(MESSY)
    (ws.root / "c.hcl").write_text(FORMATTED_BUT_BROKEN["doubled equals"][0])
    done = ws.run("fmt", "--json", *check)
    assert done.returncode == ExitCode.USAGE, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert document["changed"] == ["b.hcl"]
    assert [d["location"] for d in document["diagnostics"]] == ["a.hcl:1:10", "c.hcl:2:7"]
    assert all(d["severity"] == "error" and d["hint"] for d in document["diagnostics"])
    assert (ws.root / "b.hcl").read_text() == (MESSY if check else CANONICAL)


def test_a_refused_rewrite_leaves_that_file_and_formats_the_others(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rewrite whose meaning differs (a formatter bug) is refused for its file only;
    fmt goes on with the others and exits 1. The buggy formatter is a stand-in: a real
    formatter bug cannot be produced on purpose. Run in-process to put it in place."""
    from dstream.cli import app, fmt

    real = fmt.format_text
    monkeypatch.setattr(fmt, "format_text", lambda s: real(s).replace('"shop"', '"other"'))
    monkeypatch.chdir(ws.root)
    (ws.root / "a.hcl").write_text(MESSY)  # holds "shop": its rewrite changes a value
    (ws.root / "b.hcl").write_text(MESSY.replace('"shop"', '"mall"'))
    assert app._main(["fmt", "--json"]) == ExitCode.FAILURE
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert (document["refused"], document["changed"]) == (["a.hcl"], ["b.hcl"])
    assert (ws.root / "a.hcl").read_text() == MESSY
    assert (ws.root / "b.hcl").read_text() == CANONICAL.replace('"shop"', '"mall"')


def test_diff_with_json_is_one_json_document(ws: Workspace) -> None:
    """--json: stdout is one document; each file's diff is in it, not before it."""
    (ws.root / "dstream.hcl").write_text(MESSY)
    done = ws.run("fmt", "--diff", "--json", "--check")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["changed"] == ["dstream.hcl"]
    diff = document["diffs"]["dstream.hcl"]
    assert diff.startswith("--- dstream.hcl\n+++ dstream.hcl\n")
    assert '+  db_name = "shop"\n' in diff
    assert (ws.root / "dstream.hcl").read_text() == MESSY
    (ws.root / "dstream.hcl").write_text(CANONICAL)
    done = ws.run("fmt", "--diff", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "changed": [], "diffs": {}}


ONE_LINE_BLOCKS = """\
state { backend = "file"  path = "st" }
task "t" {
  input { provider_path = "dstream-counter" config { interval = 1 } }
  output {
    provider_path = "dstream-null" }
  restart { attempts = 2
    /* as written */ backoff = 1
    max_backoff = 3 }
}
"""

ONE_LINE_BLOCKS_FORMATTED = """\
state {
  backend = "file"
  path    = "st"
}
task "t" {
  input {
    provider_path = "dstream-counter"
    config { interval = 1 }
  }
  output {
    provider_path = "dstream-null"
  }
  restart {
    attempts = 2
    /* as written */ backoff = 1
    max_backoff = 3
  }
}
"""


def test_a_one_line_block_holds_one_attribute_at_most(ws: Workspace) -> None:
    """HCL v2 refuses `state { a = 1  b = 2 }` ("a single-line block definition can
    contain only a single argument"), and so does every other command
    (tests/config/test_items_end_their_lines.py); fmt repairs it, as HCL writes it: one
    attribute a line. A block's items and its `}` start lines."""
    (ws.root / "dstream.hcl").write_text(ONE_LINE_BLOCKS)
    assert ws.run("fmt", "--check").returncode == 1
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert (ws.root / "dstream.hcl").read_text() == ONE_LINE_BLOCKS_FORMATTED
    assert ws.run("fmt", "--check").returncode == 0
    assert ws.run("lint").returncode == 0


@pytest.mark.parametrize(
    ("value", "where"),
    [('"a\nb"', "2:9"), ('"%{ for x in [1] }\n${x}%{ endfor }"', "2:25")],
)
def test_a_multi_line_quoted_string_is_a_syntax_error_not_a_formatter_bug(
    ws: Workspace, value: str, where: str
) -> None:
    text = f"locals {{\n  c = {value}\n}}\n"
    (ws.root / "dstream.hcl").write_text(text)
    done = ws.run("fmt")
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.startswith(
        f"error: dstream.hcl:{where}: a quoted string cannot span lines"
    ), done.stderr
    assert "bug" not in done.stderr
    assert (ws.root / "dstream.hcl").read_text() == text


def test_unicode_names_are_laid_out_like_any_other(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text('locals {\n名前="x"\n  straße   =  local.名前\n}\n')
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert (ws.root / "dstream.hcl").read_text() == (
        'locals {\n  名前     = "x"\n  straße = local.名前\n}\n'
    )


def test_an_interpolation_over_lines_keeps_the_nesting_after_it(ws: Workspace) -> None:
    """A quoted string's text stays on its line, but its `${ }` may go on: its brackets
    nest no block, and its lines stay as written. `3]` closes the line that opened
    `[`: at that line's level, as terraform fmt puts it."""
    text = (
        'locals {\n  t = ["a"]\n  v = "${join(",",\n    local.t)}"\n    w = 1\n'
        '  l = ["%{ for x in concat(\n       local.t) }${x}%{ endfor }", 2,\n  3]\n}\n'
    )
    (ws.root / "dstream.hcl").write_text(text)
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert (ws.root / "dstream.hcl").read_text() == text.replace("    w = 1", "  w = 1")


def test_a_template_action_with_quotes_in_a_string_keeps_the_nesting_after_it(
    ws: Workspace,
) -> None:
    """`"{{ env "A" | default "}}" }}"`: the action's quotes are its own, so the string
    ends at the last quote. fmt's line scan took `"A"`'s quotes for the string's end and
    the `}}` for closing braces, and put every line after it at the wrong level."""
    text = (
        'task "t" {\n  input {\n    provider_path = "x"\n    config {\n'
        '      c = "{{ env "A" | default "}}" }}"\n        d = 1\n    }\n  }\n'
        '  output {\n    provider_path = "y"\n  }\n}\n'
    )
    (ws.root / "dstream.hcl").write_text(text)
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert (ws.root / "dstream.hcl").read_text() == text.replace("        d = 1", "      d = 1")


def test_a_heredoc_whose_marker_holds_a_dash_is_kept_as_typed(ws: Workspace) -> None:
    """`<<END-X` is a heredoc in HCL (its marker a name, `-` in it): fmt's line scan
    knew only `\\w` markers and respaced its body as code."""
    text = "locals {\n  a = <<END-X\nx=[1,2]\nEND-X\n}\n"
    done = ws.run("fmt", "-", input=text.encode())
    assert done.returncode == 0, done.stderr
    assert done.stdout == text


def test_fmt_of_stdin_leaves_nothing_in_the_parse_cache(ws: Workspace, tmp_path: Path) -> None:
    """`fmt -` parses stdin without keeping it; its layout step cached the text anyway."""
    cache = tmp_path / "cache"
    done = ws.run("fmt", "-", input=b"locals {\n  a = 1\n}\n", env={"XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 0, done.stderr
    assert not [p for p in cache.rglob("*") if p.is_file()], list(cache.rglob("*"))
