"""`dstream list`: the tasks of the configuration and where their providers come from."""

from __future__ import annotations

import argparse

from dstream.cli.common import add_config_arguments, load_project_from_args
from dstream.cli.view import View
from dstream.config.model import ProviderSpec
from dstream.errors import EXIT_OK

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


def execute(args: argparse.Namespace, view: View) -> int:
    project = load_project_from_args(args)
    rows: list[Row] = [
        {
            "name": task.name,
            "input": _source(task.input),
            "output": _source(task.output),
            "location": str(task.location) if task.location else None,
        }
        for task in sorted(project.tasks.values(), key=lambda t: t.name)
    ]
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
        view.line(
            f"{row['name']:<{width}}  {row['input']['source']:<{in_width}}  "
            f"{row['output']['source']}"
        )
    return EXIT_OK
