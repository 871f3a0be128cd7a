"""Second secrets audit, item 2: a line of a multi-line secret of the shape `key: value`
(a kubeconfig's, YAML's) counts by its value, not its length: "current-context:
production" masked "production" nowhere, but the line made that text masked wherever a
provider printed it. Key material (`client-key-data: LS0t...`, a PEM's lines) stays
masked."""

from __future__ import annotations

from dstream.config.redact import Redactor
from tests.workspace import Workspace

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IlRoaXNJc0FTZWNyZXRUb2tlbjEyMyJ9"
KEY_DATA = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFcEFJQkFBS0NBUUVB"
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://kubernetes.default.svc
  name: production
current-context: production
users:
- name: admin
  user:
    token: {TOKEN}
    client-key-data: {KEY_DATA}
"""
PEM_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"


def test_a_yaml_line_is_masked_by_its_value() -> None:
    redactor = Redactor([KUBECONFIG])
    shown = redactor.text("switched to current-context: production; cluster production")
    assert shown == "switched to current-context: production; cluster production"
    assert redactor.text(f"token: {TOKEN}") == "***"  # the line of key material whole
    assert redactor.text(f"bearer {TOKEN}") == "bearer ***"
    assert redactor.text(f"key {KEY_DATA}") == "key ***"


def test_a_pem_line_stays_whole() -> None:
    redactor = Redactor([f"-----BEGIN PRIVATE KEY-----\n{PEM_LINE}\n-----END PRIVATE KEY-----\n"])
    assert redactor.text(f"line {PEM_LINE}") == "line ***"


CONFIG = """
variable "kubeconfig" { sensitive = true }
task "deploy" {
  input {
    provider_path = "./p.py"
    config { kube = var.kubeconfig }
  }
  output { provider_path = "dstream-null" }
}
"""
PROVIDER = r"""
import json, sys
kube = json.loads(sys.stdin.readline())["config"]["kube"]
for line in kube.splitlines():
    sys.stderr.write("line " + line.strip() + "\n")
sys.stderr.write("using current-context: production\n")
sys.stderr.flush()
sys.exit(3)
"""


def test_a_kubeconfig_shows_its_context_but_not_its_keys(ws: Workspace) -> None:
    ws.python_script("p.py", PROVIDER)
    ws.config(CONFIG)
    ws.env["DSTREAM_VAR_kubeconfig"] = KUBECONFIG
    done = ws.run("run", "deploy")
    assert done.returncode == 1, done.stderr
    assert "using current-context: production" in done.stderr, done.stderr
    assert TOKEN not in done.stderr and KEY_DATA not in done.stderr
    assert "line ***" in done.stderr, done.stderr
