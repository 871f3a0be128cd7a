"""`dstream run [TASK...]`: stream until the input ends or a signal stops it.

Every line printed is true and agrees with the exit code (runtime/summary.py derives
both from the same summaries): 0 only when every task's input ended and its output
finished; 130/143 when SIGINT/SIGTERM stopped it, also when the stop was forced or came
while a task waited to restart; the failing task's code otherwise (a task --fail-fast
stopped because another failed: 1, never a signal's).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from dstream import logs, stderr_dropped
from dstream.cli.common import (
    add_config_arguments,
    add_task_arguments,
    load_project_from_args,
    task_names,
)
from dstream.cli.entry import resume_collector
from dstream.cli.flags import metrics_address, number
from dstream.cli.view import View
from dstream.config.limits import MAX_DURATION
from dstream.config.model import Project, StateSpec
from dstream.errors import STOPPED, ExitCode, StderrLost, aside_lines_lost

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.runtime.pipeline import RunSummary
    from dstream.runtime.resume import Say
    from dstream.runtime.runner import Held, Prepare
    from dstream.state.base import StateStore

# A run's start goes on inside `execute` (the configuration, the checks): it turns the
# collector back on itself, just before the providers start (cli/entry.py).
RESUMES_COLLECTOR = True
# SIGHUP reloads it, also one that came while it started (cli/entry.py settle_hangup).
RELOADS = True
# SIGINT and SIGTERM drain its tasks, a stop Python dropped the first of them
# (runtime/signals.py; cli/entry.py settle_stops).
DRAINS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser, "to run side by side")
    parser.add_argument(
        "--fail-fast", action="store_true", help="stop every task when one of them fails"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    parser.add_argument(
        "--reset-state",
        "--full-refresh",
        dest="reset_state",
        action="store_true",
        help="forget the stored checkpoint first: the input starts from the beginning",
    )
    parser.add_argument(
        "--resume-changed",
        action="store_true",
        help="resume from the stored checkpoint even though the input's configuration "
        "changed since it was stored",
    )
    parser.add_argument(
        "--progress-interval",
        type=number(float, at_least=0, at_most=MAX_DURATION, unit="seconds"),
        default=30.0,
        metavar="SECONDS",
        help="without a terminal on stderr, or with --log-format json: log a progress line "
        "this often (0: never; default: 30)",
    )
    parser.add_argument(
        "--metrics-addr",
        type=metrics_address,
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


def _task_names(project: Project, args: argparse.Namespace) -> list[str]:
    """task_names; for `run demo` in a project without a task "demo" (a Terraform user's
    first try, in the project itself), the hint says where the built-in demo runs."""
    from dstream.errors import UsageError

    try:
        return task_names(project, args)
    except UsageError as exc:
        if args.tasks != ["demo"] or "demo" in project.names():
            raise
        raise UsageError(
            exc.reason,
            hint="the built-in demo runs only where there is no configuration (no "
            "dstream.hcl in the directory, no -c, no DSTREAM_CONFIG): cd to an empty "
            f"directory and run `dstream run demo` there; {exc.hint}",
        ) from None


def _load(args: argparse.Namespace) -> Project:
    if _builtin_demo(args):
        from dstream.config.loader import load_builtin_demo

        return load_builtin_demo()
    return load_project_from_args(args)


def _reload(args: argparse.Namespace, view: View, held: list[str], started: Project) -> Project:
    """The configuration SIGHUP re-reads, given the tasks the run holds, the run having
    `started` with the one it read first. A held task whose input changed restarts with
    it from its checkpoint, as the reload asks, but not silently: that is said, and the
    new input remembered, so the next `run` does not refuse the checkpoints it now
    writes. A task the run still waits for (--standby) is compared and remembered when
    it is taken (_preparer): until then another run's checkpoints come from that run's
    input. The run keeps the store it opened: the new input is remembered there, and a
    changed state block is said, not applied (no other store is touched), as a changed
    metrics block and an added task are (runtime/reloading.py `unapplied`)."""
    project = _load(args)
    kept = [name for name in held if name in project.tasks]
    from dstream.runtime.describe import refuse_bad_configs

    # The checks a run makes before it starts anything: a file they refuse is reported
    # and the running configuration kept (runtime/reloading.py), as one that does not
    # load; it stopped the task and started the refused one.
    refuse_bad_configs(project, kept, probe=False)
    if _builtin_demo(args):  # its state is the run's temporary directory: nothing kept
        project.state = started.state
        return project
    from dstream.runtime.reloading import unapplied
    from dstream.state import open_store

    with open_store(started.state, started.base_dir) as store:
        unapplied(started, project, store.description)
        project.state = started.state
        if kept:
            from dstream.runtime.resume import keep_inputs

            keep_inputs(store, project, kept, accept="SIGHUP reload", say=view.note)
    return project


def _preparer(args: argparse.Namespace, say: Say) -> Prepare:
    """What the run changes in the state once it holds every task (its run lock or
    lease), on the store that holds them, before any provider starts: --reset-state
    forgets the checkpoint; else the input's configuration is compared again and
    remembered (runtime/resume.py). A run refused because another run holds a task, or a
    standby still waiting for it, changes nothing of that run's."""

    def prepare(store: StateStore, held: list[Held]) -> None:
        from dstream.runtime.resume import keep_inputs

        for each in held:
            name = each.task.name
            if args.reset_state:
                _reset(store, name, say)
            if each.reloaded:  # a reload changed it while the run waited: as asked
                accept: Optional[str] = "SIGHUP reload"
            else:
                accept = "--resume-changed" if args.resume_changed else None
            # After a reset: the checkpoints from now on come from the input as it is.
            keep_inputs(store, each.project, [name], accept=accept, say=say)

    return prepare


