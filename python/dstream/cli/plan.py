"""`dstream plan [TASK...]`: what `init` would create, or with --destroy what `destroy`
would remove. Changes nothing. Exit 0 (or 1 when a provider failed); with
`-detailed-exitcode`, Terraform's three: 0 no changes, 1 error, 2 changes."""

from __future__ import annotations

import argparse

from dstream import logs
from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View
from dstream.errors import ConfigError


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
    check = refuse_bad_configs(project, names)  # before any provider of any task is asked
    _warn_unchecked(check.unchecked)
    return run_command(args, view, "plan", (project, names), destroy=args.destroy)


def _warn_unchecked(unchecked: list[tuple[str, ConfigError]]) -> None:
    """What lint warns of, in its words and with its hint: a provider's config went
    unchecked, its probe silent. Once per provider (its role and path: the words),
    however many of the tasks planned name it."""
    said: set[str] = set()
    for task, exc in unchecked:
        if exc.reason not in said:
            said.add(exc.reason)
            logs.log.warning("%s", exc.one_line(), task=task)
