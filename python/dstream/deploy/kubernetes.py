"""`dstream deploy kubernetes`: manifests for a configuration, rendered, never applied.

Two shapes:
- `tasks` (default): a Deployment per task, one replica, `strategy: Recreate`, running
  `dstream run --standby -- TASK` (a replacement pod waits for the old pod's lease instead
  of crash-looping while it is still live);
- `agents`: a StatefulSet of N `dstream agent` pods dividing the tasks among themselves.

Each pod template (a task's; the agents') gets a ConfigMap named by a hash of what its
pods evaluate (digest.py), with the .hcl files and the values of the variables given to
`deploy` (VALUES_FILE, which the pods read as a --var-file), the sensitive variables as
Secret references (`DSTREAM_VAR_<name>` from a Secret key; never a value: see
deploy/inputs.py), /healthz liveness and readiness probes on the metrics port,
Prometheus scrape annotations, resource requests and a memory limit by the tasks a pod
runs (deploy/resources.py), the Pod Security Standard "restricted" settings
(runAsNonRoot only with a user given, since the image may run as root), no service
account token, a PodDisruptionBudget (one pod down at a time) and
`terminationGracePeriodSeconds` above the longest a stopped pod takes (its longest
`stop_grace`, and the bound of its last calls on a state database that
stopped answering), so SIGTERM drains, stores the checkpoint and releases the lease
before the kubelet kills.
Manifests that would hold a value dstream masks as a secret are refused (backstop.py).

Checked offline against the Kubernetes OpenAPI schemas (tests); not run on a cluster.
"""

from __future__ import annotations

import math
import os

from dstream.config.loader import is_config_name
from dstream.config.model import Location
from dstream.config.scope import ENV_VAR_PREFIX
from dstream.deploy.backstop import refuse_secrets
from dstream.deploy.digest import pods_hash
from dstream.deploy.inputs import Inputs
from dstream.deploy.names import (
    CONFIG_KEY,
    DNS1035_LABEL,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    STATEFUL_SET_MAX,
    check,
    dns_name,
    is_config_key,
)
from dstream.deploy.resources import (
    CPU_PER_TASK,
    LIMIT_FACTOR,
    MEMORY_BASE,
    MEMORY_PER_TASK,
    exact_bytes,
    millicores,
)
from dstream.errors import ConfigError, UsageError
from dstream.protocol.values import encode_json
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from dstream.config.model import Project

METRICS_PORT = 9464
CONFIG_DIR = "/etc/dstream"
# The ConfigMap's key for the given variables' values: no .hcl name, so the pods'
# DSTREAM_CONFIG (the directory's *.hcl) does not load it as configuration.
VALUES_FILE = "variables.json"
# What the API server holds: the bytes of a ConfigMap's data, and of an object's
# annotations, where client-side `kubectl apply` stores the whole object it applied.
CONFIG_MAP_MAX = 1024 * 1024
ANNOTATIONS_MAX = 256 * 1024
TASK_LABEL = "dstream.dev/task"
# On every object rendered (`--name` its value), to prune by: `kubectl apply --prune -l
# dstream.dev/project=NAME` deletes a removed task's Deployment and the old ConfigMaps
# (docs/scaling.md, "Pruning"). In no selector: a Deployment's and a StatefulSet's are
# immutable, and the objects rendered before it was added must still apply.
PROJECT_LABEL = "dstream.dev/project"
# Seconds a task's pod stays bound to a node that stopped answering before it is evicted
# and its Deployment makes a replacement (Kubernetes' default: 300, a task down ~6
# minutes). The lease fences a pod that still runs there, cut off. Not for the agents: a
# StatefulSet's pod is not replaced while its node is gone; the other agents take its
# tasks when its leases expire.
NODE_LOSS_TOLERATION = 30
# Seconds the kubelet waits beyond the longest a stopped pod takes (`_grace`), for a
# loaded node.
GRACE_SLACK = 2


