"""`dstream deploy kubernetes`: the manifests validate against the Kubernetes OpenAPI
schemas (offline, kubernetes-validate: no cluster can run here, so they were never
applied to one), carry Secret references and never a secret's value; and what they rely
on — SIGTERM within terminationGracePeriodSeconds — leaves a clean checkpoint and
releases the lease at once."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Callable

import kubernetes_validate
import orjson
import pytest

from dstream.config.model import StateSpec
from dstream.state import open_store
from tests.scale.cluster import Database
from tests.services import PostgresServer, wait_until
from tests.workspace import Workspace

K8S_VERSION = "1.30.0"
SECRET = "s3cr3t-value-never-printed"
CONFIG = """
variable "password" {{
  sensitive = true
}}
state {{
  backend = "postgres"
  dsn = "{dsn}"
  table = "{table}"
}}
task "orders" {{
  stop_grace = "20s"
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = 1
      max_count        = 0
      checkpoint_every = 20
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "${{var.password}}.jsonl" }}
  }}
}}
task "Payments_EU" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = 1
      max_count        = 0
      checkpoint_every = 20
    }}
  }}
  output {{
    provider_path = "dstream-file"
    config {{ path = "p.jsonl" }}
  }}
}}
"""


def render(ws: Workspace, *args: str) -> list[dict[str, Any]]:
    done = ws.run(
        "deploy", "kubernetes", "--image", "registry.example/dstream:1.0", "--json", *args,
        env={"DSTREAM_VAR_password": SECRET},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    items: list[dict[str, Any]] = orjson.loads(done.stdout)["items"]
    for item in items:
        kubernetes_validate.validate(item, K8S_VERSION, strict=True)
    return items


@pytest.fixture
def ws(tmp_path: Path, pg_server: PostgresServer, table: str) -> Workspace:
    ws = Workspace(tmp_path)
    ws.config(CONFIG.format(dsn=pg_server.dsn, table=table))
    return ws


def test_a_deployment_per_task_validates_and_references_its_secret(ws: Workspace) -> None:
    items = render(ws)
    kinds = [item["kind"] for item in items]
    assert kinds == ["ConfigMap"] * 2 + ["Deployment"] * 2 + ["PodDisruptionBudget"]
    deployments = {item["metadata"]["name"]: item for item in items[2:4]}
    assert set(deployments) == {"dstream-orders", "dstream-payments-eu"}
    spec = deployments["dstream-orders"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"][:2] == ["run", "--standby"]
    assert container["args"][-2:] == ["--", "orders"]
    assert {"name": "DSTREAM_VAR_password",
            "valueFrom": {"secretKeyRef": {"name": "dstream-secrets", "key": "password"}}} in (
        container["env"]
    )  # fmt: skip
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["spec"]["terminationGracePeriodSeconds"] > 20  # the longest stop_grace
    assert "${var.password}" in items[0]["data"]["dstream.hcl"]  # the text, not the value
    assert items[4]["spec"]["maxUnavailable"] == 1


def test_the_pods_serve_metrics_on_every_address_of_both_families(ws: Workspace) -> None:
    """The probes reach the pod on its address, IPv4 or IPv6 (a single-stack IPv6
    cluster has no IPv4 one): `[::]` serves both, `0.0.0.0` IPv4 only."""
    for item in render(ws) + render(ws, "--agents", "2"):
        if "template" not in item.get("spec", {}):
            continue
        args = item["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--metrics-addr") + 1] == "[::]:9464", args


def test_the_environment_the_configuration_reads_is_named(tmp_path: Path) -> None:
    """The pods evaluate the files again with their own environment: a variable the
    configuration reads with env() must be set there, and deploy says which."""
    ws = Workspace(tmp_path)
    ws.config(
        'state {\n  backend = "postgres"\n  dsn = "postgresql://u@${env("PGHOST")}/db"\n}\n'
        'task "t" {\n  input { provider_path = "dstream-counter" }\n'
        '  output { provider_path = "dstream-null" }\n}\n'
    )
    done = ws.run("deploy", "kubernetes", "--image", "x/dstream:1", env={"PGHOST": "db"})
    assert done.returncode == 0, done.stderr
    assert "note: the configuration reads PGHOST from the environment" in done.stderr


def test_a_configuration_change_rolls_the_pods(ws: Workspace) -> None:
    """The pods read the configuration from the ConfigMap once, at start: a change
    applied with `kubectl apply` must change their template, or they keep running the
    old one. The template carries a hash of what its pods evaluate (one per task here;
    test_kubernetes_rollout.py: an edit of one task rolls that task's pods only)."""

    def hashes(*args: str) -> list[str]:
        items = render(ws, *args)
        pods = [item["spec"]["template"] for item in items if "template" in item.get("spec", {})]
        return [pod["metadata"]["annotations"]["dstream.dev/config-hash"] for pod in pods]

    first = hashes()
    assert len(set(first)) == 2 and hashes() == first  # one configuration, the same hashes
    text = (ws.root / "dstream.hcl").read_text().replace("every = 20", "every = 30")
    (ws.root / "dstream.hcl").write_text(text)
    assert set(hashes()).isdisjoint(first)


def test_a_stateful_set_of_agents_validates(ws: Workspace) -> None:
    items = render(ws, "--agents", "3", "--namespace", "streams")
    kinds = [item["kind"] for item in items]
    assert kinds == ["ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"]
    agents = items[2]
    assert agents["spec"]["replicas"] == 3
    assert agents["spec"]["template"]["spec"]["containers"][0]["args"][0] == "agent"
    # One pod at a time: a new agent waits, ready, for the old ones (test_agent_rollout.py).
    assert agents["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
    assert {item["metadata"]["namespace"] for item in items} == {"streams"}


def test_a_file_state_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.counter_task("t", "dstream-file", 'path = "o.jsonl"', count=1, checkpoint_every=1)
    done = ws.run("deploy", "kubernetes", "--image", "x/dstream:1")
    assert done.returncode != 0
    assert "needs the postgres state backend" in done.stderr


def test_two_tasks_with_one_kubernetes_name_are_refused(tmp_path: Path) -> None:
    """`Orders` and `orders` (or `a.b` and `a-b`) would render one Deployment name: the
    second would replace the first's at `kubectl apply`, and one task would never run."""
    ws = Workspace(tmp_path)
    ws.config(
        'state {\n  backend = "postgres"\n  dsn = "postgresql://u@127.0.0.1:1/db"\n}\n'
        + "".join(
            f'task "{name}" {{\n  input {{ provider_path = "dstream-counter" }}\n'
            '  output { provider_path = "dstream-null" }\n}\n'
            for name in ("Orders", "orders")
        ),
    )
    done = ws.run("deploy", "kubernetes", "--image", "x/dstream:1")
    assert done.returncode == 2, done.stderr
    assert "tasks 'Orders' and 'orders' would both be named 'dstream-orders'" in done.stderr
    assert "dstream.hcl:" in done.stderr


def test_sigterm_within_the_grace_stores_a_clean_checkpoint_and_releases_the_lease(
    ws: Workspace,
    pg_server: PostgresServer,
    table: str,
    database: Callable[..., Database],
) -> None:
    """What the kubelet does to a pod: SIGTERM, then SIGKILL after the grace period."""
    db = database(pg_server.dsn, "orders")
    run = ws.popen("run", "orders", "--json", env={"DSTREAM_VAR_password": "s3cr3t-out"})
    try:
        wait_until(
            "a stored checkpoint", lambda: run.poll() is not None or (db.checkpoint() or 0) > 50
        )
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=20)  # well within the pods' grace (47 s here)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 143, err  # stopped by SIGTERM: drained
    summary = orjson.loads(out)["tasks"][0]
    assert summary["outcome"] == "interrupted", summary
    # clean: the stored checkpoint is the last one the output acknowledged, and every
    # seq up to it is in the output
    assert db.checkpoint() == summary["last_checkpoint"]["seq"]
    seqs = {line["metadata"]["seq"] for line in ws.json_lines("s3cr3t-out.jsonl")}
    assert set(range(1, summary["last_checkpoint"]["seq"] + 1)) <= seqs
    lease = db.lease()
    assert lease is not None and lease.expires_in <= 0  # released, not left to expire
    spec = StateSpec(backend="postgres", dsn=pg_server.dsn, table=table)
    with open_store(spec, str(ws.root)) as store, store.hold_run("orders"):
        pass  # the next pod takes it at once
