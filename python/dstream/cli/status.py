"""`dstream status TASK...`: the tasks' resources, whether they exist, and what the
providers report about them (e.g. messages waiting in a queue). Changes nothing.
With the postgres state, also who runs each task (its lease holder) and since when."""

from __future__ import annotations

import argparse
import time

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View
from dstream.config.model import Project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    tasks = load_tasks(args)
    code = run_command(args, view, "status", tasks)
    if not view.json:
        for line in _run_by(*tasks):
            view.line(line)
    return code


def _run_by(project: Project, names: list[str]) -> list[str]:
    """One line per task: the agent or run holding its lease, and since when."""
    if project.state.backend != "postgres":
        return []
    from dstream.state import open_store

    with open_store(project.state, project.base_dir) as store:
        leases = {row.task: row for row in store.leases()}  # type: ignore[attr-defined]
    lines = []
    for name in names:
        row = leases.get(name)
        if row is None or row.expires_in <= 0:
            lines.append(f"{name}: not running")
            continue
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.acquired_at))
        lines.append(f"{name}: run by {row.owner} since {since} (lease epoch {row.epoch})")
    return lines
