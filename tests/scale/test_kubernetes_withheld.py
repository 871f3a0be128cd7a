"""`dstream deploy kubernetes` refuses a secret only when the manifests would hold it: a
value the configuration reads with env() is read again by each pod from its own
environment (the ConfigMap holds `env("NAME")`)."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

PASSWORD = "Hunter2Pw-env"
URL = f"postgresql://app:{PASSWORD}@db/streams"
TASK = """
task "t" {
  input  { provider_path = "dstream-counter" %s }
  output { provider_path = "dstream-null" }
}
"""


def test_a_dsn_read_with_env_deploys_with_a_note(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.config('state {\n  backend = "postgres"\n  dsn = env("DATABASE_URL")\n}\n' + TASK % "")
    done = deploy(ws, "--json", env={"DATABASE_URL": URL})
    items = manifests(done)
    assert PASSWORD not in orjson.dumps(items).decode() + done.stderr
    assert "reads DATABASE_URL from the environment" in done.stderr, done.stderr


def test_a_provider_secret_read_with_env_deploys(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    state = 'state {\n  backend = "postgres"\n  dsn = "postgresql://app@db/s"\n}\n'
    ws.config(state + TASK % 'env = { PGPASSWORD = env("PGPW") }')
    done = deploy(ws, "--json", env={"PGPW": PASSWORD})
    assert PASSWORD not in orjson.dumps(manifests(done)).decode() + done.stderr
    assert "reads PGPW from the environment" in done.stderr, done.stderr


def test_a_var_file_reading_env_is_still_refused(tmp_path: Path) -> None:
    """A var file is evaluated by deploy and its values written into the ConfigMap."""
    ws = Workspace(tmp_path)
    ws.config(
        'variable "state_dsn" { type = string }\n'
        'state {\n  backend = "postgres"\n  dsn = var.state_dsn\n}\n' + TASK % ""
    )
    (ws.root / "prod.vars").write_text('state_dsn = env("DATABASE_URL")\n')
    done = deploy(ws, "--var-file", "prod.vars", env={"DATABASE_URL": URL})
    assert done.returncode == 2, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "the state dsn holds a password" in done.stderr, done.stderr
