"""`dstream destroy [TASK...]`: remove what `init` created (output first, then input).
Removing what is already gone succeeds. Like `terraform destroy`, it first shows what
would go and asks for `yes`; `--auto-approve` skips that (and is required when stdin is
not a terminal, and with --json). An answer other than `yes` cancels: nothing is
removed, exit 1.

The stored checkpoint is kept unless `--drop-state` (a queue or slot removed by destroy
may make it meaningless, but dropping it is the user's call); the last lines say which.
"""

from __future__ import annotations

import argparse
import sys

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View
from dstream.config.model import Project
from dstream.errors import EXIT_FAILURE, EXIT_OK, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="destroy without showing the plan and asking for 'yes'",
    )
    state = parser.add_mutually_exclusive_group()
    state.add_argument(
        "--keep-state",
        dest="drop_state",
        action="store_false",
        default=False,
        help="keep the stored checkpoint (the default)",
    )
    state.add_argument(
        "--drop-state",
        dest="drop_state",
        action="store_true",
        help="forget the stored checkpoint once the infrastructure is gone",
    )


def _state(project: Project, names: list[str], drop: bool, view: View) -> None:
    from dstream.state import open_store

    with open_store(project.state, project.base_dir) as store:
        for name in names:
            if drop:
                had = store.reset(name)
                view.note(
                    f'state of task "{name}": checkpoint dropped (--drop-state); '
                    "the next run starts from the beginning"
                    if had
                    else f'state of task "{name}": no checkpoint stored, nothing to drop'
                )
            elif store.get(name) is not None:
                view.note(
                    f'state of task "{name}": checkpoint kept in {store.description} '
                    "(--drop-state forgets it)"
                )


def _refuse_to_ask(view: View) -> None:
    """Without --auto-approve destroy asks for `yes` on the terminal, unless it cannot:
    with --json (its stdout is one document, not a conversation) or without a terminal.
    The error says which of the two."""
    if view.json:
        why = "with --json destroy does not ask for a confirmation"
        flags = " --json"
    elif not sys.stdin.isatty():
        why = "there is no terminal to ask on"
        flags = ""
    else:
        return
    raise UsageError(
        f"destroy needs a confirmation, and {why}",
        hint="review with `dstream plan --destroy TASK`, then run "
        f"`dstream destroy TASK --auto-approve{flags}`",
    )


def execute(args: argparse.Namespace, view: View) -> int:
    tasks = load_tasks(args)
    if not args.auto_approve:
        _refuse_to_ask(view)
        code = run_command(args, view, "plan", tasks, destroy=True, quiet_success=True)
        if code != EXIT_OK:
            return code
        view.err.write("\nDo you really want to destroy all of the resources above?\n")
        view.err.write("  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
        view.err.flush()
        if sys.stdin.readline().strip() != "yes":
            view.err.write("\nDestroy cancelled: nothing was removed.\n")
            view.err.flush()
            return EXIT_FAILURE
    code = run_command(args, view, "destroy", tasks)
    if code == EXIT_OK:
        _state(tasks[0], tasks[1], args.drop_state, view)
    return code
