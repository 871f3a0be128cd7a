"""`dstream deploy kubernetes` and variables: the pods evaluate the configuration with
the values `deploy` evaluated (--var, --var-file and DSTREAM_VAR_ reach them through the
ConfigMap), and no manifest holds a sensitive value: a sensitive variable's value comes
from the Secret only, a sensitive default is refused, and a value dstream masks as a
secret stops the rendering rather than being written masked (a broken manifest)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import kubernetes_validate
import orjson
import pytest

from tests.scale.test_kubernetes import K8S_VERSION
from tests.workspace import CliResult, Workspace

DSN = "postgresql://app:dsn-secret-4711@db/app"
CONFIG = """
variable "dsn" {
  sensitive = true
}
variable "region" {
  default = "eu"
}
variable "tables" {
  type    = list(string)
  default = ["orders"]
}
variable "batch" {
  type    = number
  default = 10
}
state {
  backend = "postgres"
  dsn     = var.dsn
}
task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      tables           = [for t in var.tables : "${var.region}.${t}"]
      checkpoint_every = var.batch
    }
  }
  output { provider_path = "dstream-null" }
}
"""
SENSITIVE_DEFAULT = """
variable "pgpw" {
  sensitive = true
  default   = "DefaultPw123"
}
state {
  backend = "postgres"
  dsn     = "postgresql://app@db/app"
}
task "t" {
  input  { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-null"
    env = { PGPASSWORD = var.pgpw }
  }
}
"""


def deploy(ws: Workspace, *args: str, env: Optional[dict[str, str]] = None) -> CliResult:
    return ws.run("deploy", "kubernetes", "--image", "registry.example/dstream:1.0", *args,
                  env=env)  # fmt: skip


def manifests(done: CliResult) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    items: list[dict[str, Any]] = orjson.loads(done.stdout)["items"]
    for item in items:
        kubernetes_validate.validate(item, K8S_VERSION, strict=True)
    return items


def container(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The container of the first workload (a task's Deployment or the agents)."""
    workload = next(i for i in items if i["kind"] in ("Deployment", "StatefulSet"))
    found: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return found


def shown_input(ws: Workspace, *args: str) -> Any:
    done = ws.run("show", "t", "--json", *args, env={"DSTREAM_VAR_dsn": DSN})
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)["input"]["config"]


@pytest.mark.parametrize("shape", [[], ["--agents", "2"]], ids=["tasks", "agents"])
def test_the_pods_see_the_values_deploy_was_given(
    ws: Workspace, tmp_path: Path, shape: list[str]
) -> None:
    ws.config(CONFIG)
    (ws.root / "prod.vars").write_text('region = "fromfile"\ntables = ["a", "b"]\n')
    given = ["--var", "region=us-east", "--var-file", "prod.vars"]
    items = manifests(deploy(ws, "--json", *given, *shape, env={"DSTREAM_VAR_batch": "25"}))
    data = items[0]["data"]
    assert sorted(data) == ["dstream.hcl", "variables.json"]
    assert orjson.loads(data["variables.json"]) == {
        "batch": 25, "region": "us-east", "tables": ["a", "b"],
    }  # fmt: skip
    # A pod: the ConfigMap mounted at /etc/dstream, the container's own arguments.
    pod = tmp_path / "pod"
    pod.mkdir()
    for name, text in data.items():
        (pod / name).write_text(text)
    args = container(items)["args"]
    var_file = args[args.index("--var-file") + 1]
    assert var_file == "/etc/dstream/variables.json"
    in_pod = shown_input(ws, "-c", str(pod), "--var-file", str(pod / "variables.json"))
    here = shown_input(ws, *given, "--var", "batch=25")
    assert in_pod == here == {"tables": ["us-east.a", "us-east.b"], "checkpoint_every": 25}


def test_without_given_values_the_pods_get_the_files_alone(ws: Workspace) -> None:
    ws.config(CONFIG)
    items = manifests(deploy(ws, "--json", "--var", "region=eu"))  # the default's value
    assert sorted(items[0]["data"]) == ["dstream.hcl"]
    assert "--var-file" not in container(items)["args"]


