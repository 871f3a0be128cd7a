"""`dstream lint`: check configuration files and report every problem, not just the first."""

from __future__ import annotations

import argparse
import os

from dstream.cli.common import add_config_arguments
from dstream.cli.view import View
from dstream.config.diagnostics import Diagnostic, Diagnostics
from dstream.config.model import Project
from dstream.errors import EXIT_OK, EXIT_USAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict", action="store_true", help="treat warnings (deprecated names, ...) as errors"
    )
    add_config_arguments(parser)


def _position(item: Diagnostic) -> tuple[str, int, int]:
    where = item.location
    return (where.file, where.line, where.column) if where else ("", 0, 0)


def _check_provider_configs(project: Project, diagnostics: Diagnostics) -> None:
    """Each provider's config against the schema it describes (never pulling a
    provider_ref: one not pulled yet is checked by plan and run)."""
    from dstream.runtime.describe import config_problems

    for problem in config_problems(project, sorted(project.tasks), pull=False):
        diagnostics.error(problem)


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.loader import analyze

    result = analyze(args.config, list(args.var), list(args.var_file), dict(os.environ))
    diagnostics = result.diagnostics
    if result.project is not None:
        _check_provider_configs(result.project, diagnostics)
    failed = bool(diagnostics.errors) or (args.strict and bool(diagnostics.warnings))
    tasks = sorted(result.project.tasks) if result.project else []
    if view.json:
        view.document(
            {
                "ok": not failed,
                "files": result.files,
                "tasks": tasks,
                "errors": len(diagnostics.errors),
                "warnings": len(diagnostics.warnings),
                "diagnostics": [d.to_dict() for d in diagnostics.items],
            }
        )
        return EXIT_USAGE if failed else EXIT_OK
    for item in sorted(diagnostics.items, key=_position):
        view.err.write(f"{item.severity}: {item}\n")
        if item.hint:
            view.err.write(f"  hint: {item.hint}\n")
    view.err.flush()
    counts = f"{len(diagnostics.errors)} error(s), {len(diagnostics.warnings)} warning(s)"
    if failed:
        view.info(f"lint failed: {counts}")
        return EXIT_USAGE
    files = ", ".join(result.files)
    view.line(f"ok: {files}: {len(tasks)} task(s), {counts}")
    return EXIT_OK
