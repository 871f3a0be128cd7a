"""`dstream state list|show|set|reset`: inspect and edit the stored checkpoints.

The store is the one the `state` block of dstream.hcl names (default: the file store
in .dstream/state beside the configuration); with no configuration at all, the default
file store under the current directory. Editing the state of a task that is running
has no lasting effect: the run overwrites it with its next acknowledged checkpoint.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from typing import Optional

from dstream import logs
from dstream.cli.common import (
    ONLY_TASK,
    add_config_arguments,
    apply_state_dir,
    load_project_from_args,
    one_task,
)
from dstream.cli.globalflags import add_json_argument
from dstream.cli.view import View
from dstream.config.model import Project
from dstream.config.redact import redact_cut
from dstream.errors import DstreamError, ExitCode, UsageError, nearest
from dstream.protocol.values import Fragment, decode_json
from dstream.state import StateRecord, StateStore, open_store
from dstream.state.base import Unreadable, UnreadableRecord, encode_checkpoint

_SHOWN_WIDTH = 60  # a checkpoint longer than this is cut in `list`


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_, description=help_)
        add_json_argument(sub, keep_earlier=True)
        add_config_arguments(sub)
        return sub

    action("list", "list the tasks that have a stored checkpoint")
    show = action("show", "print a task's stored checkpoint")
    show.add_argument("task", nargs="?", metavar="TASK", help=f"the task (default: {ONLY_TASK})")
    # The input's stored digest is kept: which source the value is a position in is the
    # user's to say, by `run --resume-changed` (docs/delivery.md, `dstream state`).
    set_ = action(
        "set",
        "replace a task's checkpoint: the next run resumes from it, unless the task's input "
        "changed since the last run (then only with `run --resume-changed`)",
    )
    set_.add_argument("task", metavar="TASK")
    set_.add_argument(
        "value", metavar="JSON", help="the checkpoint as JSON, or - to read it from stdin"
    )
    reset = action("reset", "forget a task's checkpoint (the next run starts from scratch)")
    reset.add_argument("task", metavar="TASK")
    for sub in (set_, reset):
        sub.add_argument(
            "--force",
            action="store_true",
            help="act even if the task is not defined in the configuration",
        )


def _has_config(args: argparse.Namespace) -> bool:
    return bool(args.config or os.environ.get("DSTREAM_CONFIG") or os.path.exists("dstream.hcl"))


def _open(args: argparse.Namespace) -> tuple[Optional[Project], StateStore]:
    if not _has_config(args):
        project = Project(tasks={}, base_dir=os.getcwd())
        apply_state_dir(project, args)
        return None, open_store(project.state, project.base_dir)
    from dstream.config.scope import STORED

    project = load_project_from_args(args, needed=STORED)
    return project, open_store(project.state, project.base_dir)


def _check_task(
    project: Optional[Project], task: str, force: bool, *, takes_force: bool = True
) -> None:
    """Catch typos: a checkpoint for a task the configuration does not define would never
    be read. `takes_force`: whether the action has --force (the hint offers it then)."""
    if project is None or force or task in project.names():
        return
    guess = nearest(task, project.names())
    known = ", ".join(project.names()) or "none"
    hint = f"did you mean {guess!r}? " if guess else ""
    anyway = "; pass --force to use this name anyway" if takes_force else ""
    raise UsageError(
        f"no task named {task!r} in the configuration",
        hint=f"{hint}tasks defined: {known}{anyway}",
    )


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _document(record: StateRecord) -> dict[str, object]:
    return {**record.to_dict(), "updated": _when(record.updated_at)}


def _parse_value(task: str, text: str) -> bytes:
    """The checkpoint's JSON text, kept byte for byte (a checkpoint is opaque)."""
    if text == "-":
        text = sys.stdin.read()
        if not text.strip():  # /dev/null, or closed (cli/entry.py opens it on /dev/null)
            raise UsageError(
                "no checkpoint on stdin: it is empty",
                hint="pipe the checkpoint in, e.g. echo '{\"seq\": 100}' | "
                f"dstream state set {task} -; or give it as the argument instead of -",
            )
    try:
        raw = encode_checkpoint("", text.encode())
    except DstreamError:
        try:
            decode_json(text)
            why = "it is not one JSON value"
        except ValueError as exc:
            why = str(exc)
        raise UsageError(
            f"the checkpoint is not valid JSON: {why}",
            hint="quote it for the shell, e.g. dstream state set TASK '{\"seq\": 100}'; "
            "a string needs JSON quotes too: '\"abc\"'",
        ) from None
    _refuse_ambiguous(text)
    if raw == b"null":
        # The protocol has no null checkpoint (docs/protocol.md): handed back as
        # "state": null it would tell the input to start from the beginning.
        raise UsageError(
            "a checkpoint cannot be null: an input reads a null state as "
            '"start from the beginning", which is what having no checkpoint means',
            hint=f"to make task {task!r} start from the beginning, run "
            f"`dstream state reset {task}`",
        )
    return raw


