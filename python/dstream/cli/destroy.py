"""`dstream destroy TASK...`: remove what `init` created (output first, then input).
Removing what is already gone succeeds. `dstream plan --destroy` shows it beforehand."""

from __future__ import annotations

import argparse

from dstream.cli.init import add_lifecycle_arguments, run_command
from dstream.cli.view import View


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)


def execute(args: argparse.Namespace, view: View) -> int:
    return run_command(args, view, "destroy")
