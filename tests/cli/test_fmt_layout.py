"""`dstream fmt` lays a file out as `terraform fmt` does. Each expected text here is
what `terraform fmt -` (v1.11.4) writes for the input; test_fmt_expressions.py checks
the spacing inside expressions."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dstream.errors import ExitCode
from tests.workspace import Workspace


def _fmt(ws: Workspace, text: str, name: str = "dstream.hcl") -> str:
    """`text` formatted by `dstream fmt`, which must succeed; the file is then formatted."""
    (ws.root / name).write_bytes(text.encode())
    done = ws.run("fmt", name)
    assert done.returncode == 0, done.stderr
    assert ws.run("fmt", "--check", name).returncode == 0  # idempotent
    return (ws.root / name).read_bytes().decode()


HEREDOC_IN_A_COMMENT = """\
# multi-line SQL goes in a heredoc: query = <<EOF
task "a" {
input {
provider_path = "x"
config {
query = <<EOF
select 1
EOF
}
}
output {
  provider_path = "y"
}
}
"""

# terraform fmt's output for HEREDOC_IN_A_COMMENT.
HEREDOC_IN_A_COMMENT_FORMATTED = """\
# multi-line SQL goes in a heredoc: query = <<EOF
task "a" {
  input {
    provider_path = "x"
    config {
      query = <<EOF
select 1
EOF
    }
  }
  output {
    provider_path = "y"
  }
}
"""


@pytest.mark.parametrize("comment", ["#", "//", "/*"])
def test_a_heredoc_opener_in_a_comment_opens_no_heredoc(ws: Workspace, comment: str) -> None:
    text = HEREDOC_IN_A_COMMENT.replace("#", comment, 1)
    expected = HEREDOC_IN_A_COMMENT_FORMATTED.replace("#", comment, 1)
    if comment == "/*":
        text, expected = (t.replace("<<EOF\n", "<<EOF */\n", 1) for t in (text, expected))
    (ws.root / "dstream.hcl").write_text(text)
    assert ws.run("fmt", "--check").returncode == ExitCode.FAILURE
    assert _fmt(ws, text) == expected


def test_a_heredoc_opener_in_a_string_opens_no_heredoc(ws: Workspace) -> None:
    text = 'locals {\nq = "a <<EOF"\n    r = 1\n}\n'
    assert _fmt(ws, text) == 'locals {\n  q = "a <<EOF"\n  r = 1\n}\n'


# A block comment and heredoc bodies holding what looks like attributes, double blank
# lines and trailing blanks: terraform fmt keeps them byte for byte.
VERBATIM = """\
/*
  name = "x"
  longer_name = "y"


  end···
*/
task "a" {
  input {
    provider_path = "x"
    config {
      query = <<EOF
x = 1
yy = 2


z = 3···
EOF
      trimmed = <<-EOT
        a = 1
        bb = 2

EOT
    }
  }
  output {
    provider_path = "y"
  }
}
""".replace("·", " ")  # trailing blanks, kept


def test_block_comments_and_heredoc_bodies_pass_through_verbatim(ws: Workspace) -> None:
    # terraform fmt aligns the heredoc attributes; it changes nothing else.
    expected = VERBATIM.replace("query = <<EOF", "query   = <<EOF")
    assert _fmt(ws, VERBATIM) == expected


def test_a_heredoc_attribute_is_aligned_with_its_neighbours(ws: Workspace) -> None:
    text = "locals {\n  ffff = 5\n  h = <<EOF\nbody\nEOF\n  iiiii = 6\n\n  j = 1\n}\n"
    expected = "locals {\n  ffff  = 5\n  h     = <<EOF\nbody\nEOF\n  iiiii = 6\n\n  j = 1\n}\n"
    assert _fmt(ws, text) == expected


def test_a_crlf_file_stays_crlf(ws: Workspace) -> None:
    text = 'locals {\r\n  a = 1\r\n  bb = "x"\r\n  h = <<EOF\r\nline1\r\nline2\r\nEOF\r\n}\r\n'
    # terraform fmt's output: CRLF kept, `=` aligned.
    expected = (
        'locals {\r\n  a  = 1\r\n  bb = "x"\r\n  h  = <<EOF\r\nline1\r\nline2\r\nEOF\r\n}\r\n'
    )
    (ws.root / "dstream.hcl").write_bytes(text.encode())
    assert ws.run("fmt", "--check").returncode == ExitCode.FAILURE
    assert _fmt(ws, text) == expected
    formatted = 'locals {\r\n  a  = 1\r\n  bb = "x"\r\n}\r\n'
    (ws.root / "dstream.hcl").write_bytes(formatted.encode())
    done = ws.run("fmt", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


# terraform fmt: at most one indentation level per line, however many brackets it opens.
NESTED_BRACKETS = """\
variable "replicas" {
  type = list(object({
        host = string
    port = optional(number, 5432) # may be left out
  }))
}
locals {
  x = merge({
      a = 1
    }, {
      b = 2
  })
  z = {
    "quoted" = 1
    k = 2
  }
  e = {}
}
locals { }
task "t" {
  input {    }
  output {}
}
"""

NESTED_BRACKETS_FORMATTED = """\
variable "replicas" {
  type = list(object({
    host = string
    port = optional(number, 5432) # may be left out
  }))
}
locals {
  x = merge({
    a = 1
    }, {
    b = 2
  })
  z = {
    "quoted" = 1
    k        = 2
  }
  e = {}
}
locals {}
task "t" {
  input {}
  output {}
}
"""


def test_brackets_opened_on_one_line_indent_one_level(ws: Workspace) -> None:
    assert _fmt(ws, NESTED_BRACKETS) == NESTED_BRACKETS_FORMATTED


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch(1)")
@pytest.mark.parametrize("json", [False, True])
def test_a_diff_for_a_file_without_a_final_newline_applies(ws: Workspace, json: bool) -> None:
    import json as json_

    text = "a=1\nb  =  2"
    (ws.root / "dstream.hcl").write_text(text)
    done = ws.run("fmt", "--diff", "--check", *(["--json"] if json else []))
    assert done.returncode == ExitCode.FAILURE, done.stderr
    diff = json_.loads(done.stdout)["diffs"]["dstream.hcl"] if json else done.stdout
    assert diff.endswith("-b  =  2\n\\ No newline at end of file\n+a = 1\n+b = 2\n"), diff
    (ws.root / "fix.patch").write_text(diff)
    patched = subprocess.run(
        ["patch", "--dry-run", "-p0", "-i", "fix.patch"],
        cwd=ws.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert patched.returncode == 0, patched.stdout + patched.stderr
    subprocess.run(["patch", "-s", "-p0", "-i", "fix.patch"], cwd=ws.root, check=True)
    assert (ws.root / "dstream.hcl").read_text() == "a = 1\nb = 2\n"


def test_dash_formats_stdin_to_stdout(ws: Workspace) -> None:
    """For editors, as `terraform fmt -`."""
    done = ws.run("fmt", "-", input=b"locals{\na=1\n  bb =2\n}\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "locals {\n  a  = 1\n  bb = 2\n}\n"
    done = ws.run("fmt", "-", "--check", input=b"locals{\na=1\n}\n")
    assert (done.returncode, done.stdout) == (ExitCode.FAILURE, "")
    assert ws.run("fmt", "-", "--check", input=b"locals {\n  a = 1\n}\n").returncode == 0
    done = ws.run("fmt", "-", input=b"locals {\n")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("error: <stdin>:1:8: syntax error"), done.stderr
    assert done.stdout == ""
    assert ws.run("fmt", "-", "a.hcl", input=b"").returncode == ExitCode.USAGE


def test_an_attribute_set_twice_is_an_error_but_not_one_of_parsing(ws: Workspace) -> None:
    """terraform fmt refuses it too ("Attribute redefined", exit 2), but the file
    parses: the summary must not say it does not."""
    text = "locals {\n  a=1\n  a=2\n}\n"
    (ws.root / "dstream.hcl").write_text(text)
    done = ws.run("fmt")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("error: dstream.hcl:3:3: attribute 'a' is set twice")
    assert "do not parse" not in done.stderr
    assert "1 file(s) have errors: fix them, then run `dstream fmt`" in done.stderr
    assert (ws.root / "dstream.hcl").read_text() == text


# Trailing `#` and `//` comments of consecutive lines are aligned one column past the
# longest line's code, as terraform fmt's (hclwrite's formatCells); the inputs and their
# expected layouts are `terraform fmt -` (v1.11.4)'s.
COMMENTS_IN_RUNS = (
    """\
