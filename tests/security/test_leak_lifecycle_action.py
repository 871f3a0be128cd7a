"""A lifecycle change whose action is none of create/update/delete (docs/protocol.md,
section 8) is the provider's protocol error: `init` and `destroy` fail with exit 1
naming the provider, the action and the allowed ones, in text and in --json; it was a
KeyError in the summary line (a crash, exit 70)."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace, json_document

OUTPUT = r"""
import json, sys
sys.stdin.readline()
print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}), flush=True)
change = {"action": "replace", "type": "queue", "name": "q1"}
print(json.dumps({"status": "Success", "resources": [], "changes": [change]}), flush=True)
"""
CONFIG = """
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "./lc.py"
    lifecycle     = true
  }
}
"""


@pytest.mark.parametrize("command", [("init", "t"), ("destroy", "t", "--auto-approve")])
@pytest.mark.parametrize("as_json", [False, True])
def test_an_unknown_change_action_is_a_protocol_error(
    ws: Workspace, command: tuple[str, ...], as_json: bool
) -> None:
    ws.python_script("lc.py", OUTPUT)
    ws.config(CONFIG)
    done = ws.run(*command, *(("--json",) if as_json else ()))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "Traceback" not in said and "internal error" not in said, said
    if as_json:
        doc = json_document(done)
        assert doc["ok"] is False, doc
        [output] = [p for p in doc["tasks"][0]["providers"] if p["role"] == "output"]
        assert output["outcome"] == "failed", output
        text = f"{output['provider']}: {output['error']} ({output['hint']})"
    else:
        text = said
    for named in ("./lc.py", "replace", "create", "update", "delete"):
        assert named in text, text


def test_an_unknown_action_is_quoted_cut(ws: Workspace) -> None:
    """A provider's action is its data: a megabyte of it is quoted cut, not whole."""
    ws.python_script("lc.py", OUTPUT.replace('"replace"', '"x" * 1_000_000'))
    ws.config(CONFIG)
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "xxxxxxxxxx" in done.stderr and len(done.stderr) < 5_000, len(done.stderr)
