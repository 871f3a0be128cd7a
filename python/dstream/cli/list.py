"""`dstream list`: the tasks of the configuration and where their providers come from."""

from __future__ import annotations

import argparse

from dstream.cli.common import add_config_arguments, load_project_from_args
from dstream.cli.view import View
from dstream.config.model import ProviderSpec
from dstream.errors import EXIT_OK, DstreamError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.cli.view import Row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def _source(spec: ProviderSpec) -> dict[str, str]:
    for kind in ("provider_path", "provider_ref", "provider_image"):
        value = getattr(spec, kind)
        if value:
            return {"kind": kind.replace("provider_", ""), "source": value}
    return {"kind": "none", "source": ""}


def _broken(name: str, error: Exception) -> Row:
    """A task that cannot be used (the loader warned why): listed, with the reason."""
    location = getattr(error, "location", None)
    message = error.reason if isinstance(error, DstreamError) else str(error)
    none = {"kind": "none", "source": ""}
    return {"name": name, "input": none, "output": none,
            "location": str(location) if location else None, "error": message}  # fmt: skip


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.scope import NOWHERE

    project = load_project_from_args(args, needed=NOWHERE)  # it reads no store
    rows: list[Row] = [
        {
            "name": task.name,
            "input": _source(task.input),
            "output": _source(task.output),
            "location": str(task.location) if task.location else None,
            "error": None,
        }
        for task in project.tasks.values()
    ]
    rows += [_broken(name, error) for name, error in project.broken.items()]
    rows.sort(key=lambda row: row["name"])
    if view.json:
        view.document({"tasks": rows})
        return EXIT_OK
    if not rows:
        view.info("no tasks defined")
        return EXIT_OK
    width = max(len("TASK"), *(len(r["name"]) for r in rows))
    in_width = max(len("INPUT"), *(len(r["input"]["source"]) for r in rows))
    view.line(f"{'TASK':<{width}}  {'INPUT':<{in_width}}  OUTPUT")
    for row in rows:
        if row["error"] is not None:
            view.line(f"{row['name']:<{width}}  (cannot be used: {row['error']})")
            continue
        view.line(
            f"{row['name']:<{width}}  {row['input']['source']:<{in_width}}  "
            f"{row['output']['source']}"
        )
    return EXIT_OK
