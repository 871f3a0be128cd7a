"""`dstream show [TASK]`: the task fully evaluated (locals, variables, env), as JSON; with
no name, the only task of a one-task file.

Secrets are redacted unless --show-secrets: values of sensitive variables wherever they
appear, and values under keys like password, secret, token, key or connection string.
"""

from __future__ import annotations

import argparse

from dstream.cli.common import ONLY_TASK, add_config_arguments, load_project_from_args, one_task
from dstream.cli.view import View
from dstream.errors import EXIT_OK, UsageError
from dstream.protocol.values import encode_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "task", nargs="?", metavar="TASK", help=f"the task to show (default: {ONLY_TASK})"
    )
    # More task names: a usage error saying show takes one (`execute`), rather than
    # argparse's unrecognized words; not in the usage, which shows one TASK.
    parser.add_argument("more_tasks", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument(
        "--show-secrets", action="store_true", help="print secret values instead of ***"
    )
    add_config_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.redact import shown_task

    if args.more_tasks:
        raise UsageError(
            f"show takes one task, not {1 + len(args.more_tasks)}",
            hint="run `dstream show TASK` for each",
        )
    project = load_project_from_args(args)
    task = project.task(one_task(project, args.task))
    document = shown_task(project, task, show_secrets=args.show_secrets)
    reveal = bool(args.show_secrets)  # the one output that skips the redactor
    if view.json:
        view.document(document, reveal=reveal)
    else:
        # The human form is JSON too: it is what the providers receive.
        view.line(encode_json(document, indent=True).decode(), reveal=reveal)
    for warning in project.warnings:
        view.info(f"warning: {warning}")
    return EXIT_OK
