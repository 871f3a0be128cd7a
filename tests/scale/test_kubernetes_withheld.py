"""`dstream deploy kubernetes` refuses a secret only when the manifests would hold it: a
value the configuration reads with env() is read again by each pod from its own
environment (the ConfigMap holds `env("NAME")`)."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import CliResult, Workspace

PASSWORD = "Hunter2Pw-env"
URL = f"postgresql://app:{PASSWORD}@db/streams"
TASK = """
task "t" {
  input {
    provider_path = "dstream-counter"
    %s
  }
  output { provider_path = "dstream-null" }
}
"""


def test_a_dsn_read_with_env_deploys_with_a_note(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.config('state {\n  backend = "postgres"\n  dsn = env("DATABASE_URL")\n}\n' + TASK % "")
    done = deploy(ws, "--json", env={"DATABASE_URL": URL})
    items = manifests(done)
    assert PASSWORD not in orjson.dumps(items).decode() + done.stderr
    assert "reads DATABASE_URL from the environment" in done.stderr, done.stderr


def test_a_provider_secret_read_with_env_deploys(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    state = 'state {\n  backend = "postgres"\n  dsn = "postgresql://app@db/s"\n}\n'
    ws.config(state + TASK % 'env = { PGPASSWORD = env("PGPW") }')
    done = deploy(ws, "--json", env={"PGPW": PASSWORD})
    assert PASSWORD not in orjson.dumps(manifests(done)).decode() + done.stderr
    assert "reads PGPW from the environment" in done.stderr, done.stderr


def test_a_var_file_reading_env_is_still_refused(tmp_path: Path) -> None:
    """A var file is evaluated by deploy and its values written into the ConfigMap."""
    ws = Workspace(tmp_path)
    ws.config(
        'variable "state_dsn" { type = string }\n'
        'state {\n  backend = "postgres"\n  dsn = var.state_dsn\n}\n' + TASK % ""
    )
    (ws.root / "prod.vars").write_text('state_dsn = env("DATABASE_URL")\n')
    done = deploy(ws, "--var-file", "prod.vars", env={"DATABASE_URL": URL})
    assert done.returncode == 2, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "the state dsn holds a password" in done.stderr, done.stderr


def refused(done: CliResult, secret: str, what: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{what} holds a" in done.stderr, done.stderr
    assert f":{secret}@" not in done.stdout + done.stderr


def test_a_literal_password_is_refused_though_an_env_value_holds_its_text(
    tmp_path: Path,
) -> None:
    """Where the password comes from is told by the expression, not by which values
    happen to hold its text: PGUSER=postgres does not make a literal `postgres` read."""
    ws = Workspace(tmp_path)
    dsn = 'postgresql://${env("PGUSER")}:postgres@db:5432/x'
    ws.config(f'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n}}\n' + TASK % "")
    refused(deploy(ws, env={"PGUSER": "postgres"}), "postgres", "the state dsn")


def test_a_literal_password_is_refused_though_a_provider_env_value_holds_it(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    state = 'state {\n  backend = "postgres"\n  dsn = "postgresql://app:Hunter2@db:5432/x"\n}\n'
    ws.config(state + TASK % 'env = { PGHOST = env("PGHOST") }')
    refused(deploy(ws, env={"PGHOST": "Hunter2-db.internal"}), "Hunter2", "the state dsn")


def test_a_literal_provider_secret_is_refused_though_an_env_value_holds_it(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    state = 'state {\n  backend = "postgres"\n  dsn = "postgresql://app@db/s"\n}\n'
    ws.config(state + TASK % 'env = { PGPASSWORD = "Hunter2", PGHOST = env("PGHOST") }')
    done = deploy(ws, env={"PGHOST": "Hunter2-db.internal"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'task "t" input env.PGPASSWORD holds a secret' in done.stderr, done.stderr


def test_a_literal_password_is_refused_though_a_sensitive_value_holds_its_text(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    dsn = "postgresql://app:Hunter2@${var.host}/x"
    variable = 'variable "host" {\n  sensitive = true\n}\n'
    ws.config(variable + f'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n}}\n' + TASK % "")
    done = deploy(ws, env={"DSTREAM_VAR_host": "Hunter2-db.internal"})
    refused(done, "Hunter2", "the state dsn")


def test_a_password_read_with_env_in_a_dsn_template_deploys_with_a_note(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    dsn = 'postgresql://app:${env("PGPASSWORD")}@db/x'
    ws.config(f'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n}}\n' + TASK % "")
    done = deploy(ws, "--json", env={"PGPASSWORD": PASSWORD})
    assert PASSWORD not in orjson.dumps(manifests(done)).decode() + done.stderr
    assert "reads PGPASSWORD from the environment" in done.stderr, done.stderr


def test_a_password_of_a_sensitive_variable_in_a_dsn_template_deploys(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    dsn = "postgresql://app:${upper(var.pw)}@db/x"
    variable = 'variable "pw" {\n  sensitive = true\n}\n'
    ws.config(variable + f'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n}}\n' + TASK % "")
    for env in ({}, {"DSTREAM_VAR_pw": PASSWORD}):
        done = deploy(ws, "--json", env=env)
        assert PASSWORD.upper() not in orjson.dumps(manifests(done)).decode() + done.stderr
