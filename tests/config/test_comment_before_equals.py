"""A `/* */` comment between an attribute's (or an object key's) name and its `=`, as
HCL v2 reads it (Terraform v1.11.4 validates and formats it), where python-hcl2's
grammar takes a `/* */` comment for a line end (config/gaps.py)."""

from __future__ import annotations

from tests.workspace import Workspace, json_document

CONFIG = """\
locals {
  a /* why */ = 1
  c/*x*/=3
  d   /* x */   /* y */   = 4 # tail
  e = { k /* c */ = 1, "q" /* d */ = 2 }
  f = {
    kk /* c */ = 1
  }
  g /* spans
  lines */ = 6
  h = 1 /* after */ == 1
}
task "t" {
  input {
    provider_path = "/bin/cat"
    config = {
      a = local.a, c = local.c, d = local.d, e = local.e, f = local.f, g = local.g
      h = local.h
    }
  }
  output { provider_path = "/bin/cat" }
}
"""


def test_a_comment_before_an_equals_sign_is_read_as_hcl_reads_it(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(CONFIG)
    done = ws.run("show", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert json_document(done)["input"]["config"] == {
        "a": 1,
        "c": 3,
        "d": 4,
        "e": {"k": 1, "q": 2},
        "f": {"kk": 1},
        "g": 6,
        "h": True,
    }


def test_an_error_after_such_a_comment_is_placed_as_written(ws: Workspace) -> None:
    """The comment spanning lines is read as blanks: every position after it must
    still be the written text's."""
    text = 'locals {\n  g /* spans\n  lines */ = 6\n  x = "a" +\n}\n'
    (ws.root / "dstream.hcl").write_text(text)
    done = ws.run("lint")
    assert done.returncode == 2
    assert done.stderr.startswith("error: dstream.hcl:5:1: syntax error"), done.stderr


# What `terraform fmt -` writes: the comment spaced as any token, part of the name's
# width in the `=` alignment.
UNFORMATTED = """\
locals {
  a /* why */ = 1
  bbbbbbbb = 2
  c/*x*/=3
  d   /* x */   /* y */   = 4 # tail
  eeeeeeeeeeeeeeeeeee = 5 # e
  f = {
    kk /* c */ = 1
    "q" /* d */ = 2
  }
}
"""

FORMATTED = """\
locals {
  a /* why */         = 1
  bbbbbbbb            = 2
  c /*x*/             = 3
  d /* x */ /* y */   = 4 # tail
  eeeeeeeeeeeeeeeeeee = 5 # e
  f = {
    kk /* c */  = 1
    "q" /* d */ = 2
  }
}
"""


def test_fmt_lays_such_a_comment_out_as_terraform_fmt(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(UNFORMATTED)
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert (ws.root / "dstream.hcl").read_text() == FORMATTED
    assert ws.run("fmt", "--check").returncode == 0
