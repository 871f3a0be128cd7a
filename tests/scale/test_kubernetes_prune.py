"""`dstream deploy kubernetes` and what a new configuration leaves behind: a removed
task's Deployment, the ConfigMaps of the old pods. `kubectl apply` alone never deletes
them; every object rendered carries the label `dstream.dev/project=NAME`, by which
`kubectl apply --prune` deletes those of the project no longer rendered (docs/scaling.md,
"Pruning")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scale.test_kubernetes_checks import project
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

PROJECT = "dstream.dev/project"


@pytest.mark.parametrize("shape", [[], ["--agents", "2"]], ids=["tasks", "agents"])
@pytest.mark.parametrize("name", [[], ["--name", "billing"]], ids=["default", "named"])
def test_every_object_carries_the_project_label(
    tmp_path: Path, shape: list[str], name: list[str]
) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    items = manifests(deploy(ws, "--json", *shape, *name))
    expected = name[1] if name else "dstream"
    assert {item["kind"] for item in items} >= {"ConfigMap", "PodDisruptionBudget"}
    for item in items:
        assert item["metadata"]["labels"][PROJECT] == expected, item["metadata"]
        # Not in a selector: a Deployment's and a StatefulSet's are immutable, and one
        # with a label added would be refused by `kubectl apply` on the objects there.
        selector = item.get("spec", {}).get("selector", {})
        assert PROJECT not in selector.get("matchLabels", selector), item["kind"]


@pytest.mark.parametrize("shape", [[], ["--agents", "2"]], ids=["tasks", "agents"])
def test_the_pods_carry_the_project_label(tmp_path: Path, shape: list[str]) -> None:
    """`kubectl get pods -l dstream.dev/project=NAME` finds the project's pods: their
    template carries the label, which the selector (immutable) does not."""
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    items = manifests(deploy(ws, "--json", "--name", "billing", *shape))
    templates = [i["spec"]["template"] for i in items if "template" in i.get("spec", {})]
    assert len(templates) == (1 if shape else 2)
    for template in templates:
        assert template["metadata"]["labels"][PROJECT] == "billing", template["metadata"]
