"""`dstream agent`: run this host's share of the tasks, divided among the live agents
through the tasks' leases in the PostgreSQL state (docs/scaling.md)."""

from __future__ import annotations

import argparse
import contextlib

from dstream import logs
from dstream.cli.common import add_config_arguments, load_project_from_args
from dstream.cli.flags import metrics_address
from dstream.cli.view import View
from dstream.config.model import Project

# SIGHUP reloads it, also one that came while it started (cli/entry.py settle_hangup).
RELOADS = True
# SIGINT and SIGTERM drain its tasks, a stop Python dropped the first of them
# (runtime/signals.py; cli/entry.py settle_stops).
DRAINS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-addr",
        type=metrics_address,
        metavar="HOST:PORT",
        help="serve Prometheus /metrics and /healthz (overrides the metrics block)",
    )
    parser.add_argument(
        "--resume-changed",
        action="append",
        default=[],
        metavar="TASK",
        help="resume TASK from its stored checkpoint even though its input's configuration "
        "changed since it was stored: accepted once, when this agent first takes TASK "
        "(repeatable)",
    )
    add_config_arguments(parser)


def _load(args: argparse.Namespace) -> Project:
    """The configuration, at start and on SIGHUP (a reload)."""
    project = load_project_from_args(args)
    for name in project.broken:  # an agent runs its share of every task: as run --all
        project.task(name)
    for warning in project.warnings:
        logs.log.warning("%s", warning, task=warning.task)
    return project


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream.cli.run import again_options, render
    from dstream.runtime.agent import run_agent
    from dstream.runtime.monitor import Monitor
    from dstream.state import open_store

    project = _load(args)
    for name in args.resume_changed:  # a typo would accept nothing, silently
        project.task(name)
    monitor = Monitor([], agent=True)  # the agent adds the tasks it takes
    with contextlib.ExitStack() as stack:
        addr = args.metrics_addr or project.metrics.addr
        if addr:
            from dstream.runtime.metrics import MetricsServer

            where = None if args.metrics_addr else project.metrics.location
            server = stack.enter_context(MetricsServer(monitor, addr, where))
            logs.log.info("metrics on http://%s/metrics", server.address)
        store = stack.enter_context(open_store(project.state, project.base_dir))
        summaries, signum = run_agent(
            project, store, monitor, reload=lambda: _load(args), resume_changed=args.resume_changed
        )
    # Like `run`: the signal that stopped it is the exit code (143 SIGTERM, 130 SIGINT),
    # also when it held no task; a task that failed wins (render decides).
    return render(summaries, view, again=again_options(args), agent=True, signum=signum)
