"""What `dstream show` masks by its key (password, token, dsn, *_key, ...), and the
password of a URL under any key, every other channel masks too: a provider echoing its
config or environment (run, plan, --json, the logs in either format) shows `***` where
`show` does, not only for values given by a sensitive variable. The key rule is
`is_secret_key`, the one `show` applies."""

from __future__ import annotations

import json

import pytest

from tests.workspace import Workspace

LITERAL = "Literal-Pw-4711"
TOKEN = "Tok3n-Value-2342"
ENV_PASSWORD = "Env-Pw-1234"
URL_PASSWORD = "Url-Pw-0815"
DATABASE_URL = f"postgresql://app:{URL_PASSWORD}@db.internal/app"
ACCESS_KEY = "c2hhcmVkLWFjY2Vzcy1rZXk="  # in a connection string with no password
SERVICE_BUS = (
    "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;"
    f"SharedAccessKey={ACCESS_KEY}"
)
AMQP_PASSWORD = "Amqp-Pw-9911"  # in a URL under a key that names no secret
SECRETS = [LITERAL, TOKEN, ENV_PASSWORD, URL_PASSWORD, ACCESS_KEY, AMQP_PASSWORD]

# Prints what it was given (its command line, its environment's PGPASSWORD, the DSN's
# password alone), as free text and as a structured record, then fails (run) or
# answers the lifecycle command with the same in its result.
SPY = r"""
import json, os, sys
from urllib.parse import urlsplit
if os.environ.get("DSTREAM_DESCRIBE") == "1":
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
    sys.exit(0)
line = sys.stdin.readline()
cmd = json.loads(line)
said = [line.strip(), "PGPASSWORD=" + os.environ.get("PGPASSWORD", ""),
        "password of the dsn: " + str(urlsplit(cmd["config"]["dsn"]).password)]
for text in said:
    sys.stderr.write(text + "\n")
sys.stderr.write(json.dumps({"level": "warn", "msg": "given", "config": cmd["config"]}) + "\n")
sys.stderr.flush()
if cmd["command"] == "run":
    sys.exit(1)
print(json.dumps({"status": "ready", "features": ["lifecycle"]}), flush=True)
print(json.dumps({"status": "Success", "message": " | ".join(said),
                  "resources": [{"type": "db", "name": "x", "exists": True,
                                 "details": cmd["config"]}]}), flush=True)
"""
CONFIG = f"""
task "t" {{
  input {{
    provider_path = "./spy.py"
    config {{
      host        = "db.internal"
      password    = "{LITERAL}"
      dsn         = env("DATABASE_URL")
      replica_dsn = "postgresql://app@replica.internal/app"
      bus_connection_string = "{SERVICE_BUS}"
      auth        = {{ token = "{TOKEN}" }}
      broker      = "amqp://guest:{AMQP_PASSWORD}@mq.internal:5672/"
    }}
    env = {{ PGPASSWORD = "{ENV_PASSWORD}" }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""

COMMANDS = {
    "run": ("run", "t"),
    "run --json": ("run", "t", "--json"),
    "run -f json": ("run", "t", "-f", "json", "-l", "debug"),
    "plan": ("plan", "t"),
    "plan --json": ("plan", "t", "--json"),
}


@pytest.fixture
def spy_ws(ws: Workspace) -> Workspace:
    ws.python_script("spy.py", SPY)
    ws.config(CONFIG)
    ws.env["DATABASE_URL"] = DATABASE_URL
    return ws


def test_show_masks_them(spy_ws: Workspace) -> None:
    done = spy_ws.run("show", "t")
    assert done.returncode == 0, done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout, done.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_provider_echoing_them_shows_stars(spy_ws: Workspace, command: str) -> None:
    done = spy_ws.run(*COMMANDS[command])
    said = done.stdout + done.stderr
    assert done.returncode == (1 if command.startswith("run") else 0), said
    assert "db.internal" in said, said  # the provider's echo is there
    for secret in SECRETS:
        assert secret not in said, f"{secret} in: {said}"
        assert json.dumps(secret)[1:-1] not in said
    assert "PGPASSWORD=***" in said, said
    assert "password of the dsn: ***" in said, said


@pytest.mark.timeout(120)
def test_a_connection_string_without_a_password_is_shown_as_written(spy_ws: Workspace) -> None:
    """It holds no secret: masking it would only hide where the provider connects."""
    done = spy_ws.run("run", "t")
    assert "postgresql://app@replica.internal/app" in done.stderr, done.stderr
