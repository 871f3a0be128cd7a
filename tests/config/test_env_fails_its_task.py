"""An environment variable that is not set fails only the task that uses it, as
docs/configuration.md says: whether a template or env() reads it, in the task itself or
in a local the task uses. `run OTHER`, `list`, `state`, `runs` still work; the task
that needs it fails, at the place it uses the value; lint fails on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.workspace import CliResult, dstream

CONFIG = """\
locals { db = READ }
task "a" {
  input {
    provider_path = "dstream-counter"
    config = { max_count = 2, interval = 1 }
  }
  output { provider_path = "dstream-null" }
}
task "b" {
  input {
    provider_path = "dstream-counter"
    config = { max_count = 2, tables = [USE] }
  }
  output { provider_path = "dstream-null" }
}
state { path = "state" }
"""
TEMPLATE = '"{{ env \\"DB_URL_X\\" }}"'
FUNCTION = 'env("DB_URL_X")'
CASES = {
    "template in a local": (TEMPLATE, "local.db"),
    "env() in a local": (FUNCTION, "local.db"),
    "env() in the task": ('"unused"', FUNCTION),
}


def cli(tmp_path: Path, text: str, *args: str, **env: str) -> CliResult:
    (tmp_path / "dstream.hcl").write_text(text)
    return dstream(*args, cwd=tmp_path, env=env, without="DSTREAM_")


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unset_variable_fails_only_the_task_that_uses_it(tmp_path: Path, case: str) -> None:
    read, use = CASES[case]
    text = CONFIG.replace("READ", read).replace("USE", use)
    for args in [("run", "a"), ("state", "list"), ("runs",), ("state", "reset", "a")]:
        done = cli(tmp_path, text, *args)
        assert done.returncode == 0, (args, done.stderr)
        if args[0] == "run":
            assert "task 'b' cannot be used" in done.stderr, done.stderr
    listed = cli(tmp_path, text, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["tasks"]}
    assert rows["a"]["error"] is None
    assert "environment variable DB_URL_X is not set" in rows["b"]["error"]
    # b fails where it uses the value, with what to do
    refused = cli(tmp_path, text, "run", "b")
    assert refused.returncode == 2, refused.stderr
    assert "dstream.hcl:12:" in refused.stderr
    assert "environment variable DB_URL_X is not set" in refused.stderr
    assert "export DB_URL_X=" in refused.stderr and "Traceback" not in refused.stderr
    if use == "local.db":
        assert "local.db" in refused.stderr and "dstream.hcl:1:" in refused.stderr
    linted = cli(tmp_path, text, "lint", "--json")
    assert linted.returncode == 2, linted.stdout
    report = json.loads(linted.stdout)
    assert report["tasks"] == ["a", "b"] and report["errors"] == 1, report
    assert cli(tmp_path, text, "lint", DB_URL_X="postgres://x").returncode == 0


def test_a_local_no_task_uses_is_only_a_warning(tmp_path: Path) -> None:
    text = CONFIG.replace("READ", TEMPLATE).replace("USE", '"t"')
    done = cli(tmp_path, text, "run", "a")
    assert done.returncode == 0, done.stderr
    linted = cli(tmp_path, text, "lint", "--json")
    assert linted.returncode == 0, linted.stdout
    (warning,) = json.loads(linted.stdout)["diagnostics"]
    assert warning["severity"] == "warning" and warning["line"] == 1
    assert "environment variable DB_URL_X is not set" in warning["message"]
    assert "no task uses local.db" in warning["message"]
    assert cli(tmp_path, text, "lint", "--strict").returncode == 2
