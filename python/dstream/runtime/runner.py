"""Running one or several tasks to the end: state, restarts, signals.

Each task runs in its own thread (the first in the calling thread) with its own pump;
one failing task does not stop the others unless `fail_fast`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from types import FrameType

from dstream import logs
from dstream.config.model import Project, TaskSpec, definition
from dstream.errors import (
    ConfigError,
    DstreamError,
    FrameError,
    Interrupted,
    LockLost,
    ProviderError,
    ProviderRefused,
)
from dstream.extras import missing_package
from dstream.protocol.frames import DEFAULT_FLUSH_TIMEOUT
from dstream.protocol.values import encode_json
from dstream.runtime.monitor import Monitor, add_counters
from dstream.runtime.pipeline import RunContext, RunHooks, RunSummary, Stop, TaskRun
from dstream.state.base import AlreadyRunning, StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from dstream.runtime.monitor import CounterDict


def _restartable(summary: RunSummary) -> bool:
    """A provider crash may be transient; bad config, a provider's refusal at its
    handshake, a bad frame or a lock another run holds will be there again."""
    fatal = (ConfigError, FrameError, LockLost, ProviderRefused)
    return summary.outcome == "failed" and not isinstance(summary.error, fatal)


def _stopper(run: TaskRun, stop: Stop) -> Callable[[LockLost], None]:
    """What a lost lease does: bring the stop deadline forward to before the lease can
    expire (stop_grace may be longer), fail the run (the pump stops at once) and ask it
    to stop, which also covers a run whose pump has not started."""

    def lost(error: LockLost) -> None:
        from dstream.state.lease import LeaseDeadlinePassed, LeaseLost  # a lease was held

        if isinstance(error, LeaseLost):
            if isinstance(error, LeaseDeadlinePassed):
                why = "its lease is about to expire"
                logs.log.error(
                    "task %s: lease deadline passed locally (no renewal in time): stopping "
                    "its providers; whatever still runs after %.1f s is killed, before the lease "
                    "can expire", run.task.name, max(0.0, error.stop_by - time.monotonic()),
                )  # fmt: skip
            else:
                why = "the database refused its lease epoch"
                logs.log.error(
                    "task %s: the database refused this run's lease epoch (fenced): "
                    "killing its providers now", run.task.name,
                )  # fmt: skip
            run.deadline.bound(error.stop_by, why)
        run.fail(error)
        stop.request()

    return lost


def run_task(context: RunContext) -> RunSummary:
    """Run a task, restarting it per its `restart` block after a provider failure. Each
    attempt resumes from the newest stored checkpoint."""
    task, store, stop, monitor = context.task, context.store, context.stop, context.monitor
    counters: CounterDict = {}
    duration = 0.0
    acknowledged = 0
    notes: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        record = store.get(task.name)
        run = TaskRun(context)
        store.on_lease_lost(task.name, _stopper(run, stop))
        try:
            if run.errors:  # the lease went between two attempts
                raise run.errors[0]
            summary = run.run(record.raw if record else None)
        except (ProviderError, LockLost) as exc:  # it failed to start or to shake hands
            summary = RunSummary(task=task.name, outcome="failed", error=exc)
            monitor.detach("failed")
        except Interrupted as exc:  # stopped while a provider was starting
            summary = RunSummary(task=task.name, outcome="interrupted", error=exc)
            monitor.detach("interrupted")
        counters = add_counters(counters, summary.counters)
        duration += summary.duration
        acknowledged += summary.checkpoints_acknowledged
        notes += summary.notes
        retries_left = task.restart.attempts - (attempt - 1)
        if not _restartable(summary) or retries_left <= 0 or stop.requests:
            break
        delay = min(task.restart.backoff * 2 ** min(attempt - 1, 64), task.restart.max_backoff)
        logs.log.warning(
            "task %s: %s; restarting in %g s (%d attempt(s) left)",
            task.name,
            summary.error.reason if summary.error else summary.outcome,  # one line: no stderr
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
    summary.notes = notes
    summary.attempts = attempt
    return summary


def _stopped_waiting(task: str) -> RunSummary:
    error = Interrupted(
        f"task {task!r} was stopped while waiting on standby; it never ran",
        hint="run it again to wait for the task once more",
    )
    return RunSummary(task=task, outcome="interrupted", error=error)


def _after_reload(earlier: RunSummary, later: RunSummary) -> RunSummary:
    later.counters = add_counters(earlier.counters, later.counters)
    later.duration += earlier.duration
    later.checkpoints_acknowledged += earlier.checkpoints_acknowledged
    later.reloads = earlier.reloads + 1
    if later.last_checkpoint is None:
        later.last_checkpoint = earlier.last_checkpoint
    return later


class _Slot:
    """One task of a run: its current definition and its own stop switch, so a reload
    can restart one task while the others stream on."""

    def __init__(self, project: Project, task: TaskSpec) -> None:
        self.project = project
        self.task = task
        self.stop = Stop()
        self.reload_to: Optional[tuple[Project, TaskSpec]] = None
        self.user_stopped = False
        self.removed = False  # a reload found it gone from the configuration
        self.summary: Optional[RunSummary] = None
        self.crash: Optional[BaseException] = None  # what ended its thread unexpectedly


# Task settings added after digests were first kept, at their defaults: left out of the
# digest then, so a task that does not set them keeps the digest older versions give it.
_ADDED_SETTINGS = {"flush_timeout": DEFAULT_FLUSH_TIMEOUT}


def definition_hash(task: TaskSpec) -> str:
    """A short digest of what a task does: kept with its lease, compared between agents."""
    import hashlib  # not at the top: a run on the file backend never needs it

    document = definition(task)
    for name, default in _ADDED_SETTINGS.items():
        if document.get(name) == default:
            del document[name]
    data = encode_json(document, sort_keys=True, default=str)
    return hashlib.sha256(data).hexdigest()[:16]


STANDBY_POLL = 0.5  # seconds between two attempts of a standby run to take its task
# What docs/scaling.md promises: a standby holds the task of a holder that died within
# lease_ttl + TAKEOVER_MARGIN of its death: one poll, and slack for a loaded host (a poll
# or a connection seconds late on a busy 2-CPU machine; tests/scale checks it).
TAKEOVER_SLACK = 2.5
TAKEOVER_MARGIN = STANDBY_POLL + TAKEOVER_SLACK


def _take(
    held: contextlib.ExitStack[Optional[bool]], store: StateStore, slot: _Slot, standby: bool
) -> bool:
    """Hold the slot's task for the run; a standby run waits until it is free (False
    when it was stopped while waiting)."""
    waiting = False
    while True:
        try:
            digest = definition_hash(slot.task) if store.has_leases else ""
            held.enter_context(store.hold_run(slot.task.name, config_hash=digest))
            return True
        except AlreadyRunning as exc:
            if not standby:
                raise
            if not waiting:
                logs.log.info("standby: %s; taking over when it is free", exc.reason)
                waiting = True
        if slot.stop.event.wait(STANDBY_POLL) or slot.stop.requests:
            return False


class _Signals:
    """SIGINT/SIGTERM: drain every task, a second one forces. SIGHUP: reload."""

    def __init__(self, slots: list[_Slot]) -> None:
        self.slots = slots
        self.requests = 0
        self.signum: Optional[int] = None  # the first stop signal: the exit code says which
        self.reload = threading.Event()
        self._previous: dict[int, signal._HANDLER] = {}

    def _stop(self, signum: int, frame: Optional[FrameType]) -> None:
        self.requests += 1
        self.signum = self.signum or signum
        if self.requests == 1:
            sys.stderr.write(
                "\ndstream: stopping: draining what the inputs already wrote "
                "(press Ctrl-C again to force)\n"
            )
        for slot in self.slots:
            slot.user_stopped = True
            slot.stop.request(signum)

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._stop)
            if hasattr(signal, "SIGHUP"):
                self._previous[signal.SIGHUP] = signal.signal(
                    signal.SIGHUP, lambda signum, frame: self.reload.set()
                )
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)


def _apply_reload(slots: list[_Slot], reload: Callable[[], Project]) -> None:
    """Restart the tasks whose definition changed; the others stream on."""
    try:
        project = reload()
    except DstreamError as exc:
        logs.log.error("reload failed, keeping the running configuration: %s", exc)
        return
    for slot in slots:
        new = project.tasks.get(slot.task.name)
        if new is None and slot.task.name in project.broken:
            logs.log.error(
                "task %s cannot be evaluated after the reload (%s): it keeps running as it "
                "was; fix the configuration and reload again",
                slot.task.name, project.broken[slot.task.name],
            )  # fmt: skip
        elif new is None:
            logs.log.warning("task %s is gone from the configuration: stopping it", slot.task.name)
            slot.removed = True
            slot.stop.request()
        elif definition(new) != definition(slot.task):
            logs.log.info("task %s changed: restarting it", slot.task.name)
            slot.reload_to = (project, new)
            slot.stop.request()


def run_tasks(
    project: Project,
    names: list[str],
    *,
    hooks: Optional[RunHooks] = None,
    fail_fast: bool = False,
    monitor: Optional[Monitor] = None,
    reload: Optional[Callable[[], Project]] = None,
    standby: bool = False,
) -> list[RunSummary]:
    """Run tasks side by side until they end. `reload` (on SIGHUP) re-reads the
    configuration; tasks whose definition changed are drained and restarted. A
    `standby` run waits for a task another run holds, and takes over when it is free."""
    from dstream.runtime.watchdog import watchdog
    from dstream.state import open_store

    watchdog.start()  # its start overlaps opening the store and taking the tasks
    slots = [_Slot(project, project.task(name)) for name in names]
    hooks = hooks or RunHooks()
    monitor = monitor or Monitor(names)
    store = open_store(project.state, project.base_dir)
    several = len(slots) > 1

    def work(slot: _Slot) -> None:
        earlier: Optional[RunSummary] = None  # what the definitions before a reload did
        while True:
            try:
                slot.summary = run_task(
                    RunContext(
                        slot.project, slot.task, store, slot.stop, hooks,
                        monitor.tasks[slot.task.name], task_prefixes=several,
                    )
                )  # fmt: skip
            except DstreamError as exc:
                slot.summary = RunSummary(task=slot.task.name, outcome="failed", error=exc)
            except BaseException as exc:
                missing = missing_package(exc) if isinstance(exc, ImportError) else None
                if missing is None:  # a bug: the CLI's error boundary reports it
                    slot.crash = exc
                    for other in slots:
                        other.stop.request()
                    return
                slot.summary = RunSummary(task=slot.task.name, outcome="failed", error=missing)
            if earlier is not None:  # one summary per task: totals over the reloads
                slot.summary = _after_reload(earlier, slot.summary)
            if slot.reload_to is None or slot.user_stopped:
                break
            earlier = slot.summary
            (slot.project, slot.task), slot.reload_to = slot.reload_to, None
            slot.stop = Stop()
        if fail_fast and slot.summary.outcome == "failed":
            for other in slots:
                other.stop.request()

    with _Signals(slots) as signals, contextlib.ExitStack() as held:
        try:
            # Before any provider starts: a second run of a task must not even begin.
            for slot in slots:
                if not _take(held, store, slot, standby):
                    return [_stopped_waiting(s.task.name) for s in slots]
            threads = [threading.Thread(target=work, args=(s,), name=s.task.name) for s in slots]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():  # join in slices so the main thread takes signals
                    thread.join(0.2)
                    if signals.reload.is_set():
                        signals.reload.clear()
                        if reload is not None:
                            _apply_reload(slots, reload)
        finally:
            store.close()
    for slot in slots:
        if slot.crash is not None:  # re-raised here, where the CLI's boundary catches it
            raise slot.crash
    summaries = [s.summary or RunSummary(task=s.task.name, outcome="failed") for s in slots]
    for slot, summary in zip(slots, summaries):
        if slot.removed and summary.outcome == "interrupted":  # stopped by the reload
            summary.outcome, summary.error = "removed", None
        elif slot.user_stopped and summary.outcome != "completed":
            summary.stopped_by = signals.signum
    return summaries
