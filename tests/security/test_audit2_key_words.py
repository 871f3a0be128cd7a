"""Second secrets audit, item 1: a key whose last word says its value is *about* a
credential (its name, URL, path, type, lifetime, size, switch) holds none, though a
credential word comes before (`secret_name`, `TOKEN_URL`, `password_file`): masking it
mangled normal output, even a task's name. Credential keys stay secret."""

from __future__ import annotations

import pytest

from dstream.config.connstr import is_secret_key
from tests.workspace import Workspace

ABOUT_A_CREDENTIAL = [
    "secret_name",
    "AWS_SECRET_NAME",
    "KEYVAULT_SECRET_NAME",
    "SECRET_ARN",
    "TOKEN_URL",
    "tokenUri",
    "token_endpoint",
    "PASSWORD_POLICY",
    "TOKEN_CACHE_DIR",
    "password_path",
    "password_file",
    "PASSWORD_AUTH_ENABLED",
    "token_required",
    "token_type",
    "TOKEN_TYPE",
    "session_token_ttl",
    "token_bucket_size",
    "credential_mode",
    "credentials_method",
    "token_expiry",
    "token_expires",
    "password_min_length",
    "secret_count",
    "token_format",
]
CREDENTIALS = [
    "client_secret",
    "DB_PASSWORD",
    "access_token",
    "secretAccessKey",
    "github_token",
    "password",
    "credentials",
    "connectionString",
    "AWS_SECRET_ACCESS_KEY",
    "secret_id",  # Vault AppRole's credential
    "token_header",  # the header's value, as auth_header
    "session_token",
]


@pytest.mark.parametrize("name", ABOUT_A_CREDENTIAL)
def test_a_key_about_a_credential_is_no_secret(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize("name", CREDENTIALS)
def test_a_credential_key_stays_secret(name: str) -> None:
    assert is_secret_key(name)


CONFIG = """
task "orders" {
  input {
    provider_path = "./p.py"
    config {
      secret_name   = "orders"
      token_type    = "Bearer"
      client_secret = "Cl1entS3cretValue"
    }
    env = { TOKEN_URL = "https://login.example.com/oauth2/token" }
  }
  output { provider_path = "dstream-null" }
}
"""

PROVIDER = r"""
import json, os, sys
config = json.loads(sys.stdin.readline())["config"]
sys.stderr.write("fetching " + config["secret_name"] + " as " + config["token_type"]
                 + " from " + os.environ["TOKEN_URL"] + " with " + config["client_secret"] + "\n")
sys.stderr.flush()
sys.exit(3)
"""


def test_a_task_named_as_a_secret_name_is_shown(ws: Workspace) -> None:
    ws.python_script("p.py", PROVIDER)
    ws.config(CONFIG)
    shown = [ws.run(*args) for args in (("show", "orders"), ("run", "orders"))]
    text = "\n".join(done.stdout + done.stderr for done in shown)
    assert shown[1].returncode == 1, text
    assert '"name": "orders"' in shown[0].stdout, shown[0].stdout  # the task's name
    assert '"secret_name": "orders"' in shown[0].stdout, shown[0].stdout
    assert "task orders: failed" in shown[1].stderr, shown[1].stderr
    assert "fetching orders as Bearer from https://login.example.com/oauth2/token" in text, text
    assert "Cl1entS3cretValue" not in text
