"""`dstream deploy kubernetes` and task names: two tasks whose Deployments would select
the same pods are refused, and a task name that looks like a flag stays a task name
in the pods' arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scale.test_kubernetes_checks import STATE, TASK, project
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

UNREACHABLE = "postgresql://app@127.0.0.1:1/s"


def test_two_tasks_with_one_selector_label_are_refused(tmp_path: Path) -> None:
    """`_a` and `a` have Deployments of two names but one `dstream.dev/task` label:
    each Deployment would take the other's pod for its own."""
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", "_a", "a")
    done = deploy(ws)
    assert done.returncode == 2, done.stdout + done.stderr
    assert not done.stdout
    assert "tasks '_a' and 'a'" in done.stderr and "dstream.dev/task" in done.stderr
    assert "hint: rename one of the two tasks" in done.stderr


@pytest.mark.parametrize("task", ["--all", "-v", "--reset-state"])
def test_a_task_named_like_a_flag_is_a_task_name_in_the_pods(tmp_path: Path, task: str) -> None:
    ws = Workspace(tmp_path)
    ws.config(
        'variable "x" {\n  default = 0\n}\n'
        + STATE.format(dsn=UNREACHABLE) + TASK.format(name=task) + TASK.format(name="b")
    )  # fmt: skip
    items = manifests(deploy(ws, "--json", "--var", "x=1"))  # and a --var-file
    deployments = {
        i["metadata"]["labels"]["dstream.dev/task"]: i for i in items if i["kind"] == "Deployment"
    }
    pod = deployments[task.strip("-")]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[0] == "run" and args[-2:] == ["--", task], args
    assert {"--standby", "--metrics-addr", "--var-file"} <= set(args), args
    # dstream's CLI takes them: the pod's command, here, runs (and fails on the database)
    mount = tmp_path / "pod"
    mount.mkdir()
    for key, text in items[0]["data"].items():
        (mount / key).write_text(text)
    here = [a.replace("/etc/dstream", str(mount)).replace("[::]:9464", "127.0.0.1:0") for a in args]
    done = ws.run(*here, env={"DSTREAM_CONFIG": str(mount)}, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "could not connect to the state database" in done.stderr, done.stderr
