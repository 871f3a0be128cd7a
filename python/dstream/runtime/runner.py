"""Running one or several tasks to the end: state, restarts, signals.

Each task runs in its own thread with its own pump, and holds its own lease: one
failing task does not stop the others unless `fail_fast`, and a task whose run ended
(completed, failed, removed by a reload) gives its lease up at once.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

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
from dstream.records import record
from dstream.runtime.monitor import Monitor, add_counters
from dstream.runtime.pipeline import RunContext, RunHooks, RunSummary, Stop, TaskRun
from dstream.runtime.signals import (
    Forced,
    StopSignals,
    left_behind,
    never_started,
    stopping_notice,
)
from dstream.runtime.taking import take_all
from dstream.runtime.verdict import stopped_by_failure
from dstream.state.base import StateStore

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
    attempt resumes from the newest stored checkpoint. Stopped before its first attempt
    (a signal while its lease was being taken), it starts nothing."""
    task, store, stop, monitor = context.task, context.store, context.stop, context.monitor
    if stop.requests:
        monitor.detach("interrupted")
        return never_started(task.name, "before it started", stop.signum)
    started_at = time.time()  # its first attempt's start: the record's, over restarts
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
    summary.started_at, summary.ended_at = started_at, time.time()
    return summary


@record(frozen=True)
class Held:
    """A task the run holds, as it runs it: what `prepare` is given for each."""

    project: Project
    task: TaskSpec
    reloaded: bool = False  # a reload (SIGHUP) changed it while the run waited for it


if TYPE_CHECKING:
    # What a run changes in the state once it holds its tasks (run_tasks' `prepare`).
    Prepare = Callable[[StateStore, list[Held]], None]


def _after_reload(earlier: RunSummary, later: RunSummary) -> RunSummary:
    later.counters = add_counters(earlier.counters, later.counters)
    later.duration += earlier.duration
    later.checkpoints_acknowledged += earlier.checkpoints_acknowledged
    later.reloads = earlier.reloads + 1
    later.started_at = earlier.started_at  # one run of the task, from its first start
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
        self.stopped_by_task: Optional[str] = None  # whose failure stopped it (--fail-fast)
        self.reloaded = False  # a reload changed it while a standby run waited for it
        self.summary: Optional[RunSummary] = None
        self.crash: Optional[BaseException] = None  # what ended its thread unexpectedly
        # Its lease (or lock), released as soon as its run ends, not with the others'.
        self.lease = contextlib.ExitStack()
        self.thread: Optional[threading.Thread] = None
        self.done = False  # its run ended: a later signal did not stop it

    def release(self) -> None:
        """Give its lease up, unless its thread still runs: it releases the lease itself
        when its run ends, or, left behind after a forced stop, it may still write, and
        a write must stay fenced: the lease expires instead."""
        if self.thread is None or not self.thread.is_alive():
            self.lease.close()


def _fail_fast(slots: list[_Slot], failed: _Slot) -> None:
    """--fail-fast: stop every task still running, because `failed` failed. A task a
    signal or an earlier failure already stops keeps that stop and its cause. Its stop
    is no signal's: the user's first Ctrl-C after it drains on, only a second forces
    (stopping.Stop). One a reload is draining is not restarted (run_slot)."""
    for other in slots:
        if other is failed or other.done or other.user_stopped or other.stopped_by_task:
            continue
        other.stopped_by_task = failed.task.name
        if not other.stop.requests:
            other.stop.request()


def _on_signal(slots: list[_Slot], started: threading.Event) -> Callable[[int, int], None]:
    """SIGINT/SIGTERM: drain every task still running (one that already ended keeps its
    outcome); a second one forces."""

    def stop(signum: int, requests: int) -> None:
        if requests == 1:
            doing = (
                "stopping: draining what the inputs already wrote"
                if started.is_set()
                else "stopping before any task started"
            )
            sys.stderr.write(stopping_notice(doing, signum))
        for slot in slots:
            if not slot.done:
                slot.user_stopped = True
                slot.stop.request(signum)

    return stop


