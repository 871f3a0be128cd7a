"""`dstream deploy kubernetes`: print manifests for the configuration (to apply with
`kubectl apply -f -`); see docs/scaling.md."""

from __future__ import annotations

import argparse
import os

from dstream.cli.flags import VAR_FILE_FLAGS, VAR_FLAGS, non_empty_path, number
from dstream.cli.view import View
from dstream.deploy.resources import (
    CPU_PER_TASK,
    LIMIT_FACTOR,
    MEMORY_BASE,
    MEMORY_PER_TASK,
    MI,
    cpu,
    memory,
)
from dstream.errors import EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=("kubernetes",), help="what to render for")
    parser.add_argument("--image", required=True, help="the image with dstream and providers")
    parser.add_argument("--name", default="dstream", help="prefix of every object's name")
    parser.add_argument("--namespace", default="", help="metadata.namespace of every object")
    parser.add_argument(
        "--agents", type=number(int, at_least=1), default=0, metavar="N",
        help="a StatefulSet of N (at least 1) `dstream agent` pods instead of a Deployment "
        "per task (without it)",
    )  # fmt: skip
    parser.add_argument("--secret", default="", help="Secret with the sensitive variables")
    parser.add_argument(
        "--cpu-per-task", type=cpu, default=CPU_PER_TASK, metavar="CPU",
        help=f"CPU a pod requests per task it runs (default {CPU_PER_TASK}m)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-per-task", type=memory, default=MEMORY_PER_TASK, metavar="SIZE",
        help=f"memory a pod requests per task it runs, beyond {MEMORY_BASE // MI}Mi for "
        f"dstream (default {MEMORY_PER_TASK // MI}Mi)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-limit", type=memory, default=0, metavar="SIZE",
        help=f"each pod's memory limit (default: {LIMIT_FACTOR} times the request for the "
        "most tasks it may run)",
    )  # fmt: skip
    parser.add_argument(
        "--run-as-user", type=number(int, at_least=1, at_most=2**31 - 1), default=0,
        metavar="UID", help="run the pods as this user, with runAsNonRoot (default: the "
        "image's user, which may be root)",
    )  # fmt: skip
    parser.add_argument(
        "-c", "--config", type=non_empty_path, metavar="PATH", help="a .hcl file or a directory"
    )
    parser.add_argument(
        *VAR_FLAGS, action="append", default=[], metavar="NAME=VALUE",
        help="set a variable (repeatable); the pods get its value, or a sensitive one's "
        "from the Secret",
    )  # fmt: skip
    parser.add_argument(
        *VAR_FILE_FLAGS, action="append", type=non_empty_path, default=[], metavar="FILE",
        help="read variables from a file (repeatable); the pods get their values, as --var",
    )  # fmt: skip


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.scope import ENV_VAR_PREFIX
    from dstream.deploy.backstop import kept_names
    from dstream.deploy.inputs import collect
    from dstream.deploy.kubernetes import (
        ANNOTATIONS_MAX,
        CONFIG_DIR,
        KubernetesOptions,
        last_applied_bytes,
        render,
        set_in_pods,
        to_yaml_stream,
    )

    options = KubernetesOptions(
        image=args.image, name=args.name, namespace=args.namespace, agents=args.agents,
        secret=args.secret, run_as_user=args.run_as_user, cpu_per_task=args.cpu_per_task,
        memory_per_task=args.memory_per_task, memory_limit=args.memory_limit,
    )  # fmt: skip
    options.check()  # before collect: its hints name the Secret
    secret = options.secret_name
    inputs = collect(args.config, list(args.var), list(args.var_file), os.environ, secret)
    manifests = render(inputs, options)
    # A DSTREAM_VAR_ name the configuration read is a variable's value: the pods get it
    # from the ConfigMap (variables.json) or the Secret, not from an environment variable.
    given = set_in_pods(manifests)
    needed = sorted(
        name for name in inputs.project.reads.env
        if name not in given and not name.startswith(ENV_VAR_PREFIX)
    )  # fmt: skip
    if needed:  # deploy evaluated them here; a pod evaluates the files again, in its own
        view.note(
            f"note: the configuration reads {', '.join(needed)} from the environment "
            "(env() or {{ env }}): the pods get none of deploy's environment; set each in "
            "the pod template (env, or envFrom a ConfigMap or Secret)"
        )
    for path, how in inputs.lacking:  # the pods resolve it in CONFIG_DIR, the ConfigMap
        view.note(
            f"note: the configuration uses {path!r} ({how}): the pods do not get it, they "
            f"have only the ConfigMap's files in {CONFIG_DIR}, where they resolve relative "
            "paths; bake it into the image (or mount it from a volume) and name it by its "
            "absolute path there"
        )
    for path, how in inputs.written:
        view.note(
            f"note: the configuration writes {path!r} ({how}): the pods resolve it in "
            f"{CONFIG_DIR}, the ConfigMap's read-only mount, and fail to write it; use an "
            "absolute path on a volume"
        )
    idle = args.agents - len(inputs.project.tasks)
    if idle > 0:  # rendered all the same: tasks may be added, and an idle agent waits
        view.note(
            f"warning: {args.agents} agents for {len(inputs.project.tasks)} tasks: {idle} "
            f"agent{'s' if idle > 1 else ''} would idle (each agent runs whole tasks); "
            f"pass --agents {len(inputs.project.tasks)} unless more tasks are coming"
        )
    for name in inputs.withheld:
        view.note(
            f"note: var.{name} is sensitive: the value given here is not written into the "
            f'manifests; the pods read it from the Secret "{secret}", key "{name}"'
        )
    applied = last_applied_bytes(manifests[0])  # the ConfigMap
    if applied > ANNOTATIONS_MAX:
        view.note(
            f"note: the ConfigMap is {applied} bytes: client-side `kubectl apply` stores a "
            f"copy in an annotation, and Kubernetes holds at most {ANNOTATIONS_MAX} bytes of "
            "annotations: apply with `kubectl apply --server-side`"
        )
    # render refused any secret but a task's name (`kept_names`), which masking would
    # turn into broken manifests: written as they are then.
    reveal = bool(kept_names(inputs.project))
    if view.json:
        view.document({"apiVersion": "v1", "kind": "List", "items": manifests}, reveal=reveal)
    else:
        view.line(to_yaml_stream(manifests).removesuffix("\n"), reveal=reveal)
    return EXIT_OK
