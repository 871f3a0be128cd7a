"""`dstream fmt`: the canonical layout of .hcl files, like `terraform fmt` (issue 19)."""

from __future__ import annotations

import shutil
from pathlib import Path

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
  output { provider_path = "dstream-null" }
}
"""

CANONICAL = """\
# top comment
locals {
  tables  = ["a","b"]   # trailing
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
