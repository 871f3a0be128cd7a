"""Mask, then cut: every place that shortens a text for output masks it first, so no
part of a secret shows at the cut (issue "secrets that still get through", item 3).
Where the cut happens outside dstream's Python (the pump's frame excerpt and a legacy
input's log lines, both cut in Rust; a stderr line cut at its bound by the reader), the
fragment of a secret at the cut edge is masked. Each test puts the secret across the
cut and looks for any 4 characters of it in all output."""

from __future__ import annotations

import json

import pytest

from dstream.config.redact import Redactor
from dstream.runtime.pipes import MAX_STDERR_LINE
from tests.providers import SHELL_OUTPUT
from tests.workspace import Workspace

SECRET = "Qz7+SEKRETPW4242"  # a "+", as in a base64 key (JSON and URL forms differ)

# One provider, its behaviour chosen by MODE; N places the secret across a cut.
PROVIDER = r"""
import json, os, sys
mode, n = os.environ["MODE"], int(os.environ.get("N", "0"))
if os.environ.get("DSTREAM_DESCRIBE") == "1":
    features = ["lifecycle"] if mode == "lifecycle" else []
    print(json.dumps({"status": "ready", "protocol": 1, "features": features}))
    sys.exit(0)
pw = json.loads(sys.stdin.readline())["config"]["password"]
if mode == "stderr":
    sys.stderr.write("x" * n + pw + "\n")
    sys.stderr.flush()
    sys.exit(3)
if mode == "lifecycle":
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}), flush=True)
    print("NOTJSON " + "x" * n + pw + " end", flush=True)
    sys.exit(0)
if mode == "legacy":  # no ready line: a legacy input, its other stdout lines logged
    print("A" * n + pw + " end", flush=True)
    print(json.dumps({"data": {"a": 1}, "metadata": {"TableName": "t"}}), flush=True)
    sys.exit(0)
print(json.dumps({"status": "ready", "protocol": 1, "features": ["checkpoints"]}), flush=True)
if mode == "frame":
    print('{"data": "' + "q" * n + pw + "q" * 300, flush=True)
    sys.exit(0)
print(json.dumps({"data": {"a": 1}, "metadata": {"TableName": "t"}}), flush=True)
print(json.dumps({"checkpoint": {"pos": "w" * n + pw + "w" * 100}}), flush=True)
"""

CONFIG = """
variable "pw" {
  sensitive = true
}
variable "mode" {}
variable "n" {}
state { path = "state" }
task "t" {
  input {
    provider_path = "./p.py"
    config { password = var.pw }
    env = { MODE = var.mode, N = var.n }
  }
  output { provider_path = "./output.sh" }
  %s
}
"""


def workspace(ws: Workspace, settings: str = "") -> Workspace:
    ws.python_script("p.py", PROVIDER)
    ws.script("output.sh", SHELL_OUTPUT)
    ws.config(CONFIG % settings)
    ws.env["DSTREAM_VAR_pw"] = SECRET
    return ws


def shown_fragments(text: str) -> list[str]:
    """The pieces of SECRET, 4 characters or more, that `text` holds."""
    return [
        SECRET[i:j]
        for i in range(len(SECRET))
        for j in range(i + 4, len(SECRET) + 1)
        if SECRET[i:j] in text
    ]


def assert_masked(text: str) -> None:
    found = shown_fragments(text)
    at = text.find(found[-1]) if found else len(text)
    assert not found, (found[-1], text[max(0, at - 100) : at + 100])
    assert "***" in text, text[-300:]


def vars_for(mode: str, n: int) -> tuple[str, ...]:
    return ("--var", f"mode={mode}", "--var", f"n={n}")


def test_the_last_stderr_lines_of_an_error_are_masked_then_cut(ws: Workspace) -> None:
    workspace(ws)
    done = ws.run("run", "t", *vars_for("stderr", 190))  # the line's 200th character in it
    assert done.returncode == 1 and "last stderr lines" in done.stderr, done.stderr
    assert_masked(done.stderr)


