"""Commands that check or inspect a configuration do not need its variables' values,
as `terraform validate` does not: `lint`, `list`, `runs` and `state` work where a
secret is not set (CI, a laptop), and say what they could not check. `run`, `plan` and
`show` still need every value, as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.workspace import CliResult, dstream

SECRET = "hunter2-not-in-output"
CONFIG = """
variable "db_password" {
  type      = string
  sensitive = true
}
variable "unused" { type = number }
locals {
  dsn    = "host=db password=${var.db_password}"
  spare  = var.unused + 1
}
task "orders" {
  input {
    provider_path = "/bin/cat"
    config = { dsn = local.dsn, fallback = try(var.db_password, "none") }
  }
  output { provider_path = "/bin/cat" }
}
task "plain" {
  input { provider_path = "/bin/cat" }
  output { provider_path = "/bin/cat" }
}
state { path = "state" }
"""


def cli(tmp_path: Path, *args: str, text: str = CONFIG, **env: str) -> CliResult:
    (tmp_path / "dstream.hcl").write_text(text)
    return dstream(*args, cwd=tmp_path, env=env, without="DSTREAM_")


def test_lint_passes_without_a_value_and_says_which_task_it_did_not_check(
    tmp_path: Path,
) -> None:
    done = cli(tmp_path, "lint", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["errors"] == 0
    warnings = [d for d in report["diagnostics"] if d["severity"] == "warning"]
    assert len(warnings) == 1, warnings
    assert "task 'orders' was not checked" in warnings[0]["message"]
    assert 'variable "db_password" has no value' in warnings[0]["message"]
    assert "DSTREAM_VAR_db_password" in warnings[0]["hint"]
    assert warnings[0]["line"] == 2  # where the variable is declared
    assert sorted(report["tasks"]) == ["orders", "plain"]
    # --strict fails on what was not checked, as on any warning
    assert cli(tmp_path, "lint", "--strict").returncode == 2


def test_lint_still_reports_the_errors_it_can_see(tmp_path: Path) -> None:
    """The tasks that do not need the value are checked whole, and so are the parts of
    one that does: a missing value hides nothing else."""
    text = CONFIG.replace(
        'output { provider_path = "/bin/cat" }\n}\ntask "plain"',
        ('output { provider_pth = "/bin/cat" }\n}\ntask "plain"'),
    ).replace('task "plain" {\n  input { provider_path', 'task "plain" {\n  input { provider_pat')
    done = cli(tmp_path, "lint", "--json", text=text)
    assert done.returncode == 2
    diagnostics = json.loads(done.stdout)["diagnostics"]
    errors = "\n".join(d["message"] for d in diagnostics if d["severity"] == "error")
    assert "unknown attribute 'provider_pth' in output of task \"orders\"" in errors
    assert "unknown attribute 'provider_pat' in input of task \"plain\"" in errors
    assert "has no value" not in errors, errors  # a warning beside them, not an error


def test_lint_checks_the_value_once_given(tmp_path: Path) -> None:
    done = cli(tmp_path, "lint", DSTREAM_VAR_db_password=SECRET, DSTREAM_VAR_unused="1")
    assert done.returncode == 0, done.stderr
    assert "0 warning(s)" in done.stdout
    assert SECRET not in done.stdout + done.stderr


def test_list_runs_and_state_work_without_the_value(tmp_path: Path) -> None:
    """`list` and `runs` need none; `state` needs the sensitive ones only (to mask what
    the store holds: the test below), not `unused` (a number nothing masks)."""
    listed = cli(tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["tasks"]}
    assert rows["plain"]["error"] is None
    assert 'variable "db_password" has no value' in rows["orders"]["error"]
    for command, env in ((("runs",), {}), (("state", "list"), {"DSTREAM_VAR_db_password": SECRET})):
        done = cli(tmp_path, *command, **env)
        assert done.returncode == 0, (command, done.stderr)
        assert "has no value" not in done.stdout + done.stderr


def test_a_state_block_that_needs_the_value_still_needs_it(tmp_path: Path) -> None:
    """`runs` and `state` read the store the state block names: without its values they
    cannot know where it is, and say so. `lint` only says it did not check it."""
    text = CONFIG.replace('state { path = "state" }', 'state { path = "s-${var.db_password}" }')
    done = cli(tmp_path, "runs", text=text)
    assert done.returncode == 2, done.stderr
    assert 'variable "db_password" has no value' in done.stderr
    assert "Traceback" not in done.stderr
    linted = cli(tmp_path, "lint", "--json", text=text)
    assert linted.returncode == 0, linted.stdout
    messages = [d["message"] for d in json.loads(linted.stdout)["diagnostics"]]
    assert any("the state block was not checked" in m for m in messages), messages


def test_run_plan_and_show_still_need_every_value(tmp_path: Path) -> None:
    for command in (("run", "plain"), ("plan", "plain"), ("show", "plain")):
        done = cli(tmp_path, *command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert 'variable "db_password" has no value' in done.stderr
        assert "DSTREAM_VAR_db_password" in done.stderr


def test_try_does_not_hide_a_variable_without_a_value(tmp_path: Path) -> None:
    """Which argument try() would pick is not known without the value: the task is said
    unchecked, not checked with the fallback (which `run` would never use)."""
    text = CONFIG.replace("config = { dsn = local.dsn, fallback = ", "config = { fallback = ")
    done = cli(tmp_path, "lint", text=text)
    assert done.returncode == 0, done.stderr
    assert "task 'orders' was not checked" in done.stderr


BLOCK_FORM = """
variable "n" { type = number }
task "a" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count = var.n
      bogus     = 1
    }
  }
  output { provider_path = "dstream-nul" }
  SETTING
}
"""


@pytest.mark.parametrize(
    ("setting", "found"),
    [
        ("", "unknown config key 'bogus' for input 'dstream-counter'"),
        ('start_timeout = "banana"', "must be a duration"),
    ],
)
def test_lint_checks_the_rest_of_a_task_one_config_key_of_which_needs_a_value(
    tmp_path: Path, setting: str, found: str
) -> None:
    """A review found lint said ok (exit 0) while the task had a wrong key, a misspelt
    provider and a bad duration, because one config key used a variable without a
    value: only that key goes unchecked now."""
    done = cli(tmp_path, "lint", text=BLOCK_FORM.replace("SETTING", setting))
    assert done.returncode == 2, done.stdout + done.stderr
    assert found in done.stderr, done.stderr
    assert 'variable "n" has no value' in done.stderr
    if not setting:
        assert "'dstream-nul' was not found" in done.stderr


SECRET_CHECKPOINT = """
variable "tok" { sensitive = true }
task "c" {
  input {
    provider_path = "./in.sh"
    env = { TOKEN_X = var.tok }
  }
  output { provider_path = "dstream-null" }
}
state { path = "state" }
"""
IN_SH = """#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
echo '{"data":1}'
printf '{"checkpoint":{"tok":"%s"}}\\n' "$TOKEN_X"
"""


def test_state_still_needs_a_sensitive_value_to_mask_what_is_stored(tmp_path: Path) -> None:
    """A review found `state list` printed a checkpoint holding a sensitive value in
    clear once the value was no longer needed: the masking needs it. `state` needs every
    sensitive variable's value; `list`, `lint` and `runs` print nothing stored but the
    runs' history (below)."""
    (tmp_path / "in.sh").write_text(IN_SH)
    (tmp_path / "in.sh").chmod(0o755)
    done = cli(tmp_path, "run", "c", text=SECRET_CHECKPOINT, DSTREAM_VAR_tok=SECRET)
    assert done.returncode == 0, done.stderr
    for command in (("state", "list"), ("state", "show", "c")):
        refused = cli(tmp_path, *command, text=SECRET_CHECKPOINT)
        assert refused.returncode == 2, (command, refused.stdout)
        assert 'variable "tok" has no value' in refused.stderr
        assert SECRET not in refused.stdout + refused.stderr
        masked = cli(tmp_path, *command, text=SECRET_CHECKPOINT, DSTREAM_VAR_tok=SECRET)
        assert masked.returncode == 0, masked.stderr
        assert SECRET not in masked.stdout + masked.stderr
    assert cli(tmp_path, "list", text=SECRET_CHECKPOINT).returncode == 0


