"""`dstream lint`: check configuration files and report every problem, not just the first."""

from __future__ import annotations

import argparse
import os

from dstream.cli.common import add_config_arguments
from dstream.cli.view import View
from dstream.config.diagnostics import Diagnostic, Diagnostics
from dstream.config.model import Location, Project
from dstream.errors import EXIT_OK, EXIT_USAGE, ConfigError
from dstream.records import replace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict", action="store_true", help="treat warnings (deprecated names, ...) as errors"
    )
    add_config_arguments(parser)


def _position(item: Diagnostic) -> tuple[str, int, int]:
    where = item.location
    return (where.file, where.line, where.column) if where else ("", 0, 0)


def _fail_broken_tasks(diagnostics: Diagnostics) -> None:
    """A task an unset environment variable breaks loads as a warning, so the file's
    other tasks run; but it cannot run itself: lint counts its problems as errors."""
    diagnostics.items = [
        replace(item, severity="error") if item.task is not None else item
        for item in diagnostics.items
    ]


def _check_providers_found(project: Project, diagnostics: Diagnostics) -> None:
    """Each provider_path run would start, found as run finds it (the same check, the
    same words). A warning: lint checks the files, which CI may do where the providers
    are not installed; run and plan refuse it (exit 2), and --strict fails on it."""
    from dstream.runtime.describe import executable_of

    for name in sorted(project.tasks):
        task = project.tasks[name]
        for spec in (task.input, task.output):
            try:
                executable_of(spec, project.base_dir, task=name, pull=False)
            except ConfigError as exc:
                where = exc.location if isinstance(exc.location, Location) else None
                diagnostics.warn(exc.reason, where, exc.hint)


def _check_provider_configs(project: Project, diagnostics: Diagnostics) -> None:
    """Each provider's config against the schema it describes (never pulling a
    provider_ref: one not pulled yet is checked by plan and run). One whose probe did
    not answer is a warning: its config was not checked, which --strict fails on."""
    from dstream.runtime.describe import check_configs

    check = check_configs(project, sorted(project.tasks), pull=False)
    for problem in check.problems:
        diagnostics.error(problem)
    for item in check.unchecked:
        where = item.error.location if isinstance(item.error.location, Location) else None
        diagnostics.warn(item.error.reason, where, item.error.hint)


def _check_references(project: Project, diagnostics: Diagnostics) -> None:
    """Each provider_ref parsed as a pull would parse it (nothing is pulled)."""
    from dstream.oci.reference import BadReference, parse_reference
    from dstream.runtime.resolve import ref_site

    for name in sorted(project.tasks):  # a task that cannot be used is not among them
        task = project.tasks[name]
        for spec in (task.input, task.output):
            try:
                if spec.provider_ref:
                    parse_reference(spec.provider_ref)
            except BadReference as exc:
                where = ref_site(spec, name)
                diagnostics.error(
                    ConfigError(f"{where}: {exc.reason}", location=spec.location, hint=exc.hint)
                )


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.config.loader import analyze
    from dstream.config.scope import NOWHERE

    # As `terraform validate`: no value is needed; what needs one unset is said unchecked.
    environ = dict(os.environ)
    result = analyze(args.config, list(args.var), list(args.var_file), environ, needed=NOWHERE)
    diagnostics = result.diagnostics
    _fail_broken_tasks(diagnostics)
    if result.evaluated is not None:  # every task that evaluated, whatever failed elsewhere
        _check_providers_found(result.evaluated, diagnostics)
        _check_references(result.evaluated, diagnostics)
        _check_provider_configs(result.evaluated, diagnostics)
    failed = bool(diagnostics.errors) or (args.strict and bool(diagnostics.warnings))
    tasks = result.project.names() if result.project else []
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
