"""The secret canary (issue 17): a sensitive variable, a registry password and
GITHUB_TOKEN hold canaries; every command is run as a real process, at debug level,
and neither its output nor any file it leaves under the workspace holds a canary, a
value derived from one, or a common encoding of either. The providers dump what they
were given (config on stderr, environment to a file outside the workspace) and fail
where a failure quotes them back. The registry password is also used: against a real
registry that wants basic auth, it is the wrong one, and the refusal shows it nowhere."""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import pytest

from dstream.oci.manifest import current_platform
from tests.containers import Registry
from tests.providers import SHELL_COUNTING_INPUT
from tests.workspace import CliResult, Workspace, executable

PW = "cnry" + secrets.token_hex(10)  # lower case: upper() of it is a different text
REGISTRY_PASSWORD = "regcnry" + secrets.token_hex(10)
GITHUB_TOKEN = "ghp_cnry" + secrets.token_hex(10)
PIN = "pincnry" + secrets.token_hex(6)  # given to a number variable: a type error

CANARY_ENV = {
    "DSTREAM_VAR_pw": PW,
    "DSTREAM_REGISTRY_USERNAME": "robot",
    "DSTREAM_REGISTRY_PASSWORD": REGISTRY_PASSWORD,
    "GITHUB_TOKEN": GITHUB_TOKEN,
}

