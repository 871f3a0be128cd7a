"""`dstream deploy kubernetes`: print manifests for the configuration (to apply with
`kubectl apply -f -`); see docs/scaling.md."""

from __future__ import annotations

import argparse
import os
import sys

from dstream.cli.view import View
from dstream.errors import EXIT_OK, UsageError

PLACEHOLDER = "placeholder-from-a-secret"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=("kubernetes",), help="what to render for")
    parser.add_argument("--image", required=True, help="the image with dstream and providers")
    parser.add_argument("--name", default="dstream", help="prefix of every object's name")
    parser.add_argument("--namespace", default="", help="metadata.namespace of every object")
    parser.add_argument(
        "--agents", type=int, default=0, metavar="N",
        help="a StatefulSet of N `dstream agent` pods instead of a Deployment per task",
    )  # fmt: skip
    parser.add_argument("--secret", default="", help="Secret with the sensitive variables")
    parser.add_argument("-c", "--config", metavar="PATH", help="a .hcl file or a directory")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--var-file", action="append", default=[], metavar="FILE")


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.loader import ENV_VAR_PREFIX, analyze
    from dstream.deploy.kubernetes import KubernetesOptions, render, to_yaml_stream

    if args.agents < 0:
        raise UsageError("--agents must be 0 or more", hint="e.g. --agents 3")
    environ = dict(os.environ)
    first = analyze(args.config, list(args.var), list(args.var_file), environ)
    sensitive = [name for name, item in first.variables.items() if item.sensitive]
    # The pods read sensitive variables from a Secret: their values are not needed here
    # and must not be in the output.
    for name in sensitive:
        environ.setdefault(ENV_VAR_PREFIX + name, PLACEHOLDER)
    result = analyze(args.config, list(args.var), list(args.var_file), environ)
    if result.diagnostics.first_error is not None:
        raise result.diagnostics.first_error  # `dstream lint` lists them all
    project = result.project
    assert project is not None
    files = {}
    for path in result.files:
        with open(path, encoding="utf-8") as handle:
            files[path] = handle.read()
    options = KubernetesOptions(
        image=args.image, name=args.name, namespace=args.namespace, agents=args.agents,
        secret=args.secret,
    )  # fmt: skip
    manifests = render(project, files, sensitive, options)
    if view.json:
        view.document({"apiVersion": "v1", "kind": "List", "items": manifests})
    else:
        sys.stdout.write(to_yaml_stream(manifests))
    return EXIT_OK
