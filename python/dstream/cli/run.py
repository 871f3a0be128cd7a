"""`dstream run TASK...`: stream until the input ends or a signal stops it."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from dstream import logs
from dstream.cli.common import add_config_arguments, load_project_from_args
from dstream.cli.view import View
from dstream.config.model import Project, StateSpec
from dstream.errors import EXIT_OK, ExitCode, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", nargs="*", metavar="TASK", help="tasks to run side by side")
    parser.add_argument("--all", action="store_true", help="run every task in the configuration")
    parser.add_argument(
        "--fail-fast", action="store_true", help="stop every task when one of them fails"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    parser.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        help="serve Prometheus /metrics and /healthz (overrides the metrics block)",
    )
    parser.add_argument(
        "--standby",
        action="store_true",
        help="if another run holds a task, wait and take over when its lease ends",
    )
    add_config_arguments(parser)


def _builtin_demo(args: argparse.Namespace) -> bool:
    """`dstream run demo` with no configuration at all runs the built-in demo."""
    no_config = not (
        args.config or os.environ.get("DSTREAM_CONFIG") or os.path.exists("dstream.hcl")
    )
    return bool(args.tasks == ["demo"] and no_config)


def _load(args: argparse.Namespace) -> Project:
    if _builtin_demo(args):
        from dstream.config.loader import load_builtin_demo

        return load_builtin_demo()
    return load_project_from_args(args)


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.runtime.monitor import Monitor
    from dstream.runtime.pipeline import RunHooks
    from dstream.runtime.runner import run_tasks
    from dstream.runtime.summary import render_summaries

    project = _load(args)
    for warning in project.warnings:
        logs.log.warning("%s", warning)
    names = sorted(project.tasks) if args.all else list(args.tasks)
    if not names:
        raise UsageError(
            "no task given",
            hint="name one or more tasks (`dstream list` shows them), or pass --all",
        )
    hooks = RunHooks()
    if view.json:  # stdout carries the one JSON document: the output's lines go aside
        hooks.on_output_line = lambda line: view.info(line.decode("utf-8", "replace"))
    monitor = Monitor(names)
    with contextlib.ExitStack() as stack:
        if _builtin_demo(args):  # the demo shows the counter every time: no state kept
            import tempfile

            project.state = StateSpec(path=stack.enter_context(tempfile.TemporaryDirectory()))
        addr = args.metrics_addr or project.metrics.addr
        if addr:
            from dstream.runtime.metrics import MetricsServer

            server = stack.enter_context(MetricsServer(monitor, addr))
            logs.log.info("metrics on http://%s/metrics", server.address)
        if view.interactive and not args.quiet:
            from dstream.runtime.progress import Progress

            progress = stack.enter_context(Progress(monitor))
            if sys.stdout.isatty():
                hooks.on_output_line = progress.print_line
        summaries = run_tasks(
            project,
            names,
            hooks=hooks,
            fail_fast=args.fail_fast,
            monitor=monitor,
            reload=lambda: _load(args),  # SIGHUP
            standby=args.standby,
        )
    render_summaries(summaries, view, quiet=args.quiet)
    codes = [s.error.exit_code for s in summaries if s.error is not None]
    if not codes:
        return EXIT_OK
    stopped = (ExitCode.INTERRUPTED, ExitCode.TERMINATED)  # 130 / 143: by a signal
    failed = [c for c in codes if c not in stopped]
    return failed[0] if failed else codes[0]
