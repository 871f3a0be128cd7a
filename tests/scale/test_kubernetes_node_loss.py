"""`dstream deploy kubernetes` and a lost node: a task's Deployment (one replica) gets
its replacement pod ~1 minute after the node stops answering, not after the default
300 s toleration; the agents need no such thing (docs/scaling.md, "Losing a node")."""

from __future__ import annotations

from pathlib import Path

from tests.scale.test_kubernetes_checks import project
from tests.scale.test_kubernetes_security import pods
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace


def test_a_task_pod_leaves_a_lost_node_within_a_minute(tmp_path: Path) -> None:
    """A task's Deployment has one replica: on a node lost, the default toleration (300 s)
    kept the task down ~6 minutes before its replacement pod was made. The lease keeps a
    pod on a node cut off, and still running, from writing once the new one holds it."""
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    items = manifests(deploy(ws, "--json"))
    found = [i["spec"]["template"]["spec"] for i in items if i["kind"] == "Deployment"]
    assert len(found) == 2
    for pod in found:
        assert sorted(pod["tolerations"], key=lambda t: t["key"]) == [
            {"key": f"node.kubernetes.io/{taint}", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 30}
            for taint in ("not-ready", "unreachable")
        ]  # fmt: skip
    # The agents: another agent takes a lost one's tasks after its lease, whatever
    # becomes of its pod (a StatefulSet's is not replaced while the node is gone).
    (agents,) = pods(manifests(deploy(ws, "--json", "--agents", "2")))
    assert "tolerations" not in agents