@record
class KubernetesOptions:
    image: str
    name: str = "dstream"
    namespace: str = ""
    agents: int = 0  # 0: a Deployment per task; N: a StatefulSet of N agents
    secret: str = ""  # the Secret holding sensitive variables (default: <name>-secrets)
    # Per task a pod runs, in millicores and bytes (deploy/resources.py); a fixed memory
    # limit per pod, in bytes (0: LIMIT_FACTOR times the request for the most it may run).
    cpu_per_task: int = CPU_PER_TASK
    memory_per_task: int = MEMORY_PER_TASK
    memory_limit: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    # The UID the pods run as, with runAsNonRoot (0: the image's USER, which may be root,
    # so no runAsNonRoot: the kubelet would refuse to start such an image).
    run_as_user: int = 0

    @property
    def secret_name(self) -> str:
        return self.secret or dns_name(self.name, "secrets")

    def check(self) -> None:
        """A usage error for a name given that Kubernetes would refuse (deploy/names.py):
        --name starts the Service's name, a DNS-1035 label."""
        check("--name", self.name, DNS1035_LABEL)
        if self.namespace:
            check("--namespace", self.namespace, DNS1123_LABEL)
        if self.secret:
            check("--secret", self.secret, DNS1123_SUBDOMAIN)


def render(inputs: Inputs, options: KubernetesOptions) -> list[dict[str, object]]:
    """The manifests, in the order `kubectl apply` should see them."""
    project = inputs.project
    if project.state.backend != "postgres":
        raise ConfigError(
            "deploy kubernetes needs the postgres state backend: pods keep no disk, and "
            "the task leases live in the state database",
            location=project.state.location,
            hint='set backend = "postgres" and dsn = "postgresql://..." in the state block',
        )
    if not options.image:
        raise UsageError("no image given", hint="pass --image REGISTRY/dstream:TAG")
    options.check()
    _refuse_clashes(project, options)
    base = _Base(inputs, options)
    if options.agents:
        manifests = [base.config_map(), base.headless_service(), base.stateful_set()]
        manifests.append(base.budget("agent"))
    else:
        # The ConfigMaps first: `kubectl apply` makes them before the pods that mount them.
        # One per task, each with every file (a task may read another file's locals):
        # one shared ConfigMap would be renamed by any task's edit, restarting every
        # task, or under a fixed name be read anew by an old pod (docs/scaling.md).
        manifests = [base.config_map((name,)) for name in sorted(project.tasks)]
        manifests += [base.deployment(name) for name in sorted(project.tasks)]
        manifests.append(base.budget("task"))
    _refuse_a_large_config_map(manifests[0])  # each holds the same data
    refuse_secrets(manifests, inputs, VALUES_FILE)
    return manifests


def _refuse_clashes(project: Project, options: KubernetesOptions) -> None:
    """Two tasks whose objects would have one name (`kubectl apply` would make the
    second replace the first), or one selector label (each Deployment would take the
    other's pod for its own): one of them would never run."""
    names: dict[str, str] = {}
    labels: dict[str, str] = {}
    for task in sorted(project.tasks):
        name, label = dns_name(options.name, task), task_label(task)
        first = names.setdefault(name, task)
        what = f"be named {name!r}"
        if first == task:
            first = labels.setdefault(label, task)
            what = f"be selected by the label {TASK_LABEL}={label}"
        if first != task:
            raise ConfigError(
                f"tasks {first!r} and {task!r} would both {what} in Kubernetes (names "
                "there are lower-case letters, digits and '-')",
                location=project.tasks[task].location,
                hint="rename one of the two tasks",
            )


def task_label(task: str) -> str:
    """The value of a task's pods' TASK_LABEL, which its Deployment selects them by."""
    return dns_name(task)


