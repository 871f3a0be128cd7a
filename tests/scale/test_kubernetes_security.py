"""`dstream deploy kubernetes` and the Pod Security Standard "restricted": the pods run
without privilege escalation, capabilities or a service account token, under the
runtime's seccomp profile, and as a non-root user when one is given (`--run-as-user`:
an image may run as root, and runAsNonRoot alone would stop it). The root filesystem
stays the image's ("restricted" does not ask it read-only): the providers an image
pulled at its build stay in the cache dstream reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.scale.test_kubernetes_checks import project
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

FINITE = """
task "t" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 20 }
  }
  output { provider_path = "dstream-null" }
}
"""
SHAPES = pytest.mark.parametrize("shape", [[], ["--agents", "2"]], ids=["tasks", "agents"])


def pods(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i["spec"]["template"]["spec"] for i in items if "template" in i.get("spec", {})]


@SHAPES
def test_the_pods_meet_the_restricted_pod_security_standard(
    tmp_path: Path, shape: list[str]
) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    found = pods(manifests(deploy(ws, "--json", *shape)))
    assert found
    for pod in found:
        assert pod["automountServiceAccountToken"] is False  # dstream needs no API access
        assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        (container,) = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
        # The image's cache is the one dstream reads: no other is named to it.
        assert "DSTREAM_CACHE_DIR" not in {e["name"] for e in container["env"]}


@SHAPES
def test_a_user_given_runs_the_pods_as_that_user_only(tmp_path: Path, shape: list[str]) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a", "b")
    for pod in pods(manifests(deploy(ws, "--json", "--run-as-user", "10001", *shape))):
        assert pod["securityContext"] == {
            "seccompProfile": {"type": "RuntimeDefault"},
            "runAsNonRoot": True,
            "runAsUser": 10001,
        }


@pytest.mark.parametrize("uid", ["0", "-1", "x"])
def test_a_root_or_malformed_user_is_a_usage_error(tmp_path: Path, uid: str) -> None:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "a")
    done = deploy(ws, "--run-as-user", uid)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "argument --run-as-user:" in done.stderr and "at least 1" in done.stderr
    assert done.stdout == ""
