"""`dstream init TASK...`: create what the tasks' providers need (idempotent).

This module also holds what the four lifecycle commands share (init, plan, status,
destroy): their arguments, running them over tasks, and rendering the results the way
Terraform users read them."""

from __future__ import annotations

import argparse

from dstream.cli.common import (
    add_config_arguments,
    add_task_arguments,
    load_project_from_args,
    task_names,
)
from dstream.cli.flags import timeout_seconds
from dstream.cli.parsing import where_listed
from dstream.cli.view import View
from dstream.config.model import Project
from dstream.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.runtime.lifecycle import TaskLifecycle


def add_lifecycle_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser, "to act on")
    parser.add_argument(
        "--timeout",
        type=timeout_seconds,
        default=300.0,
        metavar="SECONDS",
        help="how long each provider may take to answer (default: 300)",
    )
    add_config_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifecycle_arguments(parser)
    parser.add_argument(
        "--pull", action="store_true", help="pull every provider_ref/provider_image first"
    )
    parser.add_argument("--refresh", action="store_true", help="with --pull: resolve tags again")


def execute(args: argparse.Namespace, view: View) -> int:
    if args.refresh and not args.pull:  # before anything is read or asked
        raise UsageError(
            "argument --refresh: only with --pull: it resolves again the tags of the "
            "providers --pull pulls, and does nothing alone",
            hint=f"add --pull (`dstream init --pull --refresh`), or leave --refresh out; "
            f"{where_listed('dstream init')}",
        )
    project, names = load_tasks(args)
    if args.pull:
        from dstream.runtime.prefetch import pull_task_providers

        for name in names:
            for pulled in pull_task_providers(project.task(name), refresh=args.refresh):
                view.info(_pull_line(pulled))
    return run_command(args, view, "init", (project, names))


def _pull_line(pulled: dict[str, object]) -> str:
    """What `init --pull` did for one provider: "pulled" only when something was
    fetched; a reference the cache served, or an image the engine already held (one
    built locally may have no registry behind it), is said to be that."""
    role = pulled["role"]
    if pulled["kind"] == "provider_image":
        if pulled["pulled"]:
            return f"pulled {role} {pulled['image']}"
        return f"{role} {pulled['image']} present in the engine (not pulled)"
    if pulled["from_cache"]:
        return f"cached {role} {pulled['reference']} (not pulled)"
    return f"pulled {role} {pulled['reference']}"


def load_tasks(args: argparse.Namespace) -> tuple[Project, list[str]]:
    """The project and the task names the command acts on; an unknown name fails here,
    before anything is changed."""
    project = load_project_from_args(args)
    return project, task_names(project, args)


def run_command(
    args: argparse.Namespace, view: View, command: str, tasks: tuple[Project, list[str]],
    destroy: bool = False,
) -> int:  # fmt: skip
    """Run `command` over `tasks` (what `load_tasks(args)` returned). Exit 0 when every
    provider answered, 1 when one failed; with `plan --detailed-exitcode`, 2 when the
    plan has changes."""
    return run_reports(args, view, command, tasks, destroy)[0]


def run_reports(
    args: argparse.Namespace,
    view: View,
    command: str,
    tasks: tuple[Project, list[str]],
    destroy: bool = False,
    *,
    quiet_success: bool = False,
) -> tuple[int, list[TaskLifecycle]]:
    """run_command's exit code, and what each task's providers reported."""
    from dstream.cli import lifecycle_view
    from dstream.runtime.lifecycle import run_lifecycle

    project, names = tasks
    reports = []
    for name in names:
        report = run_lifecycle(project, name, command, destroy=destroy, timeout=args.timeout)
        reports.append(report)
        if not view.json:
            lifecycle_view.render(report, view, project)
    ok = all(r.ok for r in reports)
    changes = any(r.changes() or r.undecided() for r in reports)
    code = EXIT_OK if ok else EXIT_FAILURE
    if ok and changes and command == "plan" and getattr(args, "detailed_exitcode", False):
        code = EXIT_USAGE  # 2: Terraform's "succeeded, and there are changes"
    if view.json:
        doc: dict[str, object] = {
            "ok": ok,
            "exit_code": int(code),
            "command": command,
            "destroy": destroy,
            "tasks": [lifecycle_view.task_document(r, project) for r in reports],
        }
        if not ok:
            doc["errors"] = [e.reason for r in reports for e in lifecycle_view.errors_of(r)]
        view.document(doc)
        return code, reports
    for report in reports:
        lifecycle_view.render_failures(report, view)
    if ok and not quiet_success:
        for report in reports:
            view.line(lifecycle_view.success_line(report))
    return code, reports
