"""`dstream status TASK...`: the tasks' resources, whether they exist, and what the
providers report about them (e.g. messages waiting in a queue). Changes nothing."""

from __future__ import annotations

import argparse

from dstream.cli.init import add_lifecycle_arguments, load_tasks, run_command
from dstream.cli.view import View


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    return run_command(args, view, "status", load_tasks(args))
