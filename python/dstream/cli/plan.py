"""`dstream plan [TASK...]`: what `init` would create, or with --destroy what `destroy`
would remove. Changes nothing. Exit 0 (or 1 when a provider failed); with
`-detailed-exitcode`, Terraform's three: 0 no changes, 1 error, 2 changes."""

from __future__ import annotations

import argparse

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--destroy", action="store_true", help="show what `dstream destroy` would remove"
    )
    parser.add_argument(
        "--detailed-exitcode",
        "-detailed-exitcode",
        dest="detailed_exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 1 on error, 2 when there are changes",
    )
    add_lifecycle_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.runtime.describe import refuse_bad_configs

    project, names = load_tasks(args)
    refuse_bad_configs(project, names)  # before any provider of any task is asked
    return run_command(args, view, "plan", (project, names), destroy=args.destroy)