def _reloaded(
    reload: Callable[[list[str]], Project], held: list[str], keeping: str
) -> Optional[Project]:
    """The configuration a reload (SIGHUP) reads, given the tasks the run holds; None
    when it cannot be read (logged: the run goes on `keeping` what it had)."""
    try:
        return reload(held)
    except DstreamError as exc:
        logs.log.error("reload failed, %s: %s", keeping, exc)
        return None


def _new_definition(slot: _Slot, project: Project, keeps: str) -> Optional[TaskSpec]:
    """The slot's task as the reloaded `project` defines it, None when it is gone; the
    one it has when it cannot be evaluated now (logged: it `keeps` as it was)."""
    new = project.tasks.get(slot.task.name)
    if new is None and slot.task.name in project.broken:
        logs.log.error(
            "task %s cannot be evaluated after the reload (%s): it %s as it was; fix the "
            "configuration and reload again",
            slot.task.name, project.broken[slot.task.name], keeps,
        )  # fmt: skip
        return slot.task
    return new


def _apply_reload(slots: list[_Slot], reload: Callable[[list[str]], Project]) -> None:
    """Restart the tasks whose definition changed; the others stream on. A task whose
    run ended (or a reload already removed) is left as it is."""
    held = [slot for slot in slots if not slot.done]
    project = _reloaded(reload, [slot.task.name for slot in held], "keeping the running one")
    if project is None:
        return
    for slot in held:
        if slot.removed:  # a reload before removed it: it is draining
            continue
        new = _new_definition(slot, project, "keeps running")
        if new is None:
            logs.log.warning("task %s is gone from the configuration: stopping it", slot.task.name)
            slot.removed = True
            slot.stop.request()
        elif definition(new) != definition(slot.task):
            logs.log.info("task %s changed: restarting it", slot.task.name)
            slot.reload_to = (project, new)
            slot.stop.request()


# The note of a task a reload removed while a --standby run waited for it: it never ran
# (its summary's `attempts` is 0).
REMOVED_WAITING = (
    "removed from the configuration by a reload (SIGHUP) while the run waited to take it "
    "over: it never ran"
)


def _reload_waiting(
    slots: list[_Slot], reload: Callable[[list[str]], Project], monitor: Monitor
) -> None:
    """A reload (SIGHUP) while a standby run waits for its tasks, holding none: a task
    removed from the configuration is waited for no more, a changed one is taken and
    run as it is defined now."""
    waiting = [slot for slot in slots if not slot.done]
    project = _reloaded(reload, [], "waiting on with the configuration it had")
    if project is None:
        return
    for slot in waiting:
        new = _new_definition(slot, project, "is waited for")
        if new is None:
            logs.log.warning(
                "task %s is gone from the configuration: no longer waiting for it",
                slot.task.name,
            )  # fmt: skip
            slot.removed = slot.done = True
            slot.summary = RunSummary(
                task=slot.task.name, outcome="removed", attempts=0, notes=[REMOVED_WAITING]
            )
            slot.summary.ended_at = slot.summary.started_at
            monitor.tasks[slot.task.name].detach("removed")
        elif new is not slot.task:
            if definition(new) != definition(slot.task):
                logs.log.info("task %s changed: it runs as now defined", slot.task.name)
                slot.reloaded = True
            slot.project, slot.task = project, new
    if all(slot.done for slot in slots):
        logs.log.info(
            "standby: every task it waited for is gone from the configuration: nothing to run"
        )


