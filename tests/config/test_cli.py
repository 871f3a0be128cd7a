"""`dstream lint`, `list` and `show` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from tests.workspace import CliResult
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
        }
    ]
    human = dstream("list", "-c", write(tmp_path), env=ENV)
    assert human.stdout.splitlines()[1].split() == ["orders", "dstream-counter", "dstream-console"]


def test_lint_passes_a_good_file(tmp_path: Path) -> None:
    # Providers not installed here describe no config schema: only the HCL is checked
    # (dstream-counter would refuse CONFIG's keys: tests/cli/test_provider_schema.py).
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


def test_lint_without_value_for_required_variable_fails(tmp_path: Path) -> None:
    done = dstream("lint", "-c", write(tmp_path), env={"CONN": "x"})
    assert done.returncode == 2
    assert 'variable "db_password" has no value' in done.stderr
    assert "DSTREAM_VAR_db_password" in done.stderr


def test_lint_strict_fails_on_warnings(tmp_path: Path) -> None:
    text = 'task "t" {\n  lock_config = { type = "none" }\n'
    text += '  input { provider_path = "p" }\n  output { provider_path = "q" }\n}\n'
    path = write(tmp_path, text)
    assert dstream("lint", "-c", path).returncode == 0
    strict = dstream("lint", "--strict", "-c", path)
    assert strict.returncode == 2
    assert "warning: " in strict.stderr and "lock_config is ignored" in strict.stderr
