"""`dstream runs [TASK...]`: the recent runs of tasks (start, end, envelopes, result,
exit code, and by whom), read from the state store (which keeps the last RUN_HISTORY per task)."""

from __future__ import annotations

import argparse
import datetime

from dstream.cli.common import add_config_arguments, add_task_names, load_project_from_args
from dstream.cli.flags import number
from dstream.cli.view import View
from dstream.errors import EXIT_OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.cli.view import Row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_names(parser, "tasks to show (default: every task)")
    parser.add_argument("-n", "--last", type=number(int, at_least=1), default=20, metavar="N",
                        help="show the last N runs of each task (default: 20)")  # fmt: skip
    add_config_arguments(parser)


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.scope import STATE_BLOCK
    from dstream.state import open_store

    # It prints no checkpoint: the secrets that `state` needs to mask one are not asked.
    project = load_project_from_args(args, needed=STATE_BLOCK)
    # Every task defined, a task a template breaks too: its past runs are history.
    defined = project.names()
    names = list(args.tasks) or defined
    rows: list[Row] = []
    with open_store(project.state, project.base_dir) as store:
        for name in args.tasks:
            # A task gone from the file (a reload removed it) still has its history;
            # any other unknown name fails with its did-you-mean.
            if name not in defined and not store.runs(name):
                project.task(name)
        where = store.description
        for name in names:
            rows += [{"task": name, **run} for run in store.runs(name)[-args.last :]]
    if view.json:
        view.document({"store": where, "runs": rows})
        return EXIT_OK
    view.info(f"state: {where}")
    if not rows:
        view.line("no runs recorded")
        return EXIT_OK
    table = [("TASK", "STARTED (UTC)", "ENDED (UTC)", "ENVELOPES", "RESULT", "EXIT", "BY")]
    for r in rows:
        table.append(
            (
                r["task"],
                _when(r["started_at"]),
                _when(r["ended_at"]),
                f"{r.get('envelopes', 0):,}",
                str(r.get("result", "?")),
                str(r.get("exit_code", "?")),
                str(r.get("by", "-")),  # older rows name no one
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        view.line("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return EXIT_OK
