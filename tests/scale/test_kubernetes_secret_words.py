"""`dstream deploy kubernetes` and a sensitive value that is also text of the manifests:
the backstop refuses manifests that would hold a value dstream masks (written masked
they would be wrong, written as they are a leak), but a secret that is a task's name
is no secret the manifests could keep (they name the task's Deployment, its label and
its pod's arguments by it): those deploy. Any other is refused, naming which value (by
its variable, never the value) and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

CONFIG = """
variable "pw" {
  sensitive = true
}
state {
  backend = "postgres"
  dsn     = "postgresql://app:${var.pw}@db/s"
}
task "orders" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.config(CONFIG)
    return ws


@pytest.mark.parametrize("shape", [[], ["--agents", "2"]], ids=["tasks", "agents"])
def test_a_sensitive_value_that_is_a_task_name_deploys(ws: Workspace, shape: list[str]) -> None:
    items = manifests(deploy(ws, "--json", *shape, env={"DSTREAM_VAR_pw": "orders"}))
    assert 'task "orders"' in items[0]["data"]["dstream.hcl"]  # the files as written
    if not shape:
        assert items[1]["metadata"]["name"] == "dstream-orders"
        assert items[1]["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "orders"
    yaml = deploy(ws, *shape, env={"DSTREAM_VAR_pw": "orders"})
    assert yaml.returncode == 0, yaml.stderr
    assert "***" not in yaml.stdout and 'task \\"orders\\"' in yaml.stdout


def test_a_sensitive_value_that_is_other_text_of_the_files_is_refused_by_name(
    ws: Workspace,
) -> None:
    done = deploy(ws, env={"DSTREAM_VAR_pw": "counter"})  # in "dstream-counter"
    assert done.returncode == 2, done.stdout + done.stderr
    assert not done.stdout
    assert 'data["dstream.hcl"] holds the value of var.pw (sensitive)' in done.stderr
    assert "DSTREAM_VAR_pw" in done.stderr and "hint:" in done.stderr, done.stderr


def test_a_credential_of_the_environment_that_is_text_of_the_files_is_refused_by_name(
    ws: Workspace,
) -> None:
    done = deploy(ws, env={"DB_PASSWORD": "@db/s"})  # the end of the dsn
    assert done.returncode == 2, done.stdout + done.stderr
    assert not done.stdout
    assert "@db/s" not in done.stderr
    assert "holds the value of the environment variable DB_PASSWORD" in done.stderr
    assert "hint:" in done.stderr, done.stderr


URL_CONFIG = """
variable "mq" {
  type = string
}
state {
  backend = "postgres"
  dsn     = "postgresql://app@db/s"
}
task "orders" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-rabbitmq"
    config {
      url = var.mq
    }
  }
}
task "literal" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-rabbitmq"
    config {
      url = "amqp://app:LiteralPw123@mq:5672/%2F"
    }
  }
}
"""


def test_a_password_given_to_a_variable_not_sensitive_is_refused_naming_the_variable(
    tmp_path: Path,
) -> None:
    """A URL's password given to a variable that is not sensitive: the refusal named no
    variable ("holds a value dstream masks as one") and its hint spoke of renaming an
    environment variable; the value is never in the output."""
    ws = Workspace(tmp_path)
    ws.config(URL_CONFIG.replace('      url = "amqp://app:LiteralPw123@mq:5672/%2F"', ""))
    done = deploy(ws, "--var", "mq=amqp://u:VarPw999@h/")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "VarPw999" not in done.stdout + done.stderr
    assert 'data["variables.json"] holds the value of var.mq' in done.stderr, done.stderr
    assert "sensitive = true" in done.stderr and "rename" not in done.stderr, done.stderr


def test_a_password_written_in_the_files_is_refused_naming_its_line(tmp_path: Path) -> None:
    """A password literal in dstream.hcl: the refusal now says where it is (file:line)."""
    ws = Workspace(tmp_path)
    lines = ws.config(URL_CONFIG).read_text().splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if "LiteralPw123" in text)
    done = deploy(ws, "--var", "mq=amqp://h/")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "LiteralPw123" not in done.stdout + done.stderr
    assert f"dstream.hcl:{line}" in done.stderr, done.stderr
    assert "sensitive variable" in done.stderr and "rename" not in done.stderr, done.stderr
