"""The "Secrets" reproductions of issue 17, one test each, as real processes: the
sensitive value itself (no derivation, no encoding) reached these channels."""

from __future__ import annotations

import json

import pytest

from tests.security.test_secret_canary import BAD_CONFIG
from tests.workspace import Workspace

SECRET = "hunter2-reproduction"

# Prints a DSN with the password on stderr, as free text and as a structured record,
# then answers the lifecycle command (its result quotes the DSN) or fails a run.
PROVIDER = r"""
import json, os, sys
if os.environ.get("DSTREAM_DESCRIBE") == "1":  # described without a command (protocol 2)
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
    sys.exit(0)
cmd = json.loads(sys.stdin.readline())
dsn = cmd["config"]["dsn"]
sys.stderr.write("connected to " + dsn + "\n")
sys.stderr.write(json.dumps({"level": "warn", "msg": "slow", "dsn": dsn}) + "\n")
sys.stderr.flush()
if cmd["command"] == "run":
    sys.exit(3)
print(json.dumps({"status": "ready", "features": ["lifecycle"]}), flush=True)
failed = cmd["command"] == "init"
print(json.dumps({
    "status": "Failed" if failed else "Success",
    "resources": [{"type": "db", "name": "main", "exists": True, "details": {"dsn": dsn}}],
    "message": "using " + dsn, "error": "denied: " + dsn if failed else None,
}), flush=True)
"""

CONFIG = """
variable "pw" {
  sensitive = true
}
task "t" {
  input {
    provider_path = "./p.py"
    config { dsn = "postgresql://app:${var.pw}@db/app" }
  }
  output { provider_path = "dstream-null" }
}
"""


@pytest.fixture
def secret_ws(ws: Workspace) -> Workspace:
    ws.python_script("p.py", PROVIDER)
    ws.config(CONFIG)
    ws.env["DSTREAM_VAR_pw"] = SECRET
    return ws


@pytest.mark.parametrize("command", ["plan", "init", "status"])
def test_lifecycle_commands_redact_provider_stderr_and_results(
    secret_ws: Workspace, command: str
) -> None:
    for args in ((command, "t"), (command, "t", "--json")):
        done = secret_ws.run(*args)
        # the DSN is computed from the secret: sensitive as a whole (Terraform's rule)
        assert "connected to ***" in done.stdout + done.stderr, done.stderr
        assert SECRET not in done.stdout + done.stderr, f"{args}: {done.stdout}{done.stderr}"


def test_structured_provider_log_fields_are_redacted(secret_ws: Workspace) -> None:
    for fmt in ("text", "json"):
        done = secret_ws.run("run", "t", "--log-format", fmt)
        assert done.returncode == 1
        assert "slow" in done.stderr
        assert SECRET not in done.stderr, done.stderr


def test_a_failed_providers_quoted_stderr_and_json_tail_are_redacted(
    secret_ws: Workspace,
) -> None:
    done = secret_ws.run("run", "t")
    assert done.returncode == 1 and "connected to ***" in done.stderr
    assert SECRET not in done.stderr
    code, doc, stderr = secret_ws.run_json("run", "t")
    assert code == 1
    tail = doc["tasks"][0]["error"]["stderr_tail"]
    assert "connected to ***" in tail
    assert SECRET not in json.dumps(doc) + stderr


def test_lint_says_the_type_of_a_wrong_sensitive_value_never_the_value(ws: Workspace) -> None:
    ws.config(BAD_CONFIG)  # a number variable, sensitive
    for args in (("lint",), ("lint", "--json"), ("show", "t")):
        done = ws.run(*args, env={"DSTREAM_VAR_pin": "pin-31337-x"})
        assert done.returncode == 2
        assert "has type number" in done.stdout + done.stderr
        assert "a string" in done.stdout + done.stderr
        assert "31337" not in done.stdout + done.stderr, done.stdout + done.stderr


ENV_CONFIG = """
task "t" {
  input {
    provider_path = "./p.py"
    config {
      dsn   = "postgresql://app:${upper(env("APP_PASSWORD"))}@db/app"
      label = lower(env("APP_PASSWORD"))
    }
  }
  output { provider_path = "dstream-null" }
}
"""


def test_a_var_files_value_computed_from_a_secret_of_the_environment_is_masked(
    ws: Workspace,
) -> None:
    """A var file's env() is read with the configuration's own marks: upper() of a
    credential there is as secret as in dstream.hcl."""
    ws.config(
        'variable "label" { type = string }\n'
        'task "t" {\n  input {\n    provider_path = "dstream-counter"\n'
        "    config { tables = [var.label] }\n  }\n"
        '  output { provider_path = "dstream-null" }\n}\n'
    )
    (ws.root / "prod.vars").write_text('label = upper(env("APP_PASSWORD"))\n')
    ws.env["APP_PASSWORD"] = "Hunter2-From-Env"
    code, doc, _ = ws.run_json("show", "t", "--var-file", "prod.vars")
    assert code == 0 and doc["input"]["config"]["tables"] == ["***"], doc


def test_values_computed_from_a_secret_of_the_environment_are_masked(ws: Workspace) -> None:
    """A credential read with env() taints what is computed from it, as a sensitive
    variable does: neither the upper- nor the lower-cased password shows anywhere."""
    ws.python_script("p.py", PROVIDER)
    ws.config(ENV_CONFIG)
    ws.env["APP_PASSWORD"] = "Hunter2-From-Env"
    code, doc, _ = ws.run_json("show", "t")
    assert code == 0 and doc["input"]["config"]["label"] == "***", doc
    for args in (("show", "t"), ("plan", "t"), ("run", "t"), ("run", "t", "--json")):
        done = ws.run(*args)
        said = done.stdout + done.stderr
        assert "hunter2" not in said.lower(), f"{args}: {said}"
        assert args[0] == "show" or "connected to ***" in said, f"{args}: {said}"
