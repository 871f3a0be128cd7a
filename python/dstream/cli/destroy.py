"""`dstream destroy TASK...`: remove what `init` created (output first, then input).
Removing what is already gone succeeds. Like `terraform destroy`, it first shows what
would go and asks for `yes`; `--auto-approve` skips that (and is required when stdin is
not a terminal)."""

from __future__ import annotations

import argparse
import sys

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View
from dstream.errors import EXIT_OK, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="destroy without showing the plan and asking for 'yes'",
    )


def execute(args: argparse.Namespace, view: View) -> int:
    tasks = load_tasks(args)
    if not args.auto_approve:
        if view.json or not sys.stdin.isatty():
            raise UsageError(
                "destroy needs a confirmation, and there is no terminal to ask on",
                hint="review with `dstream plan --destroy TASK`, then run "
                "`dstream destroy TASK --auto-approve`",
            )
        code = run_command(args, view, "plan", tasks, destroy=True)
        if code != EXIT_OK:
            return code
        view.err.write("\nDo you really want to destroy all of the resources above?\n")
        view.err.write("  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
        view.err.flush()
        if sys.stdin.readline().strip() != "yes":
            view.info("Destroy cancelled.")
            return EXIT_OK
    return run_command(args, view, "destroy", tasks)