locals {
  a = 1 # one
  bbb = "two" // two
  c = 3
  dddd = 4    # four
  ee = 5 # five
  # a comment line of its own
  f = 6 # six
  ggggggg = 7 # seven

  h = 8 # eight
  i = "x" /* not trailing */
  j = 10 # ten
  k = 11 /* and */ # eleven
}
""",
    """\
locals {
  a    = 1     # one
  bbb  = "two" // two
  c    = 3
  dddd = 4 # four
  ee   = 5 # five
  # a comment line of its own
  f       = 6 # six
  ggggggg = 7 # seven

  h = 8 # eight
  i = "x" /* not trailing */
  j = 10           # ten
  k = 11 /* and */ # eleven
}
""",
)

# A run goes on across nesting levels and holds any line with code before its comment:
# a block's opening and closing lines, a list's items.
COMMENTS_ACROSS_BLOCKS = (
    """\
task "t" { # the task
  input { # in
    provider_path = "dstream-counter" # p
    config {
      max_count = [1,
        2, # two
      3] # three
    } # end config
  } # end input
  output { provider_path = "dstream-null" } # out
}
""",
    """\
task "t" {                            # the task
  input {                             # in
    provider_path = "dstream-counter" # p
    config {
      max_count = [1,
        2,                                  # two
      3]                                    # three
    }                                       # end config
  }                                         # end input
  output { provider_path = "dstream-null" } # out
}
""",
)

# A heredoc ends a run (its body is no comment, even where it holds a `#`).
COMMENTS_AROUND_A_HEREDOC = (
    """\
