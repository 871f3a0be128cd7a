"""`dstream plan [TASK...]`: what `init` would create, or with --destroy what `destroy`
would remove. Changes nothing. Exit 0 (or 1 when a provider failed); with
`-detailed-exitcode`, Terraform's three: 0 no changes, 1 error, 2 changes."""

from __future__ import annotations

import argparse

from dstream import logs
from dstream.cli.flags import terraform_spelling
from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.runtime.describe import Unchecked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        *terraform_spelling("--destroy"),
        action="store_true",
        help="show what `dstream destroy` would remove",
    )
    parser.add_argument(
        *terraform_spelling("--detailed-exitcode"),
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


def _warn_unchecked(unchecked: list[Unchecked]) -> None:
    """What lint warns of, in its words and with its hint: a provider's config went
    unchecked, its probe silent. Once per provider (its role and source), naming the
    task that uses it, or every task when several of those planned do."""
    by_provider: dict[tuple[str, str], list[Unchecked]] = {}
    for item in unchecked:
        by_provider.setdefault((item.spec.role, item.spec.source), []).append(item)
    for items in by_provider.values():
        names = [item.task for item in items]
        if len(names) == 1:
            logs.log.warning("%s", items[0].error.one_line(), task=names[0])
        else:
            logs.log.warning("%s (tasks %s)", items[0].error.one_line(), ", ".join(names))