def config_key(path: str) -> str:
    """The ConfigMap key of a configuration file: the file's name in CONFIG_DIR, which
    the pods load only if it is a configuration name there (`*.hcl`, not hidden), and
    `-c` may name any file: prod.conf is prod.conf.hcl. A directory's files keep theirs."""
    key = os.path.basename(path)
    if is_config_name(key):
        return key
    key = (key.lstrip(".") or "dstream") + ".hcl"
    assert is_config_name(key)
    return key


def _checked_key(path: str) -> str:
    key = config_key(path)
    if is_config_key(key):
        return key
    name = os.path.basename(path)
    raise ConfigError(
        f"the configuration file {name!r} cannot be a key of the ConfigMap (its name in "
        f"the pods' {CONFIG_DIR}): Kubernetes takes only {CONFIG_KEY}",
        location=Location(path),
        hint=f"rename the file, such as {dns_name(name.removesuffix('.hcl')) + '.hcl'!r}",
    )


def config_map_bytes(config_map: dict[str, object]) -> int:
    """The bytes of a ConfigMap's data as the API server counts them (its values)."""
    data = config_map["data"]
    assert isinstance(data, dict)
    return sum(len(text.encode()) for text in data.values())


def last_applied_bytes(manifest: dict[str, object]) -> int:
    """The bytes client-side `kubectl apply` stores of a manifest in its annotation
    kubectl.kubernetes.io/last-applied-configuration: its JSON."""
    return len(encode_json(manifest))


def _refuse_a_large_config_map(config_map: dict[str, object]) -> None:
    size = config_map_bytes(config_map)
    if size <= CONFIG_MAP_MAX:
        return
    raise ConfigError(
        f"the configuration is {size} bytes: the ConfigMap holding it would be refused by "
        f"Kubernetes, which holds at most {CONFIG_MAP_MAX} bytes (1 MiB) in one, even with "
        "`kubectl apply --server-side`",
        hint="make the configuration smaller: generate long lists with for expressions, "
        "or bake large data into the image and read it with file() from an absolute path",
    )


def _grace(project: Project) -> int:
    """terminationGracePeriodSeconds: the longest a stopped pod takes (docs/scaling.md,
    "Stopping on a silent database"): its longest stop_grace and STOP_MARGIN, then its
    last calls on a state database that stopped answering (LeaseSettings.silent_stop)."""
    from dstream.runtime.stopping import STOP_MARGIN
    from dstream.state.lease import LeaseSettings

    longest = max((t.stop_grace for t in project.tasks.values()), default=10.0)
    silent = LeaseSettings(ttl=project.state.lease_ttl).silent_stop
    return math.ceil(longest + STOP_MARGIN + silent) + GRACE_SLACK


