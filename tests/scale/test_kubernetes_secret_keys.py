"""`dstream deploy kubernetes` refuses a provider's secret in clear text as it refuses the
state DSN's password: a value under a secret-looking key (a provider's `env` such as
TOKEN or PGPASSWORD, a `password` or `dsn` in its config; the keys `dstream show`
masks) written in the files or given by a variable that is not sensitive would be in
the ConfigMap. The error names where it was written and how to give it instead."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.scale.test_kubernetes_variables import container, deploy, manifests
from tests.workspace import Workspace

SECRET = "Pr0vider-S3cret-77"
STATE = 'state {\n  backend = "postgres"\n  dsn = "postgresql://app@db/streams"\n}\n'
TASK = """
task "t" {
  input {
    provider_path = "dstream-counter"
    %s
  }
  output { provider_path = "dstream-null" }
}
"""
# Where the secret is written -> that line, what the error calls it, and where it says it
# is: the value in a config, the provider block for an env entry.
PLACES = {
    "env": (f'env = {{ TOKEN = "{SECRET}" }}', 'task "t" input env.TOKEN', "dstream.hcl:7:3"),
    "env PGPASSWORD": (
        f'env = {{ PGPASSWORD = "{SECRET}" }}',
        'task "t" input env.PGPASSWORD',
        "dstream.hcl:7:3",
    ),
    "config password": (
        f'config {{ password = "{SECRET}" }}',
        'task "t" input config.password',
        "dstream.hcl:9:25",
    ),
    "config nested": (
        f'config {{ auth = {{ api_key = "{SECRET}" }} }}',
        'task "t" input config.auth.api_key',
        "dstream.hcl:9:33",
    ),
    "config connection string": (
        f'config {{ connection_string = "Endpoint=sb://ns/;SharedAccessKey={SECRET}" }}',
        'task "t" input config.connection_string',
        "dstream.hcl:9:34",
    ),
    "config dsn": (
        f'config {{ dsn = "postgresql://app:{SECRET}@db/app" }}',
        'task "t" input config.dsn',
        "dstream.hcl:9:20",
    ),
}


def write(ws: Workspace, line: str, head: str = "") -> None:
    ws.config(head + STATE + TASK % line)


@pytest.mark.parametrize("json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_literal_secret_of_a_provider_is_refused(tmp_path: Path, place: str, json: bool) -> None:
    ws = Workspace(tmp_path)
    line, named, where = PLACES[place]
    write(ws, line)
    done = deploy(ws, *(["--json"] if json else []))
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert SECRET not in said, said
    text = str(orjson.loads(done.stdout)) if json else done.stderr
    assert named in text, text
    assert where in text, text
    assert "sensitive = true" in text and 'Secret "dstream-secrets"' in text, text  # the hint


def test_a_secret_given_by_a_variable_not_sensitive_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write(ws, "env = { TOKEN = var.token }", head='variable "token" { type = string }\n')
    done = deploy(ws, "--var", f"token={SECRET}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert 'task "t" input env.TOKEN' in done.stderr, done.stderr


def test_a_secret_from_a_sensitive_variable_is_a_secret_reference(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write(ws, "env = { TOKEN = var.token }", head='variable "token" {\n  sensitive = true\n}\n')
    items = manifests(deploy(ws, "--json", env={"DSTREAM_VAR_token": SECRET}))
    assert SECRET not in orjson.dumps(items).decode()
    assert "DSTREAM_VAR_token" in [e["name"] for e in container(items)["env"]]


@pytest.mark.parametrize(
    "line",
    [
        'config { dsn = "postgresql://app@db/app" }',  # a dsn without a password
        'config { password_required = "true" }',  # a switch: no secret
        "config { token_ttl = 3600 }",  # a number: no secret either
        'config { password = "" }',  # empty: no secret
        'env = { PGPASSWORD = "" }',
    ],
    ids=["dsn-without-password", "switch", "number", "empty-password", "empty-env"],
)
def test_what_holds_no_secret_deploys(tmp_path: Path, line: str) -> None:
    ws = Workspace(tmp_path)
    write(ws, line)
    manifests(deploy(ws, "--json"))
