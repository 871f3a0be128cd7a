"""Running one or several tasks to the end: state, restarts, signals.

Each task runs in its own thread (the first in the calling thread) with its own pump;
one failing task does not stop the others unless `fail_fast`.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from dstream import logs
from dstream.config.model import Project, TaskSpec
from dstream.errors import ConfigError, DstreamError, FrameError, ProviderError
from dstream.runtime.monitor import Monitor, TaskMonitor, add_counters
from dstream.runtime.pipeline import RunHooks, RunSummary, Stop, TaskRun, install_signal_handlers


def _restartable(summary: RunSummary) -> bool:
    """A provider crash may be transient; bad config or a bad frame will happen again."""
    return summary.outcome == "failed" and not isinstance(summary.error, (ConfigError, FrameError))


def run_task(
    project: Project,
    task: TaskSpec,
    store: Any,
    stop: Stop,
    hooks: RunHooks,
    monitor: TaskMonitor,
    *,
    task_prefixes: bool = False,
) -> RunSummary:
    """Run a task, restarting it per its `restart` block after a provider failure. Each
    attempt resumes from the newest stored checkpoint."""
    counters: dict[str, Any] = {}
    duration = 0.0
    acknowledged = 0
    attempt = 0
    while True:
        attempt += 1
        record = store.get(task.name)
        run = TaskRun(project, task, store, stop, hooks, monitor, task_prefixes=task_prefixes)
        try:
            summary = run.run(record.checkpoint if record else None)
        except ProviderError as exc:  # it failed to start or to shake hands
            summary = RunSummary(task=task.name, outcome="failed", error=exc)
            monitor.detach("failed")
        counters = add_counters(counters, summary.counters)
        duration += summary.duration
        acknowledged += summary.checkpoints_acknowledged
        retries_left = task.restart.attempts - (attempt - 1)
        if not _restartable(summary) or retries_left <= 0 or stop.requests:
            break
        delay = min(task.restart.backoff * 2 ** (attempt - 1), task.restart.max_backoff)
        logs.log.warning(
            "task %s: %s; restarting in %g s (%d attempt(s) left)",
            task.name,
            summary.error,
            delay,
            retries_left,
        )
        monitor.state = "restarting"
        monitor.restarts += 1
        if stop.event.wait(delay) or stop.requests:
            break
    summary.counters = counters
    summary.duration = duration
    summary.checkpoints_acknowledged = acknowledged
    summary.attempts = attempt
    return summary


def run_tasks(
    project: Project,
    names: list[str],
    *,
    hooks: Optional[RunHooks] = None,
    fail_fast: bool = False,
    monitor: Optional[Monitor] = None,
) -> list[RunSummary]:
    from dstream.state import open_store

    tasks = [project.task(name) for name in names]
    hooks = hooks or RunHooks()
    monitor = monitor or Monitor(names)
    store = open_store(project.state, project.base_dir)
    stop = Stop()
    restore = install_signal_handlers(stop)
    try:
        if len(tasks) == 1:
            return [run_task(project, tasks[0], store, stop, hooks, monitor.tasks[tasks[0].name])]
        results: dict[str, RunSummary] = {}

        def work(task: TaskSpec) -> None:
            try:
                summary = run_task(
                    project, task, store, stop, hooks, monitor.tasks[task.name], task_prefixes=True
                )
            except DstreamError as exc:
                summary = RunSummary(task=task.name, outcome="failed", error=exc)
            results[task.name] = summary
            if fail_fast and summary.outcome == "failed":
                stop.request()

        threads = [threading.Thread(target=work, args=(t,), name=t.name) for t in tasks]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # join in slices so the main thread takes signals
                thread.join(0.2)
        return [results[t.name] for t in tasks]
    finally:
        restore()
        store.close()
