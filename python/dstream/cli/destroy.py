"""`dstream destroy [TASK...]`: remove what `init` created (output first, then input).
Removing what is already gone succeeds. Like `terraform destroy`, it first shows what
would go and asks for `yes`; `--auto-approve` skips that (and is required with --json,
and when stdin is not a terminal and there is something to confirm). An answer other
than `yes` cancels: nothing is removed, exit 1. When the plan has nothing to destroy
(and no checkpoint is to be dropped) nothing is asked, as Terraform asks nothing after
"No changes", and no terminal is needed.

The stored checkpoint is kept unless `--drop-state` (a queue or slot removed by destroy
may make it meaningless, but dropping it is the user's call); the last lines say which.
The state store is read before anything is shown, asked or removed: one that cannot be
read fails the command there (exit 1; 2 for a missing extra), with nothing destroyed,
rather than after the infrastructure is gone. It holds the tasks' run locks throughout,
so a live run of one refuses it (exit 1) before anything is shown. With --json the one
document is written once the state step is done, so it says whether the whole command
did its job.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from dstream.cli.flags import terraform_spelling
from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command, run_reports
from dstream.cli.lifecycle_view import blind_words
from dstream.cli.view import View
from dstream.errors import EXIT_FAILURE, EXIT_OK, DstreamError, UsageError
from dstream.state.base import StateStore, UnreadableRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Optional

    from dstream.runtime.lifecycle import TaskLifecycle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)
    parser.add_argument(
        *terraform_spelling("--auto-approve"),
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


def _stored(store: StateStore, names: list[str]) -> dict[str, bool]:
    """Whether each task has a stored record. Reading them is also the check that the
    store works, before anything is destroyed."""
    found = {}
    for name in names:
        try:
            found[name] = store.get(name) is not None
        except UnreadableRecord:  # still a record: kept, or dropped, as asked
            found[name] = True
    return found


@contextlib.contextmanager
def _held(store: StateStore, names: list[str]) -> Iterator[None]:
    """The tasks' run locks for the whole command, as a run holds them (Terraform's
    state lock): a live run would write its checkpoint back over a dropped one, and
    lose its infrastructure under it. A task held elsewhere refuses the command before
    anything is shown, asked or removed (AlreadyRunning, exit 1)."""
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(store.hold_run(name))
        yield


def _state(store: StateStore, stored: dict[str, bool], drop: bool, view: View) -> None:
    for name, there in stored.items():
        if drop:
            had = store.reset(name)
            view.note(
                f'state of task "{name}": checkpoint dropped (--drop-state); '
                "the next run starts from the beginning"
                if had
                else f'state of task "{name}": no checkpoint stored, nothing to drop'
            )
        elif there:
            view.note(
                f'state of task "{name}": checkpoint kept in {store.description} '
                "(--drop-state forgets it)"
            )


def _refuse_json(view: View) -> None:
    """With --json destroy never asks (its stdout is one document, not a conversation):
    without --auto-approve it is refused before anything is shown or asked."""
    if view.json:
        raise UsageError(
            "destroy needs a confirmation, and with --json destroy does not ask for a confirmation",
            hint="review with `dstream plan --destroy TASK`, then run "
            "`dstream destroy TASK --auto-approve --json`",
        )


def _refuse_without_terminal(plan: list[TaskLifecycle]) -> None:
    """Called only when there is something to confirm: a plan of "No changes" (and no
    checkpoint to drop) needs no terminal, as it asks nothing on one. A plan with a
    blind provider (TaskLifecycle.blind) lists nothing of what it would remove: the
    hint says what destroy asks of it instead."""
    if sys.stdin.isatty():
        return
    blind = [p for report in plan for p in report.blind_ones()]
    if not blind:
        what = "the plan above is what it would remove"
    elif any(report.changes() for report in plan):
        what = f"the plan above lists what the others would remove; {blind_words(blind)}"
    else:
        what = blind_words(blind)
    raise UsageError(
        "destroy needs a confirmation, and there is no terminal to ask on",
        hint=f"{what}; to remove it, run `dstream destroy TASK --auto-approve`",
    )


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.state import open_store

    tasks = load_tasks(args)
    if not args.auto_approve:
        _refuse_json(view)
    project, names = tasks
    with open_store(project.state, project.base_dir) as store, _held(store, names):
        stored = _stored(store, names)
        if not args.auto_approve:
            code, plan = run_reports(args, view, "plan", tasks, destroy=True, quiet_success=True)
            if code != EXIT_OK:
                return code
            to_drop = args.drop_state and any(stored.values())
            if _changes(plan) or to_drop:
                _refuse_without_terminal(plan)
                if not _confirmed(view, plan):
                    return EXIT_FAILURE
        with view.held_documents() as held:
            code = run_command(args, view, "destroy", tasks)
        failure = None
        if code == EXIT_OK:
            try:
                _state(store, stored, args.drop_state, view)
            except DstreamError as exc:  # the infrastructure is gone: its lines said so
                failure = exc
    for doc in held:
        view.document(_with_failure(doc, failure))
    if failure is None:
        return code
    if not view.json:
        view.error_block(failure)
    return failure.exit_code


def _changes(plan: list[TaskLifecycle]) -> bool:
    """Whether the preview plan has anything to destroy, or does not say (then it is
    asked for as if it had). None: nothing is asked, as `terraform destroy` asks
    nothing after "No changes"; the destroy step still runs (idempotent) and says so."""
    return any(report.changes() or report.undecided() for report in plan)


def _confirmed(view: View, plan: list[TaskLifecycle]) -> bool:
    blind = [p for report in plan for p in report.blind_ones()]
    if not blind:
        view.err.write("\nDo you really want to destroy all of the resources above?\n")
    else:  # nothing above lists what they remove
        view.err.write(f"\nDo you really want to destroy? {blind_words(blind)}.\n")
    view.err.write("  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
    view.err.flush()
    if sys.stdin.readline().strip() == "yes":
        return True
    view.err.write("\nDestroy cancelled: nothing was removed.\n")
    view.err.flush()
    return False


def _with_failure(doc: object, failure: Optional[DstreamError]) -> object:
    """destroy's document, saying so when the state step failed after it was made."""
    if failure is None or not isinstance(doc, dict):
        return doc
    errors = [*doc.get("errors", []), failure.reason]
    return {
        **doc,
        "ok": False,
        "exit_code": failure.exit_code,
        "errors": errors,
        **failure.to_dict(),
    }