def run_tasks(
    project: Project,
    names: list[str],
    *,
    hooks: Optional[RunHooks] = None,
    fail_fast: bool = False,
    monitor: Optional[Monitor] = None,
    reload: Optional[Callable[[list[str]], Project]] = None,
    standby: bool = False,
    prepare: Optional[Prepare] = None,
) -> list[RunSummary]:
    """Run tasks side by side until they end. `reload(held)` (on SIGHUP) re-reads the
    configuration, given the tasks the run holds then; tasks whose definition changed
    are drained and restarted. A `standby` run waits while another run holds one of its
    tasks, and takes them all over when all are free (take_all). `prepare(store, held)`
    changes the state before the run (`--reset-state`, the input's digest): called once
    this run holds every task, before any provider starts, so that a run refused or
    stopped while it waits has changed nothing of another run's."""
    from dstream.runtime.watchdog import watchdog
    from dstream.state import open_store

    watchdog.start()  # its start overlaps opening the store and taking the tasks
    slots = [_Slot(project, project.task(name)) for name in names]
    hooks = hooks or RunHooks()
    monitor = monitor or Monitor(names)
    store = open_store(project.state, project.base_dir)
    several = len(slots) > 1

    def work(slot: _Slot) -> None:
        try:
            run_slot(slot)
        finally:
            slot.done = True  # before its lease goes: a signal from now on is not its stop
            slot.lease.close()  # a run that ends releases its lease at once

    def run_slot(slot: _Slot) -> None:
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
            if slot.reload_to is None or slot.user_stopped or slot.stopped_by_task:
                break
            earlier = slot.summary
            (slot.project, slot.task), slot.reload_to = slot.reload_to, None
            slot.stop = Stop()
            if slot.stopped_by_task is not None:  # --fail-fast came as it was restarting
                slot.stop.request()
        if fail_fast and slot.summary.outcome == "failed":
            _fail_fast(slots, slot)

    started = threading.Event()
    with StopSignals(_on_signal(slots, started)) as signals:

        def reloads() -> None:  # while waiting on standby
            if signals.reload.is_set():
                signals.reload.clear()
                if reload is not None:
                    _reload_waiting(slots, reload, monitor)

        try:
            try:
                with signals.interruptible():
                    taken = take_all(store, slots, standby, reloads)
            except Forced:
                taken = False
            if not taken:
                why = "while waiting on standby" if standby else "before it started"
                return [
                    s.summary if s.summary else never_started(s.task.name, why, signals.signum)
                    for s in slots
                ]  # fmt: skip
            held = [slot for slot in slots if not slot.done]  # not removed while waiting
            if prepare is not None and held:
                prepare(store, [Held(s.project, s.task, reloaded=s.reloaded) for s in held])
            started.set()
            for slot in held:
                slot.thread = threading.Thread(
                    target=work, args=(slot,), name=slot.task.name, daemon=True
                )
                slot.thread.start()
            _supervise(slots, signals, reload)
        finally:
            for slot in slots:
                slot.release()
            store.close()
    return _summaries(slots, signals.signum, monitor)


def _supervise(
    slots: list[_Slot], signals: StopSignals, reload: Optional[Callable[[list[str]], Project]]
) -> None:
    """Wait for every task's thread, applying reloads meanwhile; after a forced stop, at
    most STOP_MARGIN (a thread still waiting on the state database is left behind)."""
    for slot in slots:
        if slot.thread is None:  # removed by a reload while the run waited for it
            continue
        while not signals.wait(slot.thread):
            if signals.reload.is_set():
                signals.reload.clear()
                if reload is not None:
                    with contextlib.suppress(Forced), signals.interruptible():
                        _apply_reload(slots, reload)


def _summaries(slots: list[_Slot], signum: Optional[int], monitor: Monitor) -> list[RunSummary]:
    for slot in slots:
        if slot.crash is not None:  # re-raised here, where the CLI's boundary catches it
            raise slot.crash
    summaries = []
    for slot in slots:
        if slot.thread is not None and slot.thread.is_alive() and not slot.done:
            # What its monitor saw it do: its thread never returned its own summary.
            summaries.append(left_behind(slot.task.name, signum, monitor.tasks.get(slot.task.name)))
            continue
        summary = slot.summary or RunSummary(task=slot.task.name, outcome="failed")
        if slot.removed and summary.outcome == "interrupted":  # stopped by the reload
            summary.outcome, summary.error = "removed", None
        elif slot.stopped_by_task is not None and summary.outcome == "interrupted":
            # Stopped by --fail-fast (a signal that came later only hurried its stop): no
            # signal's 130. One that failed of its own meanwhile stays failed.
            failed = slot.stopped_by_task
            summary.outcome, summary.stopped_by_task = "stopped", failed
            summary.error = stopped_by_failure(summary.task, failed, summary.error)
        elif slot.user_stopped and summary.outcome != "completed":  # stopped while it ran
            summary.stopped_by = signum
        summaries.append(summary)
    return summaries
