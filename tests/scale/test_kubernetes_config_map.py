"""`dstream deploy kubernetes` and its ConfigMap: the pods load what was deployed (their
DSTREAM_CONFIG is the mounted directory, whose `*.hcl` files they load), and a
ConfigMap the API server would refuse (a key it does not accept, more data than it
holds) is refused here, not at `kubectl apply`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.scale.test_kubernetes_checks import STATE, TASK
from tests.scale.test_kubernetes_variables import container, deploy, manifests
from tests.workspace import Workspace

CONFIG_DIR = "/etc/dstream"
MIB = 1024 * 1024


def state() -> str:
    return STATE.format(dsn="postgresql://app@db/s")


def pod_tasks(ws: Workspace, items: list[dict[str, Any]], pod: Path) -> list[str]:
    """The tasks a pod of these manifests loads: the ConfigMap's data written into `pod`
    (its mount), DSTREAM_CONFIG as the container sets it."""
    pod.mkdir()
    for key, text in items[0]["data"].items():
        (pod / key).write_text(text)
    env = {e["name"]: e["value"] for e in container(items)["env"] if "value" in e}
    config = env["DSTREAM_CONFIG"].replace(CONFIG_DIR, str(pod))
    done = ws.run("list", "--json", env={"DSTREAM_CONFIG": config})
    assert done.returncode == 0, done.stderr
    return sorted(t["name"] for t in orjson.loads(done.stdout)["tasks"])


def test_a_config_file_not_named_hcl_is_what_the_pods_load(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    (ws.root / "prod.conf").write_text(state() + TASK.format(name="orders"))
    items = manifests(deploy(ws, "--json", "-c", "prod.conf"))
    assert all(key.endswith(".hcl") for key in items[0]["data"]), items[0]["data"].keys()
    assert pod_tasks(ws, items, tmp_path / "pod") == ["orders"]


def test_a_directory_of_several_files_is_what_the_pods_load(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    conf = ws.root / "conf"
    conf.mkdir()
    (conf / "state.hcl").write_text(state())
    (conf / "a.hcl").write_text(TASK.format(name="a"))
    (conf / "b.hcl").write_text(TASK.format(name="b"))
    (conf / "notes.txt").write_text("not configuration\n")
    items = manifests(deploy(ws, "--json", "-c", "conf"))
    assert sorted(items[0]["data"]) == ["a.hcl", "b.hcl", "state.hcl"]
    assert pod_tasks(ws, items, tmp_path / "pod") == ["a", "b"]


def test_each_task_s_config_map_holds_the_files_its_task_reads_from(tmp_path: Path) -> None:
    """Why each task's ConfigMap holds every file, not only the task's own: a task may
    read the locals (and variables) of another file, and the pods load the directory
    whole. (One ConfigMap shared by the tasks would be renamed by any task's edit, and
    restart every task: docs/scaling.md, "Kubernetes".)"""
    ws = Workspace(tmp_path)
    conf = ws.root / "conf"
    conf.mkdir()
    (conf / "state.hcl").write_text(state())
    (conf / "shared.hcl").write_text("locals {\n  every = 7\n}\n")
    (conf / "a.hcl").write_text(
        'task "a" {\n  input {\n    provider_path = "dstream-counter"\n'
        "    config { interval = local.every }\n  }\n"
        '  output { provider_path = "dstream-null" }\n}\n'
    )
    (conf / "b.hcl").write_text(TASK.format(name="b"))
    items = manifests(deploy(ws, "--json", "-c", "conf"))
    maps = {i["metadata"]["name"]: i for i in items if i["kind"] == "ConfigMap"}
    (a,) = [i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == "dstream-a"]
    mounted = maps[a["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]]
    pod = tmp_path / "pod"
    pod.mkdir()
    for key, text in mounted["data"].items():
        (pod / key).write_text(text)
    done = ws.run("show", "a", "--json", env={"DSTREAM_CONFIG": str(pod)})
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["input"]["config"]["interval"] == 7


def test_a_file_name_kubernetes_refuses_as_a_key_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    (ws.root / "my pipelines.hcl").write_text(state() + TASK.format(name="orders"))
    done = deploy(ws, "-c", "my pipelines.hcl")
    assert done.returncode == 2, done.stdout + done.stderr
    assert not done.stdout
    assert "'my pipelines.hcl'" in done.stderr and "[-._a-zA-Z0-9]" in done.stderr
    assert "hint: rename" in done.stderr, done.stderr


def big_config(ws: Workspace, size: int) -> None:
    """A configuration of `size` bytes (a long comment)."""
    head = state() + TASK.format(name="orders") + "# "
    ws.config(head + "x" * (size - len(head) - 1) + "\n")
    assert len((ws.root / "dstream.hcl").read_bytes()) == size


def test_a_configuration_over_a_mebibyte_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    big_config(ws, MIB + 10)
    done = deploy(ws)
    assert done.returncode == 2, done.stderr[-2000:]
    assert not done.stdout
    assert "1048576" in done.stderr and str(MIB + 10) in done.stderr, done.stderr
    assert "hint:" in done.stderr


@pytest.mark.parametrize(("size", "noted"), [(200_000, False), (300_000, True)])
def test_a_configuration_over_256_kib_is_noted_for_kubectl_apply(
    tmp_path: Path, size: int, noted: bool
) -> None:
    ws = Workspace(tmp_path)
    big_config(ws, size)
    done = deploy(ws)
    assert done.returncode == 0, done.stderr
    assert ("kubectl apply --server-side" in done.stderr) == noted, done.stderr
