"""`dstream deploy kubernetes` and a changed configuration: `kubectl apply` replaces the
pods whose configuration changed, and only those. Each pod template carries a hash of
what its pods evaluate (its task, or every task for the agents, and the state), so an
edit of one task leaves every other task's Deployment as it was, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.scale.test_kubernetes_checks import STATE
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

HASH = "dstream.dev/config-hash"
TASK = """
task "{name}" {{
  input {{
    provider_path = "dstream-counter"
    config {{ interval = {interval} }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""


def write(ws: Workspace, a: int = 1, b: int = 1, dsn: str = "postgresql://app@db/s") -> None:
    ws.config(
        STATE.format(dsn=dsn)
        + TASK.format(name="a", interval=a)
        + TASK.format(name="b", interval=b)
    )


def by_name(ws: Workspace, *args: str) -> dict[str, Any]:
    items = manifests(deploy(ws, "--json", *args))
    return {f"{item['kind']}/{item['metadata']['name']}": item for item in items}


def pod_hash(item: dict[str, Any]) -> str:
    found: str = item["spec"]["template"]["metadata"]["annotations"][HASH]
    return found


def test_an_edit_of_one_task_leaves_the_other_tasks_deployment_unchanged(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    write(ws)
    before = by_name(ws)
    write(ws, a=2)
    after = by_name(ws)
    b = "Deployment/dstream-b"
    assert orjson.dumps(after[b]) == orjson.dumps(before[b])
    a = "Deployment/dstream-a"
    assert pod_hash(after[a]) != pod_hash(before[a])
    assert pod_hash(before[a]) != pod_hash(before[b])  # each its own


def test_an_edit_of_the_state_rolls_every_task(tmp_path: Path) -> None:
    """Every task's pods read the state block: its change is every task's."""
    ws = Workspace(tmp_path)
    write(ws)
    before = by_name(ws)
    write(ws, dsn="postgresql://app@other-db/s")
    after = by_name(ws)
    for name in ("Deployment/dstream-a", "Deployment/dstream-b"):
        assert pod_hash(after[name]) != pod_hash(before[name])


def test_an_edit_of_any_task_rolls_the_agents(tmp_path: Path) -> None:
    """Each agent runs every task: one hash of all of them, which a comment leaves as it
    is (the pods would evaluate the same tasks)."""
    ws = Workspace(tmp_path)
    write(ws)
    first = pod_hash(by_name(ws, "--agents", "2")["StatefulSet/dstream-agent"])
    (ws.root / "dstream.hcl").write_text((ws.root / "dstream.hcl").read_text() + "# a note\n")
    assert pod_hash(by_name(ws, "--agents", "2")["StatefulSet/dstream-agent"]) == first
    write(ws, b=3)
    assert pod_hash(by_name(ws, "--agents", "2")["StatefulSet/dstream-agent"]) != first


# -- each pod template reads a ConfigMap named by that hash ---------------------------


def mounted(item: dict[str, Any]) -> str:
    """The name of the ConfigMap a workload's pods mount."""
    name: str = item["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    return name


def test_each_deployment_reads_a_config_map_named_by_its_hash(tmp_path: Path) -> None:
    """As kustomize's configMapGenerator: a changed configuration is a new ConfigMap,
    so a pod of the old ReplicaSet that restarts mid-rollout (or a `kubectl rollout
    undo`) reads the configuration it was made for, not the new one."""
    ws = Workspace(tmp_path)
    write(ws)
    before = by_name(ws)
    a, b = before["Deployment/dstream-a"], before["Deployment/dstream-b"]
    assert mounted(a) == f"dstream-a-config-{pod_hash(a)}"
    assert mounted(b) == f"dstream-b-config-{pod_hash(b)}"
    for workload in (a, b):
        assert f"ConfigMap/{mounted(workload)}" in before
    write(ws, a=2)
    after = by_name(ws)
    assert mounted(after["Deployment/dstream-a"]) != mounted(a)  # a new one for the new pods
    assert f"ConfigMap/{mounted(a)}" not in after  # the old one is left to the prune
    assert f"ConfigMap/{mounted(b)}" in after  # b's pods keep theirs


def test_the_agents_read_a_config_map_named_by_their_hash(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write(ws)
    items = by_name(ws, "--agents", "2")
    agents = items["StatefulSet/dstream-agent"]
    assert mounted(agents) == f"dstream-config-{pod_hash(agents)}"
    assert [name for name in items if name.startswith("ConfigMap/")] == [
        f"ConfigMap/{mounted(agents)}"
    ]
