"""`dstream init TASK...`: create what the tasks' providers need (idempotent).

This module also holds what the four lifecycle commands share (init, plan, status,
destroy): their arguments, running them over tasks, and rendering the results the way
Terraform users read them."""

from __future__ import annotations

import argparse
from typing import Any

from dstream.cli.common import add_config_arguments, load_project_from_args
from dstream.cli.view import View
from dstream.config.model import Project
from dstream.errors import EXIT_FAILURE, EXIT_OK, UsageError

SYMBOLS = {"create": "+", "delete": "-", "update": "~"}
COLORS = {"create": "\033[32m", "delete": "\033[31m", "update": "\033[33m"}
RESET = "\033[0m"
PAST = {"create": "created", "delete": "destroyed", "update": "changed"}


def add_lifecycle_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", nargs="*", metavar="TASK", help="tasks to act on")
    parser.add_argument("--all", action="store_true", help="every task in the configuration")
    parser.add_argument(
        "--timeout",
        type=float,
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
    project, names = load_tasks(args)
    if args.pull:
        from dstream.runtime.prefetch import pull_task_providers

        for name in names:
            for pulled in pull_task_providers(project.task(name), refresh=args.refresh):
                what = pulled.get("reference") or pulled.get("image")
                view.info(f"pulled {pulled['role']} {what}")
    return run_command(args, view, "init", (project, names))


def load_tasks(args: argparse.Namespace) -> tuple[Project, list[str]]:
    """The project and the task names the command acts on; an unknown name fails here,
    before anything is changed."""
    project = load_project_from_args(args)
    names = sorted(project.tasks) if args.all else list(args.tasks)
    if not names:
        raise UsageError(
            "no task given", hint="name one or more tasks (`dstream list` shows them), or --all"
        )
    for name in names:
        project.task(name)
    return project, names


def run_command(
    args: argparse.Namespace,
    view: View,
    command: str,
    tasks: tuple[Project, list[str]],
    destroy: bool = False,
) -> int:
    """Run `command` over `tasks` (what `load_tasks(args)` returned)."""
    from dstream.runtime.lifecycle import run_lifecycle

    project, names = tasks
    reports = []
    for name in names:
        report = run_lifecycle(project, name, command, destroy=destroy, timeout=args.timeout)
        reports.append(report)
        if not view.json:
            render(report, view)
    ok = all(r.ok for r in reports)
    if view.json:
        doc: dict[str, Any] = {
            "ok": ok,
            "command": command,
            "destroy": destroy,
            "tasks": [r.to_dict() for r in reports],
        }
        if not ok:
            doc["errors"] = [f.error for r in reports for f in r.failures]
        view.document(doc)
    else:
        for report in reports:
            for failure in report.failures:
                view.err.write(f"error: task {report.task!r}: {failure.error}\n")
                for line in failure.stderr_tail[-10:]:
                    view.err.write(f"  | {line}\n")
        if not ok:
            view.err.write(
                "  hint: fix the cause and run the command again; init and destroy are "
                "idempotent, so what already succeeded is not repeated\n"
            )
            view.err.flush()
    return EXIT_OK if ok else EXIT_FAILURE


# -- rendering -------------------------------------------------------------------------------


def _paint(action: str, text: str, color: bool) -> str:
    return f"{COLORS.get(action, '')}{text}{RESET}" if color else text


def _item(resource: Any) -> dict[str, Any]:
    """A resource as the contract shapes it; the original's plain strings name a
    resource the provider reports as there."""
    if isinstance(resource, dict):
        return resource
    return {"type": "resource", "name": str(resource), "exists": True}


def _address(item: dict[str, Any]) -> str:
    kind = item.get("type") or "resource"
    return f"{kind}.{item.get('name', '?')}"


def _details(details: Any) -> str:
    if not isinstance(details, dict):
        return "" if details is None else str(details)
    return " ".join(f"{k}={v}" for k, v in details.items() if v is not None)


def render(report: Any, view: View) -> None:
    from dstream.runtime.lifecycle import FAILED, NO_INFRASTRUCTURE, SKIPPED

    color = view.out.isatty() if hasattr(view.out, "isatty") else False
    title = "plan (destroy)" if report.destroy else report.command
    view.line(f'Task "{report.task}": {title}')
    view.line()
    if report.command == "status":
        _render_status(report, view)
    else:
        for p in report.providers:
            if p.outcome == NO_INFRASTRUCTURE:
                view.line(f"  {p.label}: no infrastructure (does not declare lifecycle)")
                continue
            if p.outcome == SKIPPED:
                view.line(f"  {p.label}: not asked (the other provider failed first)")
                continue
            changes = p.result.changes if p.result else []
            note = "failed" if p.outcome == FAILED else (p.result.message if p.result else "")
            view.line(f"  {p.label}: {note}" if not changes else f"  {p.label}:")
            if p.original and not changes:
                for r in p.result.resources if p.result else []:
                    view.line(f"    {r}")
            for change in changes:
                action = str(change.get("action"))
                verb = "" if report.command == "plan" else PAST.get(action, action) + " "
                reason = f"  ({change['reason']})" if change.get("reason") else ""
                text = f"    {SYMBOLS.get(action, '?')} {verb}{_address(change)}{reason}"
                view.line(_paint(action, text, color))
    view.line()
    view.line(_summary(report))
    view.line()


def _summary(report: Any) -> str:
    counts = report.counts()
    if not any(counts.values()) and report.reported():
        # The original's shape lists resources and says nothing of what changed.
        return f"{report.command.capitalize()} done: {report.reported()} resource(s) reported."
    if report.command == "plan":
        if not any(counts.values()):
            return "No changes. The infrastructure matches the configuration."
        return (
            f"Plan: {counts['create']} to create, {counts['update']} to change, "
            f"{counts['delete']} to destroy."
        )
    if report.command == "status":
        missing = sum(
            1
            for p in report.providers
            if p.result
            for r in p.result.resources
            if not _item(r).get("exists")
        )
        return (
            f"{missing} resource(s) missing: run `dstream init {report.task}`."
            if missing
            else ("All resources exist.")
        )
    state = "complete" if report.ok else "stopped by an error"
    done = ", ".join(f"{n} {PAST[a]}" for a, n in counts.items() if n) or "nothing changed"
    return f"{report.command.capitalize()} {state}: {done}."


def _render_status(report: Any, view: View) -> None:
    from dstream.runtime.lifecycle import FAILED, NO_INFRASTRUCTURE

    rows = [("ROLE", "RESOURCE", "EXISTS", "DETAILS")]
    for p in report.providers:
        if p.outcome == NO_INFRASTRUCTURE:
            rows.append((p.role, "(no infrastructure)", "-", p.provider))
            continue
        if p.outcome == FAILED and not (p.result and p.result.resources):
            rows.append((p.role, "(unknown: status failed)", "?", p.provider))
            continue
        resources = p.result.resources if p.result else []
        if not resources:
            rows.append((p.role, "(none)", "-", p.result.message if p.result else ""))
        for r in map(_item, resources):
            exists = "yes" if r.get("exists") else "no"
            rows.append((p.role, _address(r), exists, _details(r.get("details"))))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        view.line("  " + "  ".join([*cells, row[3]]).rstrip())
