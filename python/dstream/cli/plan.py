"""`dstream plan TASK...`: what `init` would create, or with --destroy what `destroy`
would remove. Changes nothing."""

from __future__ import annotations

import argparse

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--destroy", action="store_true", help="show what `dstream destroy` would remove"
    )
    add_lifecycle_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    return run_command(args, view, "plan", load_tasks(args), destroy=args.destroy)
