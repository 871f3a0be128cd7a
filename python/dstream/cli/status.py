"""`dstream status TASK...`: the tasks' resources, whether they exist, and what the
providers report about them (e.g. messages waiting in a queue). Changes nothing. A
resource there but not usable as it is (`"usable": false`: a replication slot the server
invalidated) fails the command, exit 1, with the provider's reason and fix.
With the postgres state, also who runs each task (its lease holder) and since when.

Where each task's state is and its checkpoint are part of the answer: a state store
that cannot be read fails the command (exit 1; 2 for a missing extra) with its error,
in both modes, before any provider is asked."""

from __future__ import annotations

import argparse
import time

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.lifecycle_view import leases_of, state_of
from dstream.cli.view import View
from dstream.config.model import Project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    tasks = load_tasks(args)
    project, names = tasks
    for name in names:
        state_of(project, name)  # raises what makes the state unreadable
    code = run_command(args, view, "status", tasks)
    if not view.json:
        for line in _run_by(*tasks):
            view.line(line)
    return code


def _run_by(project: Project, names: list[str]) -> list[str]:
    """One line per task: the agent or run holding its lease, and since when."""
    lines = []
    for name, lease in leases_of(project, names).items():
        if lease is None:
            lines.append(f"{name}: not running")
            continue
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lease["acquired_at"]))
        lines.append(
            f"{name}: run by {lease['owner']} since {since} (lease epoch {lease['epoch']})"
        )
    return lines