def test_runs_needs_no_sensitive_value(tmp_path: Path) -> None:
    """`runs` prints the runs' history (times, counts, results, by whom), no checkpoint:
    a review found it asked for every sensitive variable's value, as `state` does to
    mask a checkpoint, so that reading the history needed the secrets. It needs only
    what the state block uses (the test above it); a value given is masked all the same
    (here, in the store's path)."""
    (tmp_path / "in.sh").write_text(IN_SH)
    (tmp_path / "in.sh").chmod(0o755)
    done = cli(tmp_path, "run", "c", text=SECRET_CHECKPOINT, DSTREAM_VAR_tok=SECRET)
    assert done.returncode == 0, done.stderr
    for args in (("runs", "--json"), ("runs", "c", "--json")):
        shown = cli(tmp_path, *args, text=SECRET_CHECKPOINT)
        assert shown.returncode == 0, (args, shown.stderr)
        runs = json.loads(shown.stdout)["runs"]
        assert [(r["task"], r["result"]) for r in runs] == [("c", "completed")], args
        assert "has no value" not in shown.stderr  # nothing it does needed the value
    table = cli(tmp_path, "runs", text=SECRET_CHECKPOINT)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[1].split()[0] == "c"
    in_path = SECRET_CHECKPOINT.replace('path = "state"', 'path = "state-${var.tok}"')
    (tmp_path / f"state-{SECRET}").symlink_to(tmp_path / "state")
    masked = cli(tmp_path, "runs", "--json", text=in_path, DSTREAM_VAR_tok=SECRET)
    assert masked.returncode == 0, masked.stderr
    assert len(json.loads(masked.stdout)["runs"]) == 1
    assert SECRET not in masked.stdout + masked.stderr and "***" in masked.stdout


