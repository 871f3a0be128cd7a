"""`dstream lint`, `list` and `show` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from tests.workspace import CliResult, executable
from tests.workspace import dstream as run_cli

HERE = os.path.dirname(__file__)
CONFIG = """
locals {
  tables = ["dbo.Orders", "dbo.Customers"]
}
variable "db_password" { sensitive = true }
task "orders" {
  input {
    provider_path = "dstream-counter"
    config {
      tables   = local.tables
      dsn      = "Server=db;User=app;Pwd=${var.db_password}"
      note     = "pw is ${var.db_password}"
      apiKey   = "k-123"
      routing_key = "orders.created"
      connectionString = env("CONN")
    }
  }
  output {
    provider_path = "dstream-console"
    env = { PGPASSWORD = var.db_password }
    config { tables = local.tables }
  }
}
"""


def dstream(*args: str, env: Optional[dict[str, str]] = None) -> CliResult:
    """The CLI, with none of the developer's own DSTREAM_ settings."""
    return run_cli(*args, env=env, without="DSTREAM_")


def write(tmp_path: Path, text: str = CONFIG) -> str:
    path = tmp_path / "dstream.hcl"
    path.write_text(text)
    return str(path)


ENV = {"DSTREAM_VAR_db_password": "hunter22", "CONN": "Server=x;Password=abc"}


def test_show_prints_arrays_and_redacts_secrets(tmp_path: Path) -> None:
    done = dstream("show", "orders", "-c", write(tmp_path), env=ENV)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["input"]["config"]["tables"] == ["dbo.Orders", "dbo.Customers"]
    assert task["output"]["config"]["tables"] == ["dbo.Orders", "dbo.Customers"]
    config = task["input"]["config"]
    assert config["dsn"] == "***"  # a secret-looking key
    assert config["note"] == "***"  # computed from a sensitive value: sensitive too
    assert config["apiKey"] == "***"
    assert config["connectionString"] == "***"
    assert config["routing_key"] == "orders.created"
    assert task["output"]["env"] == {"PGPASSWORD": "***"}
    assert "hunter22" not in done.stdout and "abc" not in done.stdout


def test_show_secrets_prints_them(tmp_path: Path) -> None:
    done = dstream("show", "orders", "--show-secrets", "--json", "-c", write(tmp_path), env=ENV)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)["input"]["config"]
    assert config["note"] == "pw is hunter22"
    assert config["connectionString"] == "Server=x;Password=abc"


def test_show_unknown_task(tmp_path: Path) -> None:
    done = dstream("show", "order", "-c", write(tmp_path), env=ENV)
    assert done.returncode == 2
    assert "no task named 'order'" in done.stderr


def test_list_shows_tasks_and_providers(tmp_path: Path) -> None:
    done = dstream("list", "--json", "-c", write(tmp_path), env=ENV)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks"] == [
        {
            "name": "orders",
            "input": {"kind": "path", "source": "dstream-counter"},
            "output": {"kind": "path", "source": "dstream-console"},
            "location": f"{tmp_path / 'dstream.hcl'}:6:1",
            "error": None,
            "error_location": None,
            "needs": None,
            "needs_location": None,
        }
    ]
    human = dstream("list", "-c", write(tmp_path), env=ENV)
    assert human.stdout.splitlines()[1].split() == ["orders", "dstream-counter", "dstream-console"]


def test_lint_passes_a_good_file(tmp_path: Path) -> None:
    # Providers of the original DStream describe no config schema: only the HCL is
    # checked (dstream-counter would refuse CONFIG's keys: tests/cli/test_provider_schema.py).
    for name in ("source", "sink"):
        executable(tmp_path / name, "#!/bin/sh\nexit 1\n")
    text = CONFIG.replace('"dstream-counter"', '"./source"').replace(
        '"dstream-console"', '"./sink"'
    )
    done = dstream("lint", "-c", write(tmp_path, text), env=ENV)
    assert done.returncode == 0, done.stderr
    assert "1 task(s), 0 error(s), 0 warning(s)" in done.stdout


def test_lint_reports_every_error_as_json(tmp_path: Path) -> None:
    broken = CONFIG.replace("local.tables }", "local.tabels }").replace(
        'provider_path = "dstream-counter"', 'provider_pth = "dstream-counter"'
    )
    done = dstream("lint", "--json", "-c", write(tmp_path, broken), env=ENV)
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["errors"] == 2
    found = {(d["line"], d["column"], d["message"]) for d in report["diagnostics"]}
    assert (8, 5, "unknown attribute 'provider_pth' in input of task \"orders\"") in found
    assert (21, 29, "undefined local value local.tabels") in found


