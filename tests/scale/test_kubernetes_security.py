"""`dstream deploy kubernetes` and the Pod Security Standard "restricted": the pods run
without privilege escalation, capabilities, a service account token or a writable root
filesystem, under the runtime's seccomp profile, and as a non-root user when one is
given (`--run-as-user`: an image may run as root, and runAsNonRoot alone would stop
it). A read-only root holds because dstream writes only where the pods mount a volume:
the provider cache (DSTREAM_CACHE_DIR) and /tmp, shown by a real run given the pods'
environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.scale.test_kubernetes_checks import project
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.services import PostgresServer
from tests.workspace import Workspace

FINITE = """
task "t" {
  input  { provider_path = "dstream-counter"  config { max_count = 20 } }
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
            "readOnlyRootFilesystem": True,
        }
        # What dstream writes has a volume: /tmp, and the cache named to it.
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        for path in ("/tmp", env["DSTREAM_CACHE_DIR"]):
            assert volumes[mounts[path]] == {"name": mounts[path], "emptyDir": {}}, path


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


def test_a_run_with_the_pods_environment_writes_only_in_their_volumes(
    tmp_path: Path, pg_server: PostgresServer, table: str
) -> None:
    """The environment and mounts the manifests give a pod, mapped into tmp_path: the
    run ends well and writes nothing in its home, nor beside its configuration (both
    read-only in a pod), and its cache entries are in the cache volume."""
    ws = Workspace(tmp_path / "render")
    ws.root.mkdir()
    project(ws, "postgresql://app@db/s", "t")
    (pod,) = pods(manifests(deploy(ws, "--json")))
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"] if "value" in e}
    root = tmp_path / "pod"  # the pod's filesystem
    config = root / env["DSTREAM_CONFIG"].lstrip("/")
    config.mkdir(parents=True)
    state = f'state {{\n  backend = "postgres"\n  dsn = "{pg_server.dsn}"\n'
    state += f'  table = "{table}"\n}}\n'
    (config / "dstream.hcl").write_text(state + FINITE)
    home = root / "home"
    home.mkdir()
    volumes = {path: root / path.lstrip("/") for path in ("/tmp", env["DSTREAM_CACHE_DIR"])}
    for volume in volumes.values():
        volume.mkdir(parents=True, exist_ok=True)
    before = sorted(root.rglob("*"))
    done = Workspace(config).run(
        "run", "t",
        env={"DSTREAM_CONFIG": str(config), "HOME": str(home), "TMPDIR": str(volumes["/tmp"]),
             "DSTREAM_CACHE_DIR": str(volumes[env["DSTREAM_CACHE_DIR"]]),
             "XDG_CACHE_HOME": "", "XDG_STATE_HOME": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = [p for p in sorted(root.rglob("*")) if p not in before]
    assert written, "the run kept nothing in its cache"
    outside = [p for p in written if not any(p.is_relative_to(v) for v in volumes.values())]
    assert outside == []