class _RepeatedKey(ValueError):
    """A key met twice in one object of a checkpoint (raised by _unique_keys)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise _RepeatedKey(key)
        found[key] = value
    return found


def _refuse_ambiguous(text: str) -> None:
    """Refuse JSON that readers disagree on, as a configuration's values are refused: a
    number beyond a double (one reader keeps it, another makes it inf or null; the check
    of config/numbers.py) and a key twice in one object (which value wins depends on the
    reader). The input, not dstream, reads the checkpoint."""
    import json

    from dstream.config.numbers import NUMBER_HINT, BadNumber, parse_number

    try:
        json.loads(text, parse_int=parse_number, parse_float=parse_number,
                   object_pairs_hook=_unique_keys)  # fmt: skip
    except BadNumber as exc:
        raise UsageError(
            f"the checkpoint is not valid here: {exc.reason}", hint=NUMBER_HINT
        ) from None
    except RecursionError:
        raise UsageError(
            "the checkpoint is not valid here: it is nested too deep",
            hint="a checkpoint is an input's position: flatten it",
        ) from None
    except _RepeatedKey as exc:
        raise UsageError(
            f"the checkpoint is not valid here: the key {exc.key!r} appears twice in one object",
            hint="keep one of the two: the input would read one or the other",
        ) from None


def execute(args: argparse.Namespace, view: View) -> int:
    project, store = _open(args)
    try:
        if args.action == "list":
            return _list(project, store, view)
        if args.action == "show":
            return _show(project, store, view, _shown_task(project, args.task))
        _check_task(project, args.task, args.force)
        if project is None:  # an operator in the wrong directory is told, not only obeyed
            view.note(
                f"no configuration here (dstream.hcl, -c or DSTREAM_CONFIG): the task name "
                f"is not checked against one; the state is {store.description}"
            )
        if args.action == "set":
            return _set(store, view, args.task, _parse_value(args.task, args.value))
        return _reset(store, view, args.task)
    finally:
        store.close()


_UNREADABLE_HINT = (
    "fix or remove the file(s) above (each error says how), or replace a task's record "
    "with `dstream state set TASK JSON`; the other tasks are listed below"
)
# When one of them is no record at all (a directory): `state set` cannot replace it.
_NOT_A_RECORD_HINT = (
    "remove or fix the file(s) above (each error says how); the other tasks are listed below"
)


def _say_unreadable(view: View, unreadable: list[Unreadable]) -> None:
    """The records `list` could not read: an error each (with its task, when known, in
    a record), then what to do."""
    if view.json or not unreadable:
        return
    hint = _UNREADABLE_HINT if all(i.replaceable for i in unreadable) else _NOT_A_RECORD_HINT
    if view.records:  # the hint a field of each, as an error block's record has it
        for item in unreadable:
            view.record(logs.ERROR, item.reason, task=item.task, fields={"hint": hint})
        return
    for item in unreadable:  # the reason names the file
        view.info(f"error: {item.reason}")
    view.info(f"  hint: {hint}")


def _list(project: Optional[Project], store: StateStore, view: View) -> int:
    """Every stored checkpoint; a record that cannot be read is flagged as such (run
    fails on it), the others are still listed, and the exit status says the listing is
    incomplete."""
    records = store.tasks()
    unreadable = store.unreadable()
    code = ExitCode.FAILURE if unreadable else ExitCode.OK
    broken = sorted({item.task for item in unreadable if item.task is not None})
    stored = {record.task for record in records}.union(broken)
    without = sorted(set(project.names()) - stored) if project else []
    if view.json:
        view.document(
            {
                "store": store.description,
                "tasks": [_document(record) for record in records],
                "without_checkpoint": without,
                "unreadable": [
                    {"task": item.task, "where": item.where, "reason": item.reason}
                    for item in unreadable
                ],
            }
        )
        return code
    view.info(f"state: {store.description}")
    _say_unreadable(view, unreadable)
    if not records and not broken and not without:
        view.line("no stored checkpoints")
        return code
    width = max([len(name) for name in [*stored, *without]] + [4])
    view.line(f"{'TASK':<{width}}  {'SEQ':>6}  {'UPDATED':<20}  CHECKPOINT")
    for record in records:
        shown = redact_cut(record.raw.decode("utf-8", "replace"), _SHOWN_WIDTH, "...")
        view.line(
            f"{record.task:<{width}}  {record.sequence:>6}  {_when(record.updated_at):<20}  {shown}"
        )
    for task in broken:
        view.line(f"{task:<{width}}  {'-':>6}  {'-':<20}  (unreadable: see the error above)")
    for task in without:
        view.line(f"{task:<{width}}  {'-':>6}  {'-':<20}  (none: starts from the beginning)")
    return code


def _shown_task(project: Optional[Project], task: Optional[str]) -> str:
    """The task `state show` reads: the one named, or the only task of a one-task file."""
    if project is not None:
        return one_task(project, task)
    if task is None:
        raise UsageError(
            "no task given, and no configuration here to take the only task of "
            "(dstream.hcl, -c or DSTREAM_CONFIG)",
            hint="name the task: `dstream state show TASK` (`dstream state list` lists them)",
        )
    return task


def _show(project: Optional[Project], store: StateStore, view: View, task: str) -> int:
    record = store.get(task)
    if record is None and project is not None and task not in project.tasks:
        _check_task(project, task, force=False, takes_force=False)
    if view.json:
        if record is None:
            view.document({"task": task, "stored": False, "checkpoint": None})
        else:
            view.document({**_document(record), "stored": True})
        return ExitCode.OK
    if record is None:
        said = "no stored checkpoint: its next run starts from the beginning"
        view.info(f"task {task!r} has {said}", task=task, record=said)
        return ExitCode.OK
    said = (
        f"checkpoint #{record.sequence}, stored {_when(record.updated_at)} in {store.description}"
    )
    view.info(f"task {task!r}: {said}", task=task, record=said)
    view.line(record.raw.decode("utf-8", "replace"))  # exactly as stored
    return ExitCode.OK


def _previous(store: StateStore, view: View, task: str) -> Optional[StateRecord]:
    """The task's record before `set` replaces it; one that cannot be read is removed
    first (what its error's hint offers: `put` would not write over it), and said so."""
    try:
        return store.get(task)
    except UnreadableRecord as exc:
        view.info(f"replacing an unreadable record: {exc.reason}", task=task, level=logs.WARNING)
        store.reset(task)
        return None


def _set(store: StateStore, view: View, task: str, value: bytes) -> int:
    # a running task would overwrite it at its next acknowledgement: refuse instead
    with store.hold_run(task):
        previous = _previous(store, view, task)
        store.put(task, value)
        record = store.get(task)
    if view.json:
        view.document(
            {
                **(_document(record) if record else {"task": task, "checkpoint": Fragment(value)}),
                "previous": Fragment(previous.raw) if previous else None,
                "had_previous": previous is not None,
            }
        )
        return ExitCode.OK
    if previous is not None:
        view.info(f"previous checkpoint: {previous.raw.decode('utf-8', 'replace')}", task=task)
    view.line(f"task {task!r}: checkpoint set to {value.decode()}")
    return ExitCode.OK


def _reset(store: StateStore, view: View, task: str) -> int:
    with store.hold_run(task):
        try:
            previous = store.get(task)
        except UnreadableRecord as exc:  # removed all the same: what its error's hint offers
            view.info(f"removing an unreadable record: {exc.reason}", task=task, level=logs.WARNING)
            previous = None
        removed = store.reset(task)
    if view.json:
        view.document(
            {
                "task": task,
                "reset": removed,
                "previous": Fragment(previous.raw) if previous else None,
            }
        )
        return ExitCode.OK
    if not removed:
        view.line(f"task {task!r} had no stored checkpoint; nothing to reset")
        return ExitCode.OK
    if previous is not None:  # so a mistaken reset can be undone with `state set`
        view.info(f"previous checkpoint: {previous.raw.decode('utf-8', 'replace')}", task=task)
    view.line(f"task {task!r}: checkpoint reset; its next run starts from the beginning")
    return ExitCode.OK
