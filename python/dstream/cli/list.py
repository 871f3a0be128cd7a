"""`dstream list`: the tasks of the configuration and where their providers come from."""

from __future__ import annotations

import argparse

from dstream.cli.common import add_config_arguments, load_project_from_args
from dstream.cli.view import View
from dstream.config.model import ProviderSpec, TaskSpec
from dstream.errors import EXIT_OK, DstreamError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.cli.view import Row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def _source(spec: ProviderSpec) -> Optional[dict[str, str]]:
    """Where the provider comes from; None when that is not known (a task that cannot
    be used, whose source needs what it lacks)."""
    for kind in ("provider_path", "provider_ref", "provider_image"):
        value = getattr(spec, kind)
        if value:
            return {"kind": kind.replace("provider_", ""), "source": value}
    return None


def _reason(error: Optional[Exception]) -> tuple[Optional[str], Optional[str]]:
    """What `error` says, and where (the template, the variable's declaration)."""
    if error is None:
        return None, None
    message = error.reason if isinstance(error, DstreamError) else str(error)
    location = getattr(error, "location", None)
    return message, str(location) if location else None


def _row(
    task: TaskSpec, error: Optional[Exception] = None, needs: Optional[Exception] = None
) -> Row:
    """A task's row; one that cannot be used (the loader warned why) with the reason,
    and the place of what it lacks (`error`); one whose providers' config needs a
    variable without a value, listed all the same, with what a run of it needs
    (`needs`: `run` refuses it until the variable has a value)."""
    message, error_location = _reason(error)
    needed, needs_location = _reason(needs)
    return {
        "name": task.name,
        "input": _source(task.input),
        "output": _source(task.output),
        "location": str(task.location) if task.location else None,
        "error": message,
        "error_location": error_location,
        "needs": needed,
        "needs_location": needs_location,
    }


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.scope import NOWHERE

    project = load_project_from_args(args, needed=NOWHERE)  # it reads no store
    rows = [_row(task, needs=project.incomplete.get(task.name)) for task in project.tasks.values()]
    rows += [_row(project.outlines[name], error) for name, error in project.broken.items()]
    rows.sort(key=lambda row: row["name"])
    if view.json:
        view.document({"tasks": rows})
        return EXIT_OK
    if not rows:
        view.info("no tasks defined")
        return EXIT_OK
    width = max([len("TASK"), *(len(r["name"]) for r in rows)])
    usable = [r for r in rows if r["error"] is None]
    in_width = max([len("INPUT"), *(len(r["input"]["source"]) for r in usable)])
    view.line(f"{'TASK':<{width}}  {'INPUT':<{in_width}}  OUTPUT")
    for row in rows:
        if row["error"] is not None:
            view.line(f"{row['name']:<{width}}  (cannot be used: {row['error']})")
            continue
        needs = f"  (run needs: {row['needs']})" if row["needs"] else ""
        view.line(
            f"{row['name']:<{width}}  {row['input']['source']:<{in_width}}  "
            f"{row['output']['source']}{needs}"
        )
    return EXIT_OK