# What a provider may find in its environment (docs/security.md, "The provider
# environment"), plus the one name the task's env map adds.
DOCUMENTED = {
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
}  # fmt: skip
# The protocol variables: exactly those docs/protocol.md section 1 lists in its table.
DOCUMENTED |= set(
    re.findall(
        r"^\| `(DSTREAM_[A-Z_]+)` \|",
        (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(),
        re.M,
    )
)
TASK_ENV = {"PROVIDER_MODE"}

PROVIDER = r"""
import base64, json, os, sys, time
if os.environ.get("DSTREAM_DESCRIBE") == "1":  # described without a command (protocol 2)
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
    sys.exit(0)
cmd = json.loads(sys.stdin.readline())
cfg, role, command = cmd["config"], cmd["role"], cmd["command"]
env = dict(os.environ)
dumped = os.path.join(cfg["dump_dir"], role + "-" + command + ".json")
with open(dumped + ".part", "w") as out:
    json.dump(env, out)
os.replace(dumped + ".part", dumped)  # whole when seen (the input waits for one)
dsn = cfg["target"]
encoded = base64.b64encode(cfg["password"].encode()).decode()
sys.stderr.write("config: " + json.dumps(cmd) + "\n")
sys.stderr.write("environment: " + json.dumps(env) + "\n")
record = {"level": "info", "msg": "connecting to " + dsn, "dsn": dsn, "b64": encoded}
sys.stderr.write(json.dumps(record) + "\n")
sys.stderr.write(json.dumps({"level": "debug", "msg": "auth " + encoded}) + "\n")
sys.stderr.flush()
if command == "run":
    if role == "input":
        # dstream starts both providers, then kills the output when the input fails:
        # the output's dump is waited for, so that what it was given is checked too.
        seen = os.path.join(cfg["dump_dir"], "output-run.json")
        for _ in range(600):
            if os.path.exists(seen):
                break
            time.sleep(0.05)
        print(json.dumps({"status": "error", "message": "cannot connect to " + dsn}), flush=True)
        sys.exit(1)
    print(json.dumps({"status": "ready"}), flush=True)
    sys.stdin.read()
    sys.exit(0)
print(json.dumps({"status": "ready", "features": ["lifecycle"]}), flush=True)
failed = command == "init"
print(json.dumps({
    "status": "Failed" if failed else "Success",
    "resources": [{"type": "db", "name": "main", "exists": True, "details": {"dsn": dsn}}],
    "changes": [] if command == "status" else
        [{"action": "create", "type": "db", "name": dsn, "reason": "reach " + dsn}],
    "metadata": {"dsn": dsn, "b64": encoded},
    "message": "using " + dsn,
    "error": "denied for " + dsn + " " + encoded if failed else None,
}), flush=True)
sys.stderr.write("finished " + command + " as " + cfg["shout"] + "\n")
sys.exit(1 if failed else 0)
"""

PROVIDER_BLOCK = """
    provider_path = "./p.py"
    env = { PROVIDER_MODE = "canary" }
    config {
      target   = local.dsn
      password = var.pw
      shout    = upper(var.pw)
      swapped  = replace(var.pw, "cnry", "yrnc")
      quoted   = jsonencode({ secret = var.pw })
      pieces   = split("y", var.pw)
      dump_dir = "DUMPS"
    }
"""

CONFIG = """
variable "pw" {
  type      = string
  sensitive = true
}
locals {
  dsn = format("postgresql://app:%s@db.example:5432/app", var.pw)
}
task "t" {
  input {PROVIDER}
  output {PROVIDER}
}
"""

BAD_CONFIG = """
variable "pin" {
  type      = number
  sensitive = true
}
task "t" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def forms(secret: str) -> list[str]:
    """The canary as written, derived as the config derives it, and encoded."""
    raw = secret.encode()
    return [
        secret,
        secret.upper(),
        secret.replace("cnry", "yrnc"),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    ]


FORBIDDEN = [f for s in (PW, REGISTRY_PASSWORD, GITHUB_TOKEN, PIN) for f in forms(s)]
FORBIDDEN.append(PW[4:])  # split("y", var.pw) yields it: derived, so secret too


def assert_clean(what: str, text: str) -> None:
    for form in FORBIDDEN:
        assert form not in text, f"{what} shows a canary form {form!r}:\n{text}"


@pytest.fixture
def dumps(tmp_path: Path) -> Path:
    path = tmp_path / "dumps"
    path.mkdir()
    return path


@pytest.fixture
def canary_ws(ws: Workspace, dumps: Path) -> Workspace:
    ws.python_script("p.py", PROVIDER)
    block = PROVIDER_BLOCK.replace("DUMPS", str(dumps))
    ws.config(CONFIG.replace("{PROVIDER}", "{" + block + "}"))
    (ws.root / "bad.hcl").write_text(BAD_CONFIG)
    ws.env.update(CANARY_ENV)
    # State and crash reports under the workspace, where the test reads every file.
    ws.env["XDG_STATE_HOME"] = str(ws.root / "xdg-state")
    return ws


def run(ws: Workspace, *args: str, code: int, env: dict[str, str] | None = None) -> CliResult:
    done = ws.run(args[0], "--log-level", "debug", *args[1:], env=env)
    label = "dstream " + " ".join(args)
    assert done.returncode == code, f"{label}: exit {done.returncode}\n{done.stderr}"
    assert_clean(label + " (stdout)", done.stdout)
    assert_clean(label + " (stderr)", done.stderr)
    return done


def test_no_command_shows_a_canary_and_no_file_holds_one(canary_ws: Workspace, dumps: Path) -> None:
    ws = canary_ws
    shown = run(ws, "show", "t", code=0)
    assert '"target": "***"' in shown.stdout  # the show did show the task
    run(ws, "show", "t", "--json", code=0)
    run(ws, "lint", code=0)
    run(ws, "lint", "--json", code=0)

    pin = {"DSTREAM_VAR_pin": PIN}
    typed = run(ws, "lint", "-c", "bad.hcl", code=2, env=pin)
    assert 'variable "pin" has type number' in typed.stderr
    run(ws, "lint", "-c", "bad.hcl", "--json", code=2, env=pin)
    run(ws, "show", "t", "-c", "bad.hcl", code=2, env=pin)

    planned = run(ws, "plan", "t", code=0)
    assert "***" in planned.stdout + planned.stderr  # the provider's words, redacted
    run(ws, "plan", "t", "--json", code=0)
    run(ws, "plan", "t", "--log-format", "json", code=0)
    failed = run(ws, "init", "t", code=1)
    assert "denied for ***" in failed.stderr
    run(ws, "init", "t", "--json", code=1)
    run(ws, "status", "t", code=0)
    run(ws, "status", "t", "--json", code=0)

    stream = run(ws, "run", "t", code=1)
    assert "cannot connect to ***" in stream.stderr
    run(ws, "run", "t", "--json", code=1)
    run(ws, "run", "t", "--log-format", "json", code=1)

    run(ws, "destroy", "t", "--auto-approve", code=0)
    run(ws, "destroy", "t", "--auto-approve", "--json", code=0)

    run(ws, "state", "set", "t", '{"position": 7}', code=0)
    run(ws, "state", "list", code=0)
    run(ws, "state", "show", "t", code=0)
    run(ws, "state", "show", "t", "--json", code=0)
    run(ws, "state", "reset", "t", code=0)

    files = [p for p in ws.root.rglob("*") if p.is_file()]
    assert any("xdg-state" in p.parts for p in files), "the state store wrote nothing"
    for path in files:
        assert_clean(str(path), path.read_bytes().decode("utf-8", "replace"))

    dumped = sorted(p.name for p in dumps.iterdir())
    assert "input-plan.json" in dumped and "output-run.json" in dumped, dumped
    for path in dumps.iterdir():
        env = json.loads(path.read_text())
        extra = {k for k in env if k not in DOCUMENTED | TASK_ENV and not k.startswith("LC_")}
        assert not extra, f"{path.name}: not in the documented allowlist: {sorted(extra)}"
        assert env["DSTREAM_ROLE"] in ("input", "output") and env["PROVIDER_MODE"] == "canary"
        assert_clean(path.name, json.dumps(env))


CRASH = """
import sys
from dstream.cli import show
from dstream.cli.common import load_project_from_args

def crash(args, view):
    project = load_project_from_args(args)
    config = project.tasks["t"].input.config
    raise RuntimeError("unexpected: " + config["target"] + " " + config["shout"])

show.execute = crash  # an unexpected exception, as a bug in dstream would raise
from dstream.cli.app import run
sys.argv = ["dstream", "show", "t"]
run()
"""


def test_a_crash_report_holds_no_canary(canary_ws: Workspace, tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CRASH],
        cwd=canary_ws.root,
        env={**os.environ, **canary_ws.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clean("the crash's stderr", done.stdout + done.stderr)
    assert done.returncode == 70, done.stderr
    named = [Path(p) for p in re.findall(r"(/[^\s'\";]+)", done.stderr) if Path(p).is_file()]
    assert named, f"no crash report named: {done.stderr}"
    for report in named:
        text = report.read_text(errors="replace")
        assert "RuntimeError" in text
        assert_clean(str(report), text)


def test_a_refused_registry_password_shows_nowhere(
    ws: Workspace, auth_registry: Registry, tmp_path: Path
) -> None:
    """The canary is the password dstream sends (user alice, whom the registry knows):
    `providers pull` and a `run` of a `provider_ref` fail on the refusal, at debug level
    and with --json, and neither their output nor a file they leave (the provider cache,
    the state) holds it."""
    ref = f"{auth_registry.host}/private/input:1"
    script = executable(tmp_path / "in.sh", SHELL_COUNTING_INPUT)
    good = {"DSTREAM_REGISTRY_USERNAME": "alice", "DSTREAM_REGISTRY_PASSWORD": "s3cret-pass"}
    pushed = ws.run("providers", "push", f"{script}:{current_platform()}", "--ref", ref, env=good)
    assert pushed.returncode == 0, pushed.stderr
    ws.config(
        f"""
        task "t" {{
          input  {{ provider_ref = "{ref}" }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )
    ws.env.update(CANARY_ENV)
    ws.env.update(
        {
            "DSTREAM_REGISTRY_USERNAME": "alice",
            "DSTREAM_CACHE_DIR": str(ws.root / "cache"),  # read below like every file
            "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
            "XDG_STATE_HOME": str(ws.root / "xdg-state"),
        }
    )
    for args in (("providers", "pull", ref), ("run", "t")):
        refused = run(ws, *args, code=1)
        assert "refused the credentials of user 'alice'" in refused.stderr, refused.stderr
        as_json = run(ws, *args, "--json", code=1)
        assert "refused the credentials" in as_json.stdout + as_json.stderr
    files = [p for p in ws.root.rglob("*") if p.is_file()]
    for path in files:
        assert_clean(str(path), path.read_bytes().decode("utf-8", "replace"))
