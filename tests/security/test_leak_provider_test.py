"""`dstream provider test` masks what its own flags give under secret-looking names:
a `--config` value under a key such as `password` and an `--env` value of a variable
such as PGPASSWORD or API_TOKEN, as `dstream run` masks them from a task's config and
env. A provider echoing them (in a refusal, on stderr) showed them in the table and in
--json."""

from __future__ import annotations

import json

import pytest

from tests.workspace import Workspace

CONFIG_PW = "KitPw0wned1"
ENV_PW = "EnvPw0wned2"
ENV_TOKEN = "EnvTok0wned3"
PROVIDER = r"""
import json, os, sys
cmd = json.loads(sys.stdin.readline())
env = os.environ
sys.stderr.write("env " + env.get("PGPASSWORD", "") + " " + env.get("API_TOKEN", "") + "\n")
sys.stderr.write("config " + json.dumps(cmd.get("config")) + "\n")
message = "refused the config " + json.dumps(cmd.get("config"))
print(json.dumps({"status": "error", "message": message}), flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize("as_json", [False, True])
def test_provider_test_masks_its_secret_flags(ws: Workspace, as_json: bool) -> None:
    ws.python_script("p.py", PROVIDER)
    config = json.dumps({"password": CONFIG_PW, "interval": 5})
    done = ws.run(
        "provider", "test", "./p.py", "--role", "input", "--config", config,
        "--env", f"PGPASSWORD={ENV_PW}", "--env", f"API_TOKEN={ENV_TOKEN}",
        *(("--json",) if as_json else ()),
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1, said  # it does not conform
    assert "refused the config" in said, said  # the provider's words are shown
    for secret in (CONFIG_PW, ENV_PW, ENV_TOKEN):
        assert secret not in said, said
    assert "***" in said, said