@pytest.mark.parametrize("json", [True, False], ids=["json", "yaml"])
def test_a_sensitive_value_given_to_deploy_reaches_no_manifest(ws: Workspace, json: bool) -> None:
    ws.config(CONFIG)
    (ws.root / "secret.vars").write_text(f'dsn = "{DSN}-file"\n')
    flags = ["--json"] if json else []
    done = deploy(ws, *flags, "--var-file", "secret.vars", "--var", f"dsn={DSN}")
    assert done.returncode == 0, done.stderr
    assert "dsn-secret-4711" not in done.stdout + done.stderr
    assert "var.dsn is sensitive" in done.stderr
    assert 'the pods read it from the Secret "dstream-secrets", key "dsn"' in done.stderr
    if json:
        items = manifests(done)
        assert "variables.json" not in items[0]["data"]
        assert {"name": "DSTREAM_VAR_dsn",
                "valueFrom": {"secretKeyRef": {"name": "dstream-secrets", "key": "dsn"}}} in (
            container(items)["env"]
        )  # fmt: skip


@pytest.mark.parametrize("json", [True, False], ids=["json", "yaml"])
def test_a_sensitive_default_is_refused_and_never_shown(ws: Workspace, json: bool) -> None:
    ws.config(SENSITIVE_DEFAULT)
    done = deploy(ws, *(["--json"] if json else []))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "DefaultPw123" not in done.stdout + done.stderr
    said = orjson.loads(done.stdout) if json else done.stderr
    text = str(said)
    assert 'variable "pgpw" is sensitive and has a default' in text
    assert "dstream.hcl:4:" in text  # the default's line
    assert 'remove the default and put the value in the Secret "dstream-secrets"' in text


def test_a_sensitive_variable_with_an_empty_default_is_an_optional_secret_key(
    ws: Workspace,
) -> None:
    ws.config(SENSITIVE_DEFAULT.replace('"DefaultPw123"', '""'))
    refs = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container(manifests(deploy(ws, "--json")))["env"]
        if "valueFrom" in entry
    }
    assert refs == {
        "DSTREAM_VAR_pgpw": {"name": "dstream-secrets", "key": "pgpw", "optional": True}
    }


def test_sensitive_variables_of_every_type_evaluate_without_their_values(ws: Workspace) -> None:
    """deploy never reads a sensitive value: it evaluates with one of the variable's type."""
    ws.config(
        CONFIG.replace(
            'variable "region" {',
            'variable "port" {\n  type = number\n  sensitive = true\n}\n'
            'variable "keys" {\n  type = map(string)\n  sensitive = true\n}\n'
            'variable "region" {',
        )
    )
    env = container(manifests(deploy(ws, "--json")))["env"]
    assert [e["name"] for e in env] == [
        "DSTREAM_CONFIG", "DSTREAM_VAR_dsn", "DSTREAM_VAR_keys", "DSTREAM_VAR_port",
    ]  # fmt: skip


@pytest.mark.parametrize("json", [True, False], ids=["json", "yaml"])
def test_a_value_masked_as_a_secret_stops_the_rendering(ws: Workspace, json: bool) -> None:
    """A variable not declared sensitive given a credential of the environment: written
    masked, the ConfigMap would be wrong; written as is, the secret would be out."""
    ws.config(CONFIG)
    (ws.root / "prod.vars").write_text('region = env("API_TOKEN")\n')
    done = deploy(ws, *(["--json"] if json else []), "--var-file", "prod.vars",
                  env={"API_TOKEN": "tok-6c1f2e9a"})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "tok-6c1f2e9a" not in done.stdout + done.stderr
    text = str(orjson.loads(done.stdout)) if json else done.stderr
    assert re.search(r'ConfigMap "dstream-t-config-[0-9a-f]{16}", data\["variables.json"\]', text)