def _reset(store: StateStore, name: str, say: Say) -> None:
    had = store.reset(name)
    say(
        "stored checkpoint forgotten (--reset-state): the input starts from the beginning"
        if had
        else "no stored checkpoint to forget (--reset-state)",
        task=name,
    )


def execute(args: argparse.Namespace, view: View) -> int:
    from dstream import warm
    from dstream.runtime.monitor import Monitor
    from dstream.runtime.pipeline import RunHooks
    from dstream.runtime.runner import run_tasks

    if warm.failure is not None:
        logs.log.warning(
            "the warm start failed (%s: %s), a bug in dstream: please report it; the run "
            "started as always", type(warm.failure).__name__, warm.failure,
        )  # fmt: skip
    project = _load(args)
    for warning in project.warnings:
        logs.log.warning("%s", warning, task=warning.task)
    names = _task_names(project, args)
    from dstream.runtime.describe import refuse_bad_configs

    # Each provider's config, by its own schema, as far as it is known without a probe.
    refuse_bad_configs(project, names, probe=False)
    hooks = RunHooks()
    output_lines = 0
    if view.json:  # stdout carries the one JSON document: the output's lines go to stderr
        from dstream.runtime.streaming import terminal_line

        def aside(task: str, line: bytes, several: bool) -> None:
            nonlocal output_lines
            try:
                if view.records:  # --log-format json: a record of the output, as its stderr's
                    text = line.decode("utf-8", "replace")
                    view.record(logs.INFO, text, task=task, role="output")
                else:
                    # Among the providers' log lines (`b/input: `), terminal or not: named
                    # as them.
                    shown = terminal_line(task, line, several=several)
                    view.err.write(shown.decode("utf-8", "replace") + "\n")
                    view.err.flush()
            except OSError as exc:  # the task's data, not a log line: its loss fails it
                raise _aside_lost(exc) from None
            if stderr_dropped():  # closed (`2>&-`): /dev/null took the line
                raise _aside_lost(BrokenPipeError())
            output_lines += 1  # counted once written

        hooks.on_output_line = aside
    monitor = Monitor(names, standby=args.standby)  # on standby until it holds them
    with contextlib.ExitStack() as stack:
        # Before the state is touched: a port in use or the metrics extra missing is a
        # usage error, and exit 2 says nothing was changed.
        addr = args.metrics_addr or project.metrics.addr
        if addr:
            from dstream.runtime.metrics import MetricsServer

            where = None if args.metrics_addr else project.metrics.location
            server = stack.enter_context(MetricsServer(monitor, addr, where))
            logs.log.info("metrics on http://%s/metrics", server.address)
        if _builtin_demo(args):  # the demo shows the counter every time: no state kept
            import tempfile

            warm.decline()  # its state is gone after the run: nothing to start warm

            project.state = StateSpec(path=stack.enter_context(tempfile.TemporaryDirectory()))
        elif not (args.reset_state or args.resume_changed):  # else nothing to refuse
            from dstream.runtime.resume import check_inputs

            # Refused early; said and remembered once the run holds the tasks (prepare).
            check_inputs(project, names)
        if view.interactive and not args.quiet:
            from dstream.runtime.progress import Progress

            # From here the log's lines, the view's notes and the stop notice go above it.
            progress = stack.enter_context(Progress(monitor))
            if sys.stdout.isatty():
                hooks.on_output_line = progress.print_line
        elif _progress_lines(args, view):
            from dstream.runtime.progress import ProgressLog

            stack.enter_context(ProgressLog(monitor, args.progress_interval))
        prepare = None if _builtin_demo(args) else _preparer(args, view.note)
        resume_collector()  # the start is over: the providers are next
        summaries = run_tasks(
            project,
            names,
            hooks=hooks,
            fail_fast=args.fail_fast,
            monitor=monitor,
            reload=lambda held: _reload(args, view, held, project),  # SIGHUP
            standby=args.standby,
            prepare=prepare,
            history=not _builtin_demo(args),  # the demo keeps no state: no history
        )
    if _builtin_demo(args):  # its temporary state is gone now
        for summary in summaries:
            summary.state_kept = summary.resumable = False
    again = again_options(args)
    return render(summaries, view, quiet=args.quiet, output_lines=output_lines, again=again)