def test_an_invalid_lifecycle_result_is_masked_then_cut(ws: Workspace) -> None:
    workspace(ws)
    for args in (("init", "t"), ("init", "t", "--json")):
        done = ws.run(*args, *vars_for("lifecycle", 185))  # byte 200 inside the secret
        assert done.returncode != 0 and "invalid result" in done.stdout + done.stderr, done
        assert_masked(done.stdout + done.stderr)


@pytest.mark.parametrize("n", [100, 104, 106])  # the excerpt's end inside the secret
def test_the_excerpt_of_a_bad_frame_is_masked_at_its_cut_end(ws: Workspace, n: int) -> None:
    workspace(ws)
    done = ws.run("run", "t", *vars_for("frame", n))
    assert done.returncode == 1 and "frame begins" in done.stderr, done.stderr
    assert_masked(done.stderr)
    code, doc, stderr = ws.run_json("run", "t", *vars_for("frame", n))
    assert code == 1
    assert_masked(json.dumps(doc) + stderr)


@pytest.mark.parametrize("n", [8180, 8185, 8188])  # the 8192-byte log line ends in it
def test_a_legacy_inputs_log_line_is_masked_at_its_cut_end(ws: Workspace, n: int) -> None:
    workspace(ws, 'invalid_frames = "skip"')
    for fmt in ("text", "json"):
        done = ws.run("run", "t", "--log-format", fmt, *vars_for("legacy", n))
        assert done.returncode == 0, done.stderr
        assert "AAAA" in done.stderr, done.stderr[-500:]
        assert_masked(done.stderr)


def test_a_checkpoint_is_masked_then_cut_in_the_summary_and_state_list(ws: Workspace) -> None:
    workspace(ws)
    done = ws.run("run", "t", *vars_for("ckpt", 104))  # the summary cuts at 120
    assert done.returncode == 0, done.stderr
    assert "stored" in done.stdout + done.stderr
    assert_masked(done.stdout + done.stderr)
    again = ws.run("run", "t", "--reset-state", *vars_for("ckpt", 40))  # `state list`: 60
    assert again.returncode == 0, again.stderr
    listed = ws.run("state", "list", *vars_for("ckpt", 40))
    assert listed.returncode == 0 and "wwww" in listed.stdout, listed.stdout + listed.stderr
    assert_masked(listed.stdout + listed.stderr)


@pytest.mark.parametrize("back", [6, 3, 8])  # the cut inside the secret
def test_a_stderr_line_cut_at_its_bound_is_masked_at_the_cut_edge(ws: Workspace, back: int) -> None:
    n = MAX_STDERR_LINE - back
    workspace(ws)
    for fmt in ("text", "json"):
        done = ws.run("run", "t", "--log-format", fmt, *vars_for("stderr", n))
        assert done.returncode == 1
        assert_masked(done.stderr)


def test_a_cut_anywhere_in_bytes_shows_no_fragment_of_3_characters_or_more() -> None:
    """`Redactor.edges` on both pieces of a text split at every byte: a split inside a
    multi-byte character (decoded as U+FFFD) included."""
    secret = "Geheimnis-äöü+42"
    redactor = Redactor([secret])
    raw = ("x" * 10 + secret + "y").encode()
    for at in range(len(raw)):
        head = redactor.edges(raw[:at].decode("utf-8", "replace"), cut_after=True)
        tail = redactor.edges(raw[at:].decode("utf-8", "replace"), cut_before=True)
        for fragment in (secret[i : i + 3] for i in range(len(secret) - 2)):
            assert fragment not in head + "|" + tail, (at, head, tail)


def test_cut_masks_first_and_a_whole_text_is_not_cut() -> None:
    redactor = Redactor([SECRET])
    assert redactor.cut("ab " + SECRET + " cd", 6) == "ab **…"
    assert redactor.cut("short", 6) == "short"
    assert redactor.edges("ends in Qz7", cut_after=False) == "ends in Qz7"  # no cut there