def test_lint_without_value_for_required_variable_says_what_it_did_not_check(
    tmp_path: Path,
) -> None:
    """As `terraform validate`, lint needs no value (tests/config/test_values_not_needed.py);
    --strict fails on what it could not check."""
    done = dstream("lint", "-c", write(tmp_path), env={"CONN": "x"})
    assert done.returncode == 0, done.stderr
    assert "task 'orders' was not checked: " in done.stderr
    assert 'variable "db_password" has no value' in done.stderr
    assert "DSTREAM_VAR_db_password" in done.stderr
    assert dstream("lint", "--strict", "-c", write(tmp_path), env={"CONN": "x"}).returncode == 2


def test_lint_strict_fails_on_warnings(tmp_path: Path) -> None:
    text = 'task "t" {\n  lock_config = { type = "none" }\n'
    text += '  input { provider_path = "p" }\n  output { provider_path = "q" }\n}\n'
    path = write(tmp_path, text)
    assert dstream("lint", "-c", path).returncode == 0
    strict = dstream("lint", "--strict", "-c", path)
    assert strict.returncode == 2
    assert "warning: " in strict.stderr and "lock_config is ignored" in strict.stderr


MISSING_PROVIDERS = """\
task "t" {
  input  { provider_path = "./nope.sh" }
  output { provider_path = "dstream-nul" }
}
"""


