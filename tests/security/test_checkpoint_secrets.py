"""A sensitive value inside a stored checkpoint is masked in every JSON output: a run's
summary record under `-f json` (`summary.last_checkpoint`), `run --json`'s document and
`state show --json`'s. A checkpoint is written verbatim in them (a `Fragment`: its
exact bytes), so the redactor reads its text; a secret that is a number is "***", and
the output stays valid JSON. The text format masks it too (its whole line is redacted)."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.providers import SHELL_OUTPUT
from tests.workspace import Workspace

PW = "ckptcnry" + secrets.token_hex(8)
PIN = "7" + "".join(str(secrets.randbelow(10)) for _ in range(11))  # a number variable

# An input that checkpoints the secrets its config holds, then ends.
INPUT = r"""
import json, os, sys
if os.environ.get("DSTREAM_DESCRIBE") == "1":
    print(json.dumps({"status": "ready", "protocol": 1}))
    sys.exit(0)
cfg = json.loads(sys.stdin.readline())["config"]
print(json.dumps({"status": "ready", "protocol": 1, "features": ["checkpoints"]}), flush=True)
print(json.dumps({"data": {"n": 1}}), flush=True)
print('{"checkpoint":{"token":"%s","pos":%s}}' % (cfg["pw"], cfg["pin"]), flush=True)
"""

CONFIG = """
variable "pw" {
  type      = string
  sensitive = true
}
variable "pin" {
  type      = number
  sensitive = true
}
state { path = "state" }
task "t" {
  input {
    provider_path = "./input.py"
    config {
      pw  = var.pw
      pin = var.pin
    }
  }
  output { provider_path = "./output.sh" }
}
"""


@pytest.fixture
def secret_ws(ws: Workspace) -> Workspace:
    ws.python_script("input.py", INPUT)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(CONFIG)
    ws.env.update({"DSTREAM_VAR_pw": PW, "DSTREAM_VAR_pin": PIN})
    return ws


def assert_masked(what: str, text: str) -> None:
    for secret in (PW, PIN):
        assert secret not in text, f"{what} shows {secret!r}:\n{text}"


def masked_checkpoint(checkpoint: object) -> None:
    """The stored checkpoint as a JSON output shows it: each secret "***"."""
    assert checkpoint == {"token": "***", "pos": "***"}, checkpoint


def test_a_run_s_summary_record_masks_a_secret_in_its_checkpoint(secret_ws: Workspace) -> None:
    done = secret_ws.run("run", "t", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert_masked("run -f json (stderr)", done.stderr)
    records = [json.loads(line) for line in done.stderr.splitlines()]
    (summary,) = [r for r in records if "summary" in r]
    masked_checkpoint(summary["summary"]["last_checkpoint"])


def test_run_json_s_document_masks_a_secret_in_its_checkpoint(secret_ws: Workspace) -> None:
    done = secret_ws.run("run", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert_masked("run --json (stdout)", done.stdout)
    (task,) = json.loads(done.stdout)["tasks"]
    masked_checkpoint(task["last_checkpoint"])


def test_state_show_json_masks_a_secret_in_the_checkpoint(secret_ws: Workspace) -> None:
    ran = secret_ws.run("run", "t", "-q")
    assert ran.returncode == 0, ran.stderr
    done = secret_ws.run("state", "show", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert_masked("state show --json (stdout)", done.stdout)
    masked_checkpoint(json.loads(done.stdout)["checkpoint"])
    text = secret_ws.run("state", "show", "t")  # the text format masks it as it always did
    assert_masked("state show (stdout)", text.stdout)
    assert '"token":"***"' in text.stdout, text.stdout
