"""The fragment of a secret at the end of a frame's excerpt or a legacy input's log
line is masked only where the pump cut the text (at its EXCERPT_LEN or LOG_LINE_LEN,
exposed by the binding): an ordinary line shorter than that which happens to end in a
secret's first characters is shown as written. Every excerpt and log line had its end
masked."""

from __future__ import annotations

import pytest

from dstream import _core
from tests.providers import SHELL_OUTPUT
from tests.workspace import Workspace

SECRET = "Qz7SEKRETPW4242"
START = SECRET[:7]  # what an ordinary line may happen to end in

# MODE "legacy": a log line of N bytes, then a frame; "frame": an invalid frame of N
# bytes. Both end in the secret's first characters, or (CUT) hold it across byte N.
PROVIDER = r"""
import json, os, sys, time
mode, n, cut = os.environ["MODE"], int(os.environ["N"]), os.environ["CUT"] == "1"
pw = json.loads(sys.stdin.readline())["config"]["password"]
lead = '{"data": "' if mode == "frame" else ""
line = lead + "A" * (n - len(lead) - 7) + (pw + " and more" if cut else pw[:7])
if mode == "frame":
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["checkpoints"]}))
print(line, flush=True)
if mode == "legacy":
    print(json.dumps({"data": {"a": 1}, "metadata": {"TableName": "t"}}), flush=True)
time.sleep(0.3)
"""
CONFIG = """
variable "pw" {
  sensitive = true
}
variable "mode" {}
variable "n" {}
variable "cut" {}
task "t" {
  input {
    provider_path = "./p.py"
    config { password = var.pw }
    env = { MODE = var.mode, N = var.n, CUT = var.cut }
  }
  output { provider_path = "./output.sh" }
  invalid_frames = "%s"
}
"""
LIMITS = {"frame": _core.EXCERPT_LEN, "legacy": _core.LOG_LINE_LEN}


def run(ws: Workspace, mode: str, n: int, cut: bool) -> str:
    ws.python_script("p.py", PROVIDER)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(CONFIG % ("fail" if mode == "frame" else "skip"))
    ws.env["DSTREAM_VAR_pw"] = SECRET
    done = ws.run(
        "run", "t", "--var", f"mode={mode}", "--var", f"n={n}", "--var", f"cut={int(cut)}"
    )
    assert done.returncode == (1 if mode == "frame" else 0), done.stderr[-2000:]
    return done.stderr


@pytest.mark.parametrize("mode", sorted(LIMITS))
def test_a_text_shorter_than_the_cut_is_shown_as_written(ws: Workspace, mode: str) -> None:
    said = run(ws, mode, LIMITS[mode] - 20, cut=False)
    assert "A" * 20 + START in said, said[-500:]
    assert SECRET not in said


@pytest.mark.parametrize("mode", sorted(LIMITS))
def test_a_text_cut_at_the_limit_has_its_end_masked(ws: Workspace, mode: str) -> None:
    said = run(ws, mode, LIMITS[mode], cut=True)  # the cut 7 bytes into the secret
    assert "A" * 20 in said, said[-500:]
    assert "A" * 20 + SECRET[:3] not in said, said[-500:]
    assert "***" in said, said[-500:]