locals {
  a = 1 # a
  query = <<EOF
select 1 # not a comment
EOF
  bb = 2 # b
  ccc = 3 # c
}
""",
    """\
locals {
  a     = 1 # a
  query = <<EOF
select 1 # not a comment
EOF
  bb    = 2 # b
  ccc   = 3 # c
}
""",
)

# Columns are characters as a reader sees them (grapheme clusters): "José" written with
# a combining accent is four wide, as terraform fmt counts it.
COMMENTS_AFTER_COMBINING_MARKS = (
    'locals {\n  name = "Jose\u0301" # decomposed\n  city = "Malmoe" # plain\n}\n',
    'locals {\n  name = "Jose\u0301"   # decomposed\n  city = "Malmoe" # plain\n}\n',
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        COMMENTS_IN_RUNS,
        COMMENTS_ACROSS_BLOCKS,
        COMMENTS_AROUND_A_HEREDOC,
        COMMENTS_AFTER_COMBINING_MARKS,
    ],
    ids=["runs", "across-blocks", "heredoc", "combining-marks"],
)
def test_trailing_comments_are_aligned_as_terraform_fmt_aligns_them(
    ws: Workspace, text: str, expected: str
) -> None:
    assert _fmt(ws, text) == expected
    done = ws.run("fmt", "-", input=text.encode())  # the same for an editor
    assert (done.returncode, done.stdout) == (0, expected), done.stderr


# A one-line block whose trailing comment ends in `}`: the comment is the author's text.
BRACES_IN_A_COMMENT = """\
config {
  table "orders" { key = "id" }  # becomes {"table": {"orders": {...}}}
  nested {a=1}  # {}
  locals { }  # an empty one }
}
"""

BRACES_IN_A_COMMENT_FORMATTED = """\
config {
  table "orders" { key = "id" } # becomes {"table": {"orders": {...}}}
  nested { a = 1 }              # {}
  locals {}                     # an empty one }
}
"""


def test_a_comment_after_a_one_line_block_is_kept_as_written(ws: Workspace) -> None:
    """Its closing braces were taken for the block's: `{...}}}` became `{...}} }`."""
    assert _fmt(ws, BRACES_IN_A_COMMENT) == BRACES_IN_A_COMMENT_FORMATTED


# Runs of blank lines everywhere they can be: before the first line, between top-level
# blocks, between a block's attributes and blocks, at the start and the end of a block's
# body (one holding blanks only among them), and after the last line.
BLANK_RUNS = """

# top


locals {


  a = 1


  bb = 2
··
\t
}



task "t" {
  input {
    provider_path = "x"
  }


  output {
    provider_path = "y"


  }
}


""".replace("·", " ")

# terraform fmt's output for BLANK_RUNS: every blank line kept, as an empty line (and
# `a`, `bb` not aligned: blank lines part them).
BLANK_RUNS_FORMATTED = BLANK_RUNS.replace("  \n\t\n", "\n\n")


def test_runs_of_blank_lines_are_kept_as_terraform_fmt_keeps_them(ws: Workspace) -> None:
    assert _fmt(ws, BLANK_RUNS) == BLANK_RUNS_FORMATTED
    (ws.root / "dstream.hcl").write_text(BLANK_RUNS_FORMATTED)
    done = ws.run("fmt", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
