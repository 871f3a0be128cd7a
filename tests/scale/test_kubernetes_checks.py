"""`dstream deploy kubernetes` refuses what Kubernetes (or a pod) would fail on later:
a state DSN holding a password in clear text (the ConfigMap would carry it), names
Kubernetes refuses, and says which files a pod will not have. Names are checked here
against Kubernetes' own rules: kubernetes-validate does not check them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.scale.test_kubernetes_variables import container, deploy, manifests
from tests.workspace import Workspace

# Kubernetes' validation (apimachinery/pkg/util/validation)
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
TASK = """
task "{name}" {{
  input  {{ provider_path = "dstream-counter" }}
  output {{ provider_path = "dstream-null" }}
}}
"""
STATE = 'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n}}\n'


def project(ws: Workspace, dsn: str, *tasks: str, head: str = "") -> None:
    ws.config(head + STATE.format(dsn=dsn) + "".join(TASK.format(name=t) for t in tasks))


def dns1123_subdomain(name: str) -> bool:
    return len(name) <= 253 and all(DNS1123_LABEL.match(part) for part in name.split("."))


# -- 7a: the state store's password never goes into a ConfigMap -----------------------


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://postgres:S3cr3tPw!x@127.0.0.1:55433/streams",
        "host=db user=app password=S3cr3tPw!x dbname=streams",
        "postgresql://app@db/streams?password=S3cr3tPw!x",
    ],
    ids=["uri", "keywords", "query"],
)
def test_a_literal_password_in_the_state_dsn_is_refused(tmp_path: Path, dsn: str) -> None:
    ws = Workspace(tmp_path)
    project(ws, dsn, "t")
    done = deploy(ws)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "S3cr3tPw" not in done.stdout + done.stderr
    assert "the state dsn holds a password" in done.stderr
    assert "dstream.hcl:3:9:" in done.stderr  # the dsn's value, not the state block
    assert "sensitive = true" in done.stderr  # the hint: a sensitive variable, a Secret


def test_a_password_given_to_the_dsn_by_a_variable_not_sensitive_is_refused(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    ws.config(
        'variable "state_dsn" { type = string }\n'
        'state {\n  backend = "postgres"\n  dsn = var.state_dsn\n}\n' + TASK.format(name="a")
    )
    done = deploy(ws, "--var", "state_dsn=postgresql://app:Hunter2Pw@db/streams")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Hunter2Pw" not in done.stdout + done.stderr
    assert "the state dsn holds a password" in done.stderr
    assert "dstream.hcl:4:9:" in done.stderr  # where the variable is given to the dsn


def test_a_password_from_a_sensitive_variable_is_a_secret_reference(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    project(
        ws, "postgresql://app:${var.pgpw}@db/streams", "t",
        head='variable "pgpw" {\n  sensitive = true\n}\n',
    )  # fmt: skip
    items = manifests(deploy(ws, "--json", env={"DSTREAM_VAR_pgpw": "Hunter2Pw"}))
    assert "Hunter2Pw" not in orjson.dumps(items).decode()
    assert "DSTREAM_VAR_pgpw" in [e["name"] for e in container(items)["env"]]


def test_a_dsn_without_a_password_deploys(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/streams", "t")
    manifests(deploy(ws, "--json"))


# -- 8: every name is one Kubernetes accepts ------------------------------------------


def names_in(items: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each name the manifests give or refer to, by what it names."""
    found: dict[str, set[str]] = {}
    for item in items:
        found.setdefault(item["kind"], set()).add(item["metadata"]["name"])
        found.setdefault("namespace", set()).add(item["metadata"].get("namespace", "default"))
        spec = item.get("spec", {})
        if "serviceName" in spec:
            found.setdefault("Service", set()).add(spec["serviceName"])
        if "template" in spec:
            pod = spec["template"]["spec"]
            for volume in pod["volumes"]:
                if "configMap" in volume:  # not the emptyDirs
                    found.setdefault("ConfigMap", set()).add(volume["configMap"]["name"])
            for entry in pod["containers"][0]["env"]:
                if "valueFrom" in entry:
                    ref = entry["valueFrom"]["secretKeyRef"]["name"]
                    found.setdefault("Secret", set()).add(ref)
    return found


def assert_accepted(items: list[dict[str, Any]]) -> None:
    names = names_in(items)
    for kind in ("Service",):
        for name in names.get(kind, ()):
            assert len(name) <= 63 and DNS1035_LABEL.match(name), (kind, name)
    for name in names.get("StatefulSet", ()):
        # the controller-revision-hash label is the name, "-" and a 10-character hash
        assert len(name) <= 52 and DNS1123_LABEL.match(name), name
    for name in names["namespace"]:
        assert len(name) <= 63 and DNS1123_LABEL.match(name), name
    for kind in ("ConfigMap", "Secret", "PodDisruptionBudget", "Deployment"):
        for name in names.get(kind, ()):
            assert dns1123_subdomain(name), (kind, name)
    for kind in ("Deployment",):  # its pods' names start with it: a label's length
        for name in names.get(kind, ()):
            assert len(name) <= 63, name
    for item in items:
        for value in item["metadata"]["labels"].values():
            assert len(value) <= 63 and re.match(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]?$",
                                                 value), value  # fmt: skip


