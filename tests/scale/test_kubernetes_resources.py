"""`dstream deploy kubernetes` sizes each pod by the tasks it runs: a task is dstream's
share and two provider processes (an agent of 3 tasks of the built-in providers used
~197 MiB, where every pod requested 128Mi whatever its tasks, with no limit). Requests
grow with the tasks a pod runs, the memory limit covers the most it may run (an agent
taking over a drained agent's share), and flags set them (docs/scaling.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.scale.test_kubernetes_checks import project
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.workspace import Workspace

TASKS = ["a", "b", "c", "d", "e", "f"]


def resources(ws: Workspace, *args: str) -> list[dict[str, Any]]:
    items = manifests(deploy(ws, "--json", *args))
    return [
        item["spec"]["template"]["spec"]["containers"][0]["resources"]
        for item in items
        if "template" in item.get("spec", {})
    ]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    project(ws, "postgresql://app@db/s", *TASKS)
    return ws


def test_a_task_pod_is_sized_for_one_task(ws: Workspace) -> None:
    for found in resources(ws):
        assert found == {
            "requests": {"cpu": "100m", "memory": "128Mi"},  # 64Mi + 64Mi per task
            "limits": {"memory": "256Mi"},  # twice the request: room for a burst
        }


def test_an_agent_is_sized_for_its_share_and_limited_for_a_drained_agents_share(
    ws: Workspace,
) -> None:
    (found,) = resources(ws, "--agents", "3")  # 2 tasks each; 3 with one agent down
    assert found == {
        "requests": {"cpu": "200m", "memory": "192Mi"},
        "limits": {"memory": "512Mi"},  # twice 64Mi + 3 tasks of 64Mi
    }
    (alone,) = resources(ws, "--agents", "1")
    assert alone["requests"] == {"cpu": "600m", "memory": "448Mi"}
    assert alone["limits"] == {"memory": "896Mi"}


def test_the_flags_set_the_figures(ws: Workspace) -> None:
    (found,) = resources(
        ws, "--agents", "2", "--cpu-per-task", "0.25", "--memory-per-task", "100Mi",
        "--memory-limit", "2Gi",
    )  # fmt: skip
    assert found == {
        "requests": {"cpu": "750m", "memory": "364Mi"},
        "limits": {"memory": "2048Mi"},
    }


@pytest.mark.parametrize(
    ("limit", "written"), [("1G", "1000000000"), ("1Gi", "1024Mi"), ("1500000k", "1500000000")]
)
def test_a_memory_limit_is_written_as_given_not_rounded(
    ws: Workspace, limit: str, written: str
) -> None:
    """A limit of 1G was written 954Mi, more than the limit asked for: a limit is written
    to the byte (a whole number of Mi as Mi)."""
    found = resources(ws, "--memory-limit", limit)
    assert found and all(each["limits"] == {"memory": written} for each in found), found


def test_a_request_is_never_written_above_the_limit_it_equals(ws: Workspace) -> None:
    """--memory-per-task 500M with the limit the error's hint gives (the request to the
    byte): the request was rounded up to 541Mi, above the limit, which Kubernetes
    refuses. Both are written to the byte."""
    found = resources(ws, "--memory-per-task", "500M", "--memory-limit", "567108864")
    assert found and all(
        each["requests"]["memory"] == each["limits"]["memory"] == "567108864" for each in found
    ), found


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--memory-limit", "134217727"],
            "the memory limit 134217727 is below the pods' request 128Mi",
        ),
        (["--memory-limit", "100M"], "the memory limit 100000000 is below the pods' request 128Mi"),
        (["--memory-per-task", "64MB"], "argument --memory-per-task: '64MB' is not"),
        (["--cpu-per-task", "-1"], "argument --cpu-per-task:"),
        (["--cpu-per-task", "0"], "argument --cpu-per-task: '0' is not"),
        (["--memory-limit", "100Mi"], "the memory limit 100Mi is below the pods' request 128Mi"),
    ],
    ids=["a-byte-below", "decimal-units", "unit", "negative", "zero", "limit-below-request"],
)
def test_a_wrong_figure_is_a_usage_error(ws: Workspace, args: list[str], said: str) -> None:
    done = deploy(ws, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""
