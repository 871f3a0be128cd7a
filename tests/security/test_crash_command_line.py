"""A crash report's `command:` line masks the value of every --var: a crash can come
before the configuration is read, when nothing says yet which variable is sensitive
(issue: a NameError in the parse left `--var pw=<the password>` in clear)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workspace import Workspace

SECRET = "Cr4sh-S3cret-Value"
CONFIG = """
variable "pw" {
  sensitive = true
}
task "t" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""
# dstream's own entry, with the parse of the configuration replaced by a bug (as the
# NameError of an edit in progress was), or with the command line's parser replaced by
# one (a crash before any flag is read: -var is not even known to be a mistake yet).
CRASHING = """
import sys
from dstream.cli import app
from dstream.config import syntax

def broken(*args, **kwargs):
    raise NameError("name 'join_template_lines' is not defined")

syntax.parse_tree = broken
syntax.parses_to_tree = broken
if sys.argv[1] == "--before-parsing":
    del sys.argv[1]
    app.build_parser = broken
sys.exit(app.main())
"""

# How the value is given -> the words of the command line.
FORMS = {
    "--var NAME=VALUE": ["--var", f"pw={SECRET}"],
    "--var=NAME=VALUE": [f"--var=pw={SECRET}"],
    "-var NAME=VALUE": ["-var", f"pw={SECRET}"],
    "-var=NAME=VALUE": [f"-var=pw={SECRET}"],
    "--var VALUE (no name)": ["--var", SECRET],
    "a short value": ["--var", "pw=Zq"],
}
SHOWN = {
    "--var NAME=VALUE": "--var pw=***",
    "--var=NAME=VALUE": "--var=pw=***",
    "-var NAME=VALUE": "-var pw=***",
    "-var=NAME=VALUE": "-var=pw=***",
    "--var VALUE (no name)": "--var ***",
    "a short value": "--var pw=***",
}


def crash(ws: Workspace, tmp_path: Path, *args: str) -> str:
    """Run the crashing dstream with `args`; the crash report's text."""
    state = tmp_path / "xdg-state"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING, *args],
        cwd=ws.root,
        env={**os.environ, **ws.env, "XDG_STATE_HOME": str(state)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 70, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    reports = list((state / "dstream").glob("crash-*.txt"))
    assert len(reports) == 1, done.stderr
    return reports[0].read_text()


# The parser refuses -var (a usage error, no crash): it can only be in a crash before it.
CASES = [
    pytest.param(form, before, id=f"{form}-{'before-flags' if before else 'in-the-parse'}")
    for form in sorted(FORMS)
    for before in (False, True)
    if before or not form.startswith("-var")
]


@pytest.mark.parametrize(("form", "before_parsing"), CASES)
def test_the_crash_reports_command_line_masks_every_var_value(
    ws: Workspace, tmp_path: Path, form: str, before_parsing: bool
) -> None:
    ws.config(CONFIG)
    first = ["--before-parsing"] if before_parsing else []
    report = crash(ws, tmp_path, *first, "lint", *FORMS[form], "--var-file", "none.vars")
    command = re.search(r"^command: (.*)$", report, re.MULTILINE)
    assert command, report
    assert command.group(1).endswith(f"lint {SHOWN[form]} --var-file none.vars"), report
    assert SECRET not in report, report
    assert "NameError" in report  # the report still says what crashed