SENSITIVE = 'variable "pgpw" {\n  sensitive = true\n}\n'
LONG_TASKS = ("a_very_long_task_name_that_goes_on_and_on_and_on_for_more_than63", "x",
              "a_very_long_task_name_that_goes_on_and_on_and_on_for_more_than64")  # fmt: skip


@pytest.mark.parametrize("shape", [[], ["--agents", "3"]], ids=["tasks", "agents"])
@pytest.mark.parametrize("name", ["a" * 63, "dstream", "a1-b"])
def test_derived_names_are_accepted_and_distinct(
    tmp_path: Path, shape: list[str], name: str
) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app:${var.pgpw}@db/s", *LONG_TASKS, head=SENSITIVE)
    items = manifests(deploy(ws, "--json", "--name", name, "--namespace", "my-ns", *shape))
    assert_accepted(items)
    by_kind = [(i["kind"], i["metadata"]["name"]) for i in items]
    assert len(set(by_kind)) == len(by_kind)
    again = manifests(deploy(ws, "--json", "--name", name + "b"[: 63 - len(name)], *shape))
    if len(name) < 63:  # another prefix, other names
        assert {i["metadata"]["name"] for i in again}.isdisjoint(n for _, n in by_kind)


@pytest.mark.parametrize(
    ("flag", "value", "rule"),
    [
        ("--name", "9lives", "DNS-1035 label"),
        ("--name", "a" * 64, "DNS-1035 label"),
        ("--name", "My_App", "DNS-1035 label"),
        ("--namespace", "My_NS", "DNS-1123 label"),
        ("--namespace", "n" * 64, "DNS-1123 label"),
        ("--secret", "My_Secret.x", "DNS-1123 subdomain"),
        ("--secret", "s." * 127 + "ss", "DNS-1123 subdomain"),
    ],
)
def test_a_name_kubernetes_refuses_is_a_usage_error(
    tmp_path: Path, flag: str, value: str, rule: str
) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app:${var.pgpw}@db/s", "t", head=SENSITIVE)
    done = deploy(ws, "--agents", "2", flag, value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{flag} {value!r}" in done.stderr and rule in done.stderr, done.stderr
    assert "hint:" in done.stderr
    assert not done.stdout


def test_a_valid_secret_name_is_used_as_given(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app:${var.pgpw}@db/s", "t", head=SENSITIVE)
    items = manifests(deploy(ws, "--json", "--secret", "db.credentials-1"))
    assert names_in(items)["Secret"] == {"db.credentials-1"}


# -- 9: the files a pod would not have are named --------------------------------------


def test_files_and_local_providers_the_pods_lack_are_named(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    (ws.root / "query.sql").write_text("select 1\n")
    (ws.root / "providers").mkdir()
    ws.config(
        STATE.format(dsn="postgresql://app@db/s") + 'locals { q = file("query.sql") }\n'
        'task "a" {\n'
        '  input {\n    provider_path = "dstream-counter"\n    config { tables = [local.q] }\n  }\n'
        '  output { provider_path = "./providers/my-out" }\n}\n'
    )
    done = deploy(ws)
    assert done.returncode == 0, done.stderr
    notes = done.stderr
    assert "query.sql" in notes and "file()" in notes, notes
    assert "./providers/my-out" in notes, notes
    assert "image" in notes  # what to do: bake it into the image (or mount it)
    # a configuration that reads nothing else gets no such note
    project(ws, "postgresql://app@db/s", "t")
    assert "image" not in deploy(ws).stderr


# -- how many agents -------------------------------------------------------------------


def test_no_agents_is_a_usage_error(tmp_path: Path) -> None:
    """`--agents 0` rendered the per-task Deployments as if the flag were not given."""
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    done = deploy(ws, "--agents", "0")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert "--agents: '0' is out of range: give a whole number, at least 1" in done.stderr
    assert "hint: `dstream deploy --help` lists what it takes" in done.stderr
    assert "Traceback" not in done.stderr


def test_more_agents_than_tasks_says_how_many_would_idle(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    done = deploy(ws, "--json", "--agents", "5")
    manifests(done)  # rendered all the same: more tasks may come, and idle agents wait
    assert "warning: 5 agents for 2 tasks: 3 agents would idle" in done.stderr
    assert "--agents 2" in done.stderr  # what to do
    assert "would idle" not in deploy(ws, "--agents", "2").stderr