def test_list_reads_no_store_and_needs_no_state_block_value(tmp_path: Path) -> None:
    text = 'variable "dir" {}\n' + CONFIG.replace(
        'state { path = "state" }', "state { path = var.dir }"
    )
    done = cli(tmp_path, "list", text=text)
    assert done.returncode == 0, done.stderr
    assert "plain" in done.stdout


def test_list_json_shows_where_an_unusable_task_is_and_its_literal_providers(
    tmp_path: Path,
) -> None:
    """A review found the row of a task that needs a variable without a value gave the
    variable's declaration as the task's location and `"kind": "none"` for a literal
    provider_path: the row gives the task's place and each source that is known, null
    for one that is not (never "none"). A task only a config key of which needs the
    value has its providers listed (`list` shows no config value), flagged as needing
    the value to run (it was listed as usable, and `run` refused it): `needs`, the
    reason, and `needs_location`, the variable's declaration."""
    text = """variable "n" { type = number }
task "t" {
  input {
    provider_path = "dstream-counter"
    env = { N = tostring(var.n) }
  }
  output { provider_path = "dstream-${var.n}" }
}
task "by_key" {
  input {
    provider_path = "dstream-counter"
    config { max = var.n }
  }
  output { provider_path = "dstream-null" }
}
"""
    listed = cli(tmp_path, "list", "--json", text=text)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["tasks"]}
    row, by_key = rows["t"], rows["by_key"]
    assert by_key["error"] is None, by_key
    assert by_key["needs"] == 'variable "n" has no value', by_key
    assert by_key["needs_location"] == "dstream.hcl:1:1", by_key
    assert by_key["output"] == {"kind": "path", "source": "dstream-null"}, by_key
    assert row["needs"] is None and rows["by_key"]["error_location"] is None, row
    assert 'variable "n" has no value' in row["error"]
    assert row["location"] == "dstream.hcl:2:1", row
    assert row["error_location"] == "dstream.hcl:1:1", row  # the variable's declaration
    assert row["input"] == {"kind": "path", "source": "dstream-counter"}, row
    assert row["output"] is None, row
    human = cli(tmp_path, "list", text=text)
    assert human.returncode == 0, human.stderr
    assert "\nt       (cannot be used: " in human.stdout, human.stdout
    line = next(x for x in human.stdout.splitlines() if x.startswith("by_key"))
    assert "dstream-null" in line and '(run needs: variable "n" has no value)' in line, line