def test_lint_lists_every_provider_run_cannot_find(tmp_path: Path) -> None:
    """`run` stops at the first (exit 2) and says lint lists them all: lint names each,
    at its file:line:col in run's own words. A warning, as lint checks the file and a
    CI machine need not have the providers installed; --strict fails on them."""
    path = write(tmp_path, MISSING_PROVIDERS)
    run = dstream("run", "-c", path)
    assert run.returncode == 2, run.stderr
    assert "1 more config problem(s): `dstream lint` lists them all" in run.stderr
    done = dstream("lint", "--json", "-c", path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    found = [(d["severity"], d["location"], d["message"]) for d in report["diagnostics"]]
    assert [(severity, where) for severity, where, _ in found] == [
        ("warning", f"{path}:2:3"),
        ("warning", f"{path}:3:3"),
    ]
    assert f"error: {found[0][1]}: {found[0][2]}" in run.stderr  # run's first, word for word
    assert found[1][2] == "output provider 'dstream-nul' was not found on PATH"
    assert "did you mean 'dstream-null'?" in report["diagnostics"][1]["hint"]
    strict = dstream("lint", "--strict", "-c", path)
    assert strict.returncode == 2
    assert "lint failed: 0 error(s), 2 warning(s)" in strict.stderr
    assert f"warning: {path}:2:3: input provider_path './nope.sh' does not exist" in strict.stderr


def test_a_directory_as_provider_path_is_said_as_one(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "plain.sh").write_text("#!/bin/sh\n")
    text = MISSING_PROVIDERS.replace("./nope.sh", "./adir").replace("dstream-nul", "./plain.sh")
    path = write(tmp_path, text)
    report = json.loads(dstream("lint", "--json", "-c", path).stdout)
    directory, plain = report["diagnostics"]
    assert directory["message"] == (
        f"input provider_path './adir' is a directory ({tmp_path / 'adir'}), not an executable"
    )
    assert "chmod" not in directory["hint"] and "./adir/" in directory["hint"]
    assert plain["message"] == f"output provider_path {tmp_path / 'plain.sh'} is not executable"
    assert plain["hint"] == f"chmod +x {tmp_path / 'plain.sh'}"
    run = dstream("run", "-c", path)
    assert run.returncode == 2 and "is a directory" in run.stderr and "chmod" not in run.stderr


def test_a_script_whose_interpreter_is_missing_is_said_as_one(tmp_path: Path) -> None:
    """exec of such a script fails with ENOENT, which read as if the script itself were
    missing ("setpriv: failed to execute ./in.sh: No such file or directory")."""
    executable(tmp_path / "in.sh", "#!/nonexistent/interp -x\necho hi\n")
    text = MISSING_PROVIDERS.replace("dstream-nul", "dstream-null")
    path = write(tmp_path, text.replace("./nope.sh", "./in.sh"))
    run = dstream("run", "-c", path)
    assert run.returncode == 2, run.stderr
    assert (
        "input provider './in.sh' is a script whose #! line names the interpreter "
        "/nonexistent/interp, which does not exist" in run.stderr
    )
    assert "setpriv" not in run.stderr


TEMPLATE_BROKEN = """\
task "a" {
  input {
    provider_path = "dstream-counter"
    config { tables = ["{{ env \\"UNSET_VAR_X\\" }}"] }
  }
  output { provider_path = "dstream-null" }
}
task "b" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def test_lint_counts_a_task_a_template_breaks_and_fails_on_it(tmp_path: Path) -> None:
    """The task loads alone when used (other tasks still run), but the file is not ok."""
    path = write(tmp_path, TEMPLATE_BROKEN)
    done = dstream("lint", "--json", "-c", path)
    assert done.returncode == 2, done.stdout
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["tasks"] == ["a", "b"]
    assert (report["errors"], report["warnings"]) == (1, 0)
    (error,) = report["diagnostics"]
    assert error["location"] == f"{path}:4:25"
    assert "environment variable UNSET_VAR_X is not set" in error["message"]
    assert "export UNSET_VAR_X=" in error["hint"]
    human = dstream("lint", "-c", path)
    assert human.returncode == 2 and "lint failed: 1 error(s), 0 warning(s)" in human.stderr
    assert f"error: {path}:4:25: environment variable UNSET_VAR_X" in human.stderr
    assert dstream("lint", "-c", path, env={"UNSET_VAR_X": "x"}).returncode == 0


def test_a_bad_task_name_is_refused_at_load_with_its_place(tmp_path: Path) -> None:
    """Not at run time with exit 1 (`invalid task name '' for the state store`, or the
    state directory's `File name too long` and a hint about permissions)."""
    text = MISSING_PROVIDERS.replace("./nope.sh", "dstream-counter").replace("-nul", "-null")
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    for name, reason in [
        ("", "a task name cannot be empty"),
        ("a" * 300, f"task name '{'a' * 37}...' is 300 bytes long, more than 64"),
        ("a\\tb", "task name 'a\\tb' holds the control character U+0009"),
    ]:
        path = write(tmp_path, text.replace('task "t"', f'task "{name}"'))
        for args in [("lint",), ("run", "--all"), ("state", "list")]:
            done = dstream(*args, "-c", path, env=env)
            assert done.returncode == 2, (args, done.stderr)
            assert f"{path}:1:6: {reason}" in done.stderr, (args, done.stderr)
            assert "Errno" not in done.stderr and "permissions" not in done.stderr


def test_a_terraform_style_variable_in_the_environment_is_named_in_the_hint(
    tmp_path: Path,
) -> None:
    """A Terraform user's `TF_VAR_db_password=...`: dstream reads DSTREAM_VAR_*, and its
    error says so by name (the value is never shown)."""
    done = dstream(
        "run", "orders", "-c", write(tmp_path), env={"CONN": "x", "TF_VAR_db_password": "hunter22"}
    )
    assert done.returncode == 2, done.stderr
    assert 'variable "db_password" has no value' in done.stderr
    assert "TF_VAR_db_password is set, but dstream reads DSTREAM_VAR_db_password" in done.stderr
    assert "hunter22" not in done.stdout + done.stderr


def test_a_terraform_var_file_beside_the_configuration_is_named_in_the_hint(
    tmp_path: Path,
) -> None:
    """A Terraform user's terraform.tfvars and *.auto.tfvars, which Terraform loads by
    itself and dstream does not: a variable left without a value names them, in
    Terraform's order, as the --var-file flags that give them (a path from the current
    directory), and says nothing of them when there are none or each is given already."""
    project = tmp_path / "project"
    project.mkdir()
    write(project)

    def show(*args: str) -> CliResult:
        return run_cli("show", "orders", "-c", "project", *args, cwd=tmp_path,
                       env={"CONN": "x"}, without="DSTREAM_")  # fmt: skip

    done = show()
    assert done.returncode == 2, done.stderr
    assert 'variable "db_password" has no value' in done.stderr
    assert "tfvars" not in done.stderr, done.stderr

    (project / "terraform.tfvars").write_text('db_password = "hunter22"\n')
    (project / "prod.auto.tfvars").write_text('db_password = "hunter22"\n')
    (project / "notes.tfvars").write_text("")  # not one Terraform loads by itself
    done = show()
    assert done.returncode == 2, done.stderr
    assert "terraform.tfvars, prod.auto.tfvars" in done.stderr, done.stderr
    wanted = "--var-file project/terraform.tfvars --var-file project/prod.auto.tfvars"
    assert wanted in done.stderr, done.stderr
    assert "notes.tfvars" not in done.stderr, done.stderr
    assert "hunter22" not in done.stdout + done.stderr

    (project / "prod.auto.tfvars").unlink()
    given = show("--var-file", str(project / "terraform.tfvars"))
    assert given.returncode == 0, given.stderr
    (project / "terraform.tfvars").write_text("")  # given, and sets nothing
    done = show("--var-file", "project/terraform.tfvars")
    assert done.returncode == 2, done.stderr
    assert 'variable "db_password" has no value' in done.stderr
    assert "tfvars" not in done.stderr.split("hint:")[1], done.stderr