class _Base:
    def __init__(self, inputs: Inputs, options: KubernetesOptions) -> None:
        self.inputs = inputs
        self.o = options
        self.secret = options.secret_name
        self.grace = _grace(inputs.project)
        # The headless Service's and the StatefulSet's: the shorter limit of the two.
        self.agent_name = dns_name(options.name, "agent", limit=STATEFUL_SET_MAX)

    def meta(self, name: str, labels: dict[str, str]) -> dict[str, object]:
        meta: dict[str, object] = {"name": name, "labels": {**labels, PROJECT_LABEL: self.o.name}}
        if self.o.namespace:
            meta["namespace"] = self.o.namespace
        return meta

    def labels(self, component: str, **more: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "dstream",
            "app.kubernetes.io/instance": self.o.name,
            "app.kubernetes.io/component": component,
            **self.o.labels,
            **more,
        }

    def config_data(self) -> dict[str, str]:
        files = sorted(self.inputs.files.items())
        data = {_checked_key(path): text for path, text in files}
        if self.inputs.values:
            data[VALUES_FILE] = encode_json(self.inputs.values, indent=True).decode() + "\n"
        return data

    def config_hash(self, tasks: Sequence[str]) -> str:
        """What pods running `tasks` (none: the agents, every task) evaluate (digest.py)."""
        return pods_hash(self.inputs.project, tasks or sorted(self.inputs.project.tasks))

    def config_name(self, tasks: Sequence[str]) -> str:
        """The ConfigMap of the pods running `tasks` (none: the agents), named by the
        hash of what they evaluate, as kustomize's configMapGenerator names one by its
        content: a changed configuration is a new ConfigMap, so a pod of the old
        ReplicaSet (or revision) that starts again mid-rollout, or after `kubectl
        rollout undo`, reads the one it was made for. Its text may change under the
        same name (another task's edit, a comment): what its pods evaluate does not."""
        return dns_name(self.o.name, *tasks, "config", self.config_hash(tasks))

    def config_map(self, tasks: Sequence[str] = ()) -> dict[str, object]:
        name = self.config_name(tasks)
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": self.meta(name, self.labels("config")),
            "data": self.config_data(),
        }

    def secret_ref(self, var: str, optional: bool) -> dict[str, object]:
        """The Secret's key for a sensitive variable: optional when it has a default."""
        ref: dict[str, object] = {"name": self.secret, "key": var}
        if optional:
            ref["optional"] = True
        return {"name": f"{ENV_VAR_PREFIX}{var}", "valueFrom": {"secretKeyRef": ref}}

    def pod(
        self, component: str, args: list[str], labels: dict[str, str], tasks: Sequence[str] = ()
    ) -> dict[str, object]:
        """A pod running `dstream ARGS`, then the `tasks` after `--` (a task named `--all`
        is a task, not the flag); without `tasks`, it runs every task (an agent)."""
        env: list[dict[str, object]] = [{"name": "DSTREAM_CONFIG", "value": CONFIG_DIR}]
        env += [self.secret_ref(var, optional) for var, optional in self.inputs.secrets.items()]
        if self.inputs.values:
            args = [*args, "--var-file", f"{CONFIG_DIR}/{VALUES_FILE}"]
        # Every address of both families (runtime/metrics.py): a pod of a single-stack
        # IPv6 cluster has no IPv4 address for its probes.
        args = [*args, "--metrics-addr", f"[::]:{METRICS_PORT}"]
        if tasks:
            args = [*args, "--", *tasks]
        probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10}
        container = {
            "name": component,
            "image": self.o.image,
            "args": args,
            "env": env,
            "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
            "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 3},
            "readinessProbe": {**probe, "initialDelaySeconds": 5},
            "resources": self.resources(tasks),
            "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
            # Not readOnlyRootFilesystem ("restricted" does not ask it): the image's own
            # provider cache (`dstream init --pull` at its build) stays where dstream
            # looks, and a provider may write where its image lets it.
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        security: dict[str, object] = {"seccompProfile": {"type": "RuntimeDefault"}}
        if self.o.run_as_user:
            security.update(runAsNonRoot=True, runAsUser=self.o.run_as_user)
        return {
            "metadata": {
                # PROJECT_LABEL in the template, not the selector (`labels`): a
                # Deployment's and a StatefulSet's selector are immutable, and a
                # template's labels need only include it, so objects rendered before the
                # label was added still apply; `kubectl get pods -l` finds the pods.
                "labels": {**labels, PROJECT_LABEL: self.o.name},
                "annotations": {
                    "dstream.dev/config-hash": self.config_hash(tasks),
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(METRICS_PORT),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": {
                "terminationGracePeriodSeconds": self.grace,
                "automountServiceAccountToken": False,  # dstream calls no Kubernetes API
                "securityContext": security,
                "containers": [container],
                "volumes": [{"name": "config", "configMap": {"name": self.config_name(tasks)}}],
            },
        }

    def task_counts(self, tasks: Sequence[str]) -> tuple[int, int]:
        """How many tasks a pod running `tasks` (none: an agent) runs, and the most it may
        run: an agent its share of every task, and a drained (or lost) agent's share too."""
        if tasks:
            return len(tasks), len(tasks)
        every, agents = len(self.inputs.project.tasks), self.o.agents
        return math.ceil(every / agents), math.ceil(every / max(agents - 1, 1))

    def memory_request(self, count: int) -> int:
        return MEMORY_BASE + count * self.o.memory_per_task

    def resources(self, tasks: Sequence[str]) -> dict[str, object]:
        usual, most = self.task_counts(tasks)
        request = self.memory_request(usual)
        limit = self.o.memory_limit or LIMIT_FACTOR * self.memory_request(most)
        if limit < request:  # Kubernetes refuses a pod whose request exceeds its limit
            raise UsageError(
                f"the memory limit {exact_bytes(limit)} is below the pods' request "
                f"{exact_bytes(request)} ({exact_bytes(MEMORY_BASE)} for dstream and "
                f"{exact_bytes(self.o.memory_per_task)} for each of its {usual} "
                f"task{'s' if usual != 1 else ''})",
                hint=f"give --memory-limit {exact_bytes(request)} or more, or a smaller "
                "--memory-per-task",
            )
        return {
            "requests": {
                "cpu": millicores(usual * self.o.cpu_per_task),
                "memory": exact_bytes(request),
            },
            "limits": {"memory": exact_bytes(limit)},
        }

    def deployment(self, task: str) -> dict[str, object]:
        labels = self.labels("task", **{TASK_LABEL: task_label(task)})
        template = self.pod("dstream", ["run", "--standby"], labels, tasks=[task])
        spec = template["spec"]
        assert isinstance(spec, dict)
        spec["tolerations"] = [
            {"key": f"node.kubernetes.io/{taint}", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": NODE_LOSS_TOLERATION}
            for taint in ("not-ready", "unreachable")
        ]  # fmt: skip
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self.meta(dns_name(self.o.name, task), labels),
            "spec": {
                "replicas": 1,  # the lease makes a second one wait; Recreate avoids it
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": template,
            },
        }

    def headless_service(self) -> dict[str, object]:
        labels = self.labels("agent")
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.meta(self.agent_name, labels),
            "spec": {
                "clusterIP": "None",
                "selector": labels,
                "ports": [{"name": "metrics", "port": METRICS_PORT}],
            },
        }

    def stateful_set(self) -> dict[str, object]:
        labels = self.labels("agent")
        name = self.agent_name
        return {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": self.meta(name, labels),
            "spec": {
                "replicas": self.o.agents,
                "serviceName": name,
                "podManagementPolicy": "Parallel",
                # One pod at a time, the next once this one is ready: a new agent waits
                # (ready, holding nothing) while agents of the old configuration live, so
                # the tasks gather on the old pods until the last one is replaced.
                "updateStrategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": labels},
                "template": self.pod("agent", ["agent"], labels),
            },
        }

    def budget(self, component: str) -> dict[str, object]:
        """One pod down at a time by a drain: each move is a task's (or an agent's)."""
        labels = self.labels(component)
        return {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": self.meta(dns_name(self.o.name, component), labels),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
        }


def set_in_pods(manifests: list[dict[str, object]]) -> set[str]:
    """The environment variables the pod templates set (DSTREAM_CONFIG, the sensitive
    variables' DSTREAM_VAR_<name>): the pods have these, and none of deploy's."""
    names: set[str] = set()
    for manifest in manifests:
        spec = manifest.get("spec")
        template = spec.get("template") if isinstance(spec, dict) else None
        if isinstance(template, dict):
            for container in template["spec"]["containers"]:
                names.update(entry["name"] for entry in container["env"])
    return names


def to_yaml_stream(manifests: list[dict[str, object]]) -> str:
    """A multi-document YAML stream whose documents are JSON (JSON is YAML):
    `kubectl apply -f -` reads it, and no YAML library is needed."""
    return "".join("---\n" + encode_json(doc, indent=True).decode() + "\n" for doc in manifests)
