"""Secrets as line-based channels and other languages' serialisers show them (issue
"secrets that still get through", items 1 and 4): a sensitive value with a trailing
newline or on several lines (a PEM key) is masked line by line in a provider's stderr,
and so is a secret JSON-escaped as .NET's System.Text.Json and Go's encoding/json write
it. Each through a real provider's stderr, in text and JSON logs and `--json`."""

from __future__ import annotations

import json

import pytest

from tests.workspace import Workspace

# Prints its password on stderr as FORM says, then fails.
PROVIDER = r"""
import json, os, sys
pw = json.loads(sys.stdin.readline())["config"]["password"]
form = os.environ["FORM"]
def escaped(s, chars, non_ascii, fmt):
    out = ""
    for ch in s:
        if ch in chars or (non_ascii and ord(ch) > 127):
            units = ch.encode("utf-16-be", "surrogatepass")
            out += "".join("\\u" + format(int.from_bytes(units[i:i + 2], "big"), fmt)
                           for i in range(0, len(units), 2))
        else:
            out += json.dumps(ch, ensure_ascii=False)[1:-1]
    return out
if form == "raw":
    sys.stderr.write("raw " + pw + "\n")
elif form == "dotnet":  # System.Text.Json, JavaScriptEncoder.Default
    sys.stderr.write('net {"pw":"' + escaped(pw, "+<>&'`\"", True, "04X") + '"}\n')
elif form == "go":  # encoding/json, HTML-safe
    sys.stderr.write('go {"pw":"' + escaped(pw, "<>&\u2028\u2029", False, "04x") + '"}\n')
elif form == "html_ascii":  # json.dumps made HTML-safe (Go's escapes, all non-ASCII too)
    sys.stderr.write('js {"pw":"' + escaped(pw, "<>&\u2028\u2029", True, "04x") + '"}\n')
sys.stderr.flush()
sys.exit(3)
"""

CONFIG = """
variable "pw" {
  sensitive = true
}
variable "form" {}
task "t" {
  input {
    provider_path = "./p.py"
    config { password = var.pw }
    env = { FORM = var.form }
  }
  output { provider_path = "dstream-null" }
}
"""

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
    "-----END PRIVATE KEY-----\n"
)


def outputs(ws: Workspace, form: str) -> str:
    """All a failed run shows, in text and JSON logs and its --json document."""
    shown = []
    for fmt in ("text", "json"):
        done = ws.run("run", "t", "--log-format", fmt, "--var", f"form={form}")
        assert done.returncode == 1, done.stderr
        shown.append(done.stdout + done.stderr)
    code, doc, stderr = ws.run_json("run", "t", "--var", f"form={form}")
    assert code == 1
    return "\n".join([*shown, json.dumps(doc), stderr])


def workspace(ws: Workspace, secret: str) -> Workspace:
    ws.python_script("p.py", PROVIDER)
    ws.config(CONFIG)
    ws.env["DSTREAM_VAR_pw"] = secret
    return ws


def test_a_secret_with_a_trailing_newline_is_masked(ws: Workspace) -> None:
    shown = outputs(workspace(ws, "Sup3rSecret\n"), "raw")
    assert "raw ***" in shown
    assert "Sup3rSecret" not in shown


def test_each_line_of_a_pem_key_is_masked_but_its_boundaries(ws: Workspace) -> None:
    shown = outputs(workspace(ws, PEM), "raw")
    for line in PEM.splitlines()[1:-1]:
        assert line not in shown
        assert line[:20] not in shown
    assert "-----BEGIN PRIVATE KEY-----" in shown  # no secret: shown as it is


@pytest.mark.parametrize("form", ["dotnet", "go", "html_ascii"])
def test_a_secret_escaped_as_dotnet_and_go_write_json_is_masked(ws: Workspace, form: str) -> None:
    secret = "Sup3r+Secret<'ä>&\u2028x"
    shown = outputs(workspace(ws, secret), form)
    assert ' {"pw":"***"}' in shown, shown[-500:]
    assert "Secret" not in shown