def _aside_lost(exc: OSError) -> StderrLost:
    """dstream's stderr failed (`exc`) under a run --json's output lines: the task fails."""
    return StderrLost(
        aside_lines_lost(exc),
        hint="with --json the output's lines go to dstream's stderr (stdout holds the "
        "document): keep it open, read and writable, or have the task write them to a "
        "file (dstream-file)",
    )


def _progress_lines(args: argparse.Namespace, view: View) -> bool:
    """Whether the run logs a progress line every --progress-interval: without a
    terminal on stderr, or with --log-format json on one (its records stand for the live
    display, which is drawn among no records); never with --quiet."""
    wanted = not args.quiet and args.progress_interval > 0
    return wanted and (view.records or not view.err.isatty())


def _summary_lines(summary: RunSummary) -> tuple[list[str], list[str]]:
    """A task's summary: the lines about it, which name it (`task T: ` in text, the task
    field of a record), and those below them. One a reload removed before it ever ran
    (a --standby run waiting for it; attempts 0) has nothing to count: its note says
    what happened."""
    from dstream.runtime import summary as summary_

    if summary.attempts == 0:
        return list(summary.notes), []
    return [summary_.head(summary)], summary_.details(summary)


def _summarize(view: View, summary: RunSummary) -> None:
    """A task's summary: its lines; with --log-format json one record, its first line
    with the task's entry of the --json document as its `summary`."""
    from dstream.runtime import summary as summary_

    about, below = _summary_lines(summary)
    if not view.records:
        for line in about:
            view.info(logs.about(summary.task, line))
        for line in below:
            view.info(line)
    elif about:
        fields: dict[str, object] = {"summary": summary_.entry(summary)}
        view.record(logs.INFO, about[0], task=summary.task, fields=fields)


def again_options(args: argparse.Namespace) -> tuple[str, bool]:
    """The options a run needs again to resume what this one ran, and whether it was
    given variables (named in the hint, never repeated: their values may be secret)."""
    given = [(f, v) for f, v in (("-c", args.config), ("--state-dir", args.state_dir)) if v]
    options = ""
    if given:  # else shlex is not imported: ~3.5 M instructions of a plain run's end
        import shlex

        options = " ".join(f"{flag} {shlex.quote(value)}" for flag, value in given)
    return options, bool(args.var or args.var_file)


def render(
    summaries: list[RunSummary],
    view: View,
    *,
    quiet: bool = False,
    output_lines: int = 0,
    again: tuple[str, bool] = ("", False),
    agent: bool = False,
    signum: Optional[int] = None,
) -> ExitCode:
    """The runs' summaries, error blocks and last line; the exit code they agree with,
    decided before any of them is written. `agent`: they are an agent's, whose last line
    says how to go on as an agent; `signum`: the signal that stopped it (an agent's)."""
    from dstream.runtime import summary as summary_

    ran = summary_.exit_code(summaries)  # the tasks': a task that failed wins
    # Else the signal's (143 SIGTERM, 130 SIGINT), also when it stopped no task: an
    # agent that held none, or whose tasks had ended or been handed over.
    code = ExitCode(128 + signum) if ran == ExitCode.OK and signum is not None else ran
    view.exit_code = code  # kept if a stream fails below (cli/boundary.py)
    if view.json:
        view.document(summary_.document(summaries, output_lines, code))
        return code
    _tasks(summaries, view, quiet=quiet)
    if ran == ExitCode.OK and not quiet:  # each task that completed, an agent's too
        for summary in summaries:
            if summary.outcome == "completed":
                view.info(summary_.success_line(summary))
    if code in STOPPED:
        view.info(summary_.stopped_line(summaries, code, *again, agent=agent))
    elif code != ExitCode.OK and len(summaries) > 1:
        view.info(summary_.failed_line(summaries, code))
    return code


def _tasks(summaries: list[RunSummary], view: View, *, quiet: bool) -> None:
    """Each task's summary (unless `quiet`) and error block, in text or as records."""
    from dstream.runtime import summary as summary_

    for summary in summaries:
        if not quiet:
            _summarize(view, summary)
        error = summary_.error_of(summary)
        if error is not None:  # named among several tasks; a record always has its task
            named = len(summaries) > 1 or view.records
            view.error_block(error, task=summary.task if named else None)
