"""Running one or several tasks to the end: state, restarts, signals.

Each task runs in its own thread with its own pump, and holds its own lease: one
failing task does not stop the others unless `fail_fast`, and a task whose run ended
(completed, failed, removed by a reload) gives its lease up at once.
"""

from __future__ import annotations

import contextlib
import threading
import time

from dstream import logs
from dstream.config.model import Project, TaskSpec
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
from dstream.runtime.history import OneRecord, may_be_missing
from dstream.runtime.monitor import Monitor, add_counters
from dstream.runtime.pipeline import RunContext, RunHooks, RunSummary, Stop, TaskRun
from dstream.runtime.reloading import apply_reload, reload_waiting
from dstream.runtime.signals import (
    Forced,
    LeftBehind,
    StopSignals,
    left_behind,
    never_started,
    say_stopping,
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
            if isinstance(error, LeaseDeadlinePassed) and error.stop_by > time.monotonic():
                why = "its lease is about to expire"
                logs.log.error(
                    "lease deadline passed locally (no renewal in time): stopping "
                    "its providers; whatever still runs after %.1f s is killed, before the lease "
                    "can expire", max(0.0, error.stop_by - time.monotonic()), task=run.task.name,
                )  # fmt: skip
            elif isinstance(error, LeaseDeadlinePassed):  # seen only after a pause: too late
                why = "its lease may have expired"
                logs.log.error(
                    "lease deadline passed locally while this process was paused or starved: "
                    "killing its providers now; the lease may have expired and the task "
                    "been taken over", task=run.task.name,
                )  # fmt: skip
            else:
                why = "the database refused its lease epoch"
                logs.log.error(
                    "the database refused this run's lease epoch (fenced): "
                    "killing its providers now", task=run.task.name,
                )  # fmt: skip
            run.deadline.bound(error.stop_by, why)
        run.fail(error)
        stop.request()

    return lost


def run_task(context: RunContext, started_at: float) -> RunSummary:
    """Run a task, restarting it per its `restart` block after a provider failure. Each
    attempt resumes from the newest stored checkpoint. Stopped before its first attempt
    (a signal while its lease was being taken), it starts nothing. `started_at`: when
    its run started (wall clock), its first attempt's start over restarts: the one its
    caller says of it if it is left behind (signals.left_behind). Whether a run that did
    not complete resumes is judged here, for `dstream run` and `dstream agent` alike
    (_judge_resumable, _judge_unread)."""
    task, store, stop, monitor = context.task, context.store, context.stop, context.monitor
    if stop.requests:
        monitor.detach("interrupted")
        summary = never_started(task.name, "before it started", stop.signum)
        if not stop.forced:  # after a forced stop the store is asked nothing that waits
            _judge_unread(store, summary)
        return summary
    counters: CounterDict = {}
    began = time.monotonic()  # its duration counts its restarts' backoff too
    acknowledged = 0
    stored: Optional[bytes] = None  # the last checkpoint any attempt acknowledged
    notes: list[str] = []
    streamed = False  # an attempt streamed
    attempt = 0
    streak = 0  # attempts since the last that ran healthy (restart.reset_after): the budget
    while True:
        attempt += 1
        streak += 1
        attempt_began = time.monotonic()
        resumed = store.get(task.name)  # the record this attempt resumes from
        run = TaskRun(context)
        store.on_lease_lost(task.name, _stopper(run, stop))
        try:
            if run.errors:  # the lease went between two attempts
                raise run.errors[0]
            summary = run.run(resumed.raw if resumed else None)
        except (ProviderError, LockLost) as exc:  # it failed to start or to shake hands
            exits = run.summary.exit_codes  # of what it started (ending.kill_all)
            summary = RunSummary(task=task.name, outcome="failed", error=exc, exit_codes=exits)
            summary.streamed = run.summary.streamed  # a lease lost mid-stream: it streamed
            monitor.detach("failed")
        except Interrupted as exc:  # stopped while a provider was starting
            summary = RunSummary(task=task.name, outcome="interrupted", error=exc)
            monitor.detach("interrupted")
        refused = summary.error
        if isinstance(refused, ProviderRefused) and refused.role is not None:  # its config?
            from dstream.runtime.describe import explain_refusal

            summary.error = explain_refusal(context.project, task, refused)
        counters = add_counters(counters, summary.counters)
        acknowledged += summary.checkpoints_acknowledged
        if summary.last_checkpoint is not None:
            stored = summary.last_checkpoint
        notes += summary.notes
        streamed = streamed or summary.streamed
        if time.monotonic() - attempt_began >= task.restart.reset_after:
            streak = 1  # it ran healthy that long: the attempts and the backoff start again
        retries_left = task.restart.attempts - (streak - 1)
        if not _restartable(summary) or retries_left <= 0 or stop.requests:
            break
        delay = min(task.restart.backoff * 2 ** min(streak - 1, 64), task.restart.max_backoff)
        monitor.state = "restarting"  # before the warning: a stop from now on calls it off
        logs.log.warning(
            "%s; restarting in %g s (%d attempt(s) left)",
            summary.error.reason if summary.error else summary.outcome,  # one line: no stderr
            delay,
            retries_left,
            task=task.name,
        )
        monitor.restarts += 1
        if stop.event.wait(delay) or stop.requests:
            break
    summary.counters = counters
    summary.duration = time.monotonic() - began
    summary.checkpoints_acknowledged = acknowledged
    summary.last_checkpoint = stored  # an attempt that acknowledged none left it stored
    summary.notes = notes
    summary.streamed = streamed
    summary.attempts = attempt
    summary.started_at, summary.ended_at = started_at, _ended_at(summary)
    summary.resumed = resumed.raw if resumed else None
    _judge_resumable(summary)
    return summary


def _ended_at(summary: RunSummary) -> float:
    """When the run ended, for its history: now, or, when it lost its lease, the last
    instant it trusted it (`held_until`: its pump forwarded nothing after it). A holder
    paused past its lease finds it lost only once resumed, after another run took the
    task: its history shows no two holders at once."""
    now = time.time()
    error = summary.error
    if not isinstance(error, LockLost):  # (a plain run imports no lease module)
        return now
    from dstream.state.lease import LeaseLost  # a lock was lost: a lease was held

    return min(now, error.held_until) if isinstance(error, LeaseLost) else now


def _judge_resumable(summary: RunSummary) -> None:
    """A run that did not complete (a signal, --fail-fast, a reload, an agent's
    hand-over, a lost lease, a failure) resumes only if a checkpoint is stored, as its
    last attempt knows it: what it acknowledged, else what it `resumed` from
    (RunSummary.stored_checkpoint) — whether it ended while it streamed, while a provider
    started, or in its restart backoff. One that completed is not judged; one whose
    checkpoints are withheld (legacy.py) cannot resume, whatever is stored."""
    if summary.outcome != "completed" and summary.stored_checkpoint is None:
        summary.resumable = False


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
    later.streamed = later.streamed or earlier.streamed
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
        self.started_at = 0.0  # wall clock: when its thread started, its run's start
        self.done = False  # its run ended: a later signal did not stop it
        self.recording = OneRecord()  # of its run in its history

    def release(self) -> None:
        """Give its lease up, unless its thread still runs: it releases the lease itself
        when its run ends, or, left behind after a forced stop, it may still write, and
        a write must stay fenced: the lease expires instead."""
        if self.thread is None or not self.thread.is_alive():
            self.lease.close()


def _settled(slot: _Slot, signum: Optional[int]) -> RunSummary:
    """The summary of a slot's run as the run reports and records it, once its run ended
    (a signal later does not change it): a task a reload removed, or --fail-fast stopped,
    says so; one a signal (`signum`, the run's first) stopped while it ran says which,
    unless its stream had broken before the signal (`failed_unasked`): that run failed."""
    summary = slot.summary or RunSummary(task=slot.task.name, outcome="failed")
    if slot.removed and summary.outcome == "interrupted":  # stopped by the reload
        summary.outcome, summary.error = "removed", None
    elif slot.stopped_by_task is not None and summary.outcome == "interrupted":
        # Stopped by --fail-fast (a signal that came later only hurried its stop): no
        # signal's 130. One that failed of its own meanwhile stays failed.
        failed = slot.stopped_by_task
        summary.outcome, summary.stopped_by_task = "stopped", failed
        summary.error = stopped_by_failure(summary.task, failed, summary.error)
    elif slot.user_stopped and summary.outcome != "completed" and not summary.failed_unasked:
        summary.stopped_by = signum  # stopped while it ran
    return summary


def _judge_unread(store: StateStore, summary: RunSummary) -> None:
    """_judge_resumable for a task stopped before it ran an attempt, whose record none
    read (a standby stopped while it waited, a task stopped before its first attempt):
    the store is asked, once. A database that did not answer the last call is not (a
    stop asks it nothing more), and one that fails to answer leaves the summary as it is."""
    if store.silent:
        return
    try:
        record = store.get(summary.task)
    except DstreamError as exc:
        logs.log.debug("is a checkpoint stored? not known: %s", exc, task=summary.task)
        return
    summary.resumed = record.raw if record else None
    if record is None:
        summary.resumable = False


def _fail_fast(slots: list[_Slot], failed: _Slot) -> None:
    """--fail-fast: stop every task still running, because `failed` failed. A task a
    signal or an earlier failure already stops keeps that stop and its cause. Its stop
    is no signal's: the user's first Ctrl-C after it drains on, only a second forces
    (stopping.Stop). One a reload is draining is not restarted (run_slot)."""
    for other in slots:
        if other is failed or other.done or other.user_stopped or other.stopped_by_task:
            continue
        other.stopped_by_task = failed.task.name
        other.stop.drain()


def _restarting(monitor: Monitor, slot: _Slot) -> bool:
    """The task waits out its restart backoff (or starts its next attempt): no stream."""
    task = monitor.tasks.get(slot.task.name)
    return task is not None and task.state == "restarting"


def _on_signal(
    slots: list[_Slot], started: threading.Event, monitor: Monitor
) -> Callable[[int, int], None]:
    """SIGINT/SIGTERM: drain every task still running (one that already ended keeps its
    outcome); a second one forces."""

    def stop(signum: int, requests: int) -> None:
        doing = _doing(slots, started, monitor)  # what they do before this stop changes it
        for slot in slots:
            if not slot.done:
                slot.user_stopped = True
                if requests == 1:
                    slot.stop.drain(signum)
                else:
                    slot.stop.force(signum)
        if requests == 1:  # the stops were asked first: a notice that fails changes nothing
            say_stopping(doing, signum)

    return stop


def _doing(slots: list[_Slot], started: threading.Event, monitor: Monitor) -> str:
    """What a first stop signal does, as its notice says: a task waiting out its restart
    backoff has no input running whose output is drained, its restart is called off."""
    if not started.is_set():
        return "stopping before any task started"
    running = [slot for slot in slots if not slot.done]
    if not running:  # their records may still be written
        return "stopping: every task had ended"
    if all(_restarting(monitor, slot) for slot in running):
        what = "restart the task waits" if len(running) == 1 else "restarts the tasks wait"
        return f"stopping: calling off the {what} for"
    return "stopping: draining what the inputs already wrote"


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
    history: bool = True,
) -> list[RunSummary]:
    """Run tasks side by side until they end. `reload(held)` (on SIGHUP) re-reads the
    configuration, given the tasks the run holds then; tasks whose definition changed
    are drained and restarted. A `standby` run waits while another run holds one of its
    tasks, and takes them all over when all are free (take_all). `prepare(store, held)`
    changes the state before the run (`--reset-state`, the input's digest): called once
    this run holds every task, before any provider starts, so that a run refused or
    stopped while it waits has changed nothing of another run's. `history`: each task's
    run is recorded in its history (`dstream runs`) on the store that holds it
    (runtime/history.py)."""
    from dstream.runtime.watchdog import watchdog
    from dstream.state import open_store

    watchdog.start()  # its start overlaps opening the store and taking the tasks
    slots = [_Slot(project, project.task(name)) for name in names]
    hooks = hooks or RunHooks()
    monitor = monitor or Monitor(names)
    store = open_store(project.state, project.base_dir)
    several = len(slots) > 1
    started = threading.Event()
    signals = StopSignals(_on_signal(slots, started, monitor))

    def record(slot: _Slot, summary: RunSummary) -> None:
        if history:
            slot.recording.record(store, summary, until=signals.deadline)

    def record_waited(slot: _Slot, summary: RunSummary) -> None:
        """The main thread's record of a task that never ran: a second signal during it
        cuts it (it may wait on the state database), as it cuts the wait it ended; after
        a forced stop it is tried uncut, since the store then waits for nothing past the
        stop's deadline."""
        if signals.forced:  # the store waits for nothing past the deadline then: not cut
            record(slot, summary)
            return
        try:
            with signals.interruptible():
                record(slot, summary)
        except Forced:
            may_be_missing(slot.task.name)

    def work(slot: _Slot) -> None:
        try:
            try:
                summary = run_slot(slot)
            finally:
                slot.done = True  # before its lease goes: a signal from now on is not its stop
            record(slot, summary)  # before its lease goes, as any write of the task
        except BaseException as exc:  # a bug: re-raised where the CLI's boundary catches it
            slot.crash = exc
        finally:
            slot.recording.settle()
            slot.lease.close()  # a run that ends releases its lease at once

    def run_slot(slot: _Slot) -> RunSummary:
        earlier: Optional[RunSummary] = None  # what the definitions before a reload did
        while True:
            try:
                slot.summary = run_task(
                    RunContext(
                        slot.project, slot.task, store, slot.stop, hooks,
                        monitor.tasks[slot.task.name], task_prefixes=several,
                    ),
                    slot.started_at,
                )  # fmt: skip
            except DstreamError as exc:
                slot.summary = RunSummary(task=slot.task.name, outcome="failed", error=exc)
            except BaseException as exc:
                missing = missing_package(exc) if isinstance(exc, ImportError) else None
                if missing is None:  # a bug: the CLI's error boundary reports it
                    for other in slots:
                        other.stop.request()
                    raise
                slot.summary = RunSummary(task=slot.task.name, outcome="failed", error=missing)
            if earlier is not None:  # one summary per task: totals over the reloads
                slot.summary = _after_reload(earlier, slot.summary)
            if slot.reload_to is None or slot.user_stopped or slot.stopped_by_task:
                break
            earlier = slot.summary
            # Between the old definition's end and the new one's start: restarting, as
            # /healthz counts it (it said 503 for that moment).
            monitor.tasks[slot.task.name].detach("restarting")
            (slot.project, slot.task), slot.reload_to = slot.reload_to, None
            slot.stop = Stop()
            if slot.stopped_by_task is not None:  # --fail-fast came as it was restarting
                slot.stop.request()
        failed = slot.summary.outcome == "failed"
        if failed and any(not other.done for other in slots if other is not slot):
            # Said when it happens, for what alerts on the log: the run's error blocks
            # come when every task has ended, which may be days later.
            error = slot.summary.error
            logs.log.error(
                "failed: %s; %s", error.reason if error else "failed",
                "--fail-fast stops the others" if fail_fast else "the other tasks go on",
                task=slot.task.name,
            )  # fmt: skip
        if fail_fast and failed:
            _fail_fast(slots, slot)
        slot.summary = _settled(slot, signals.signum)
        if slot.summary.outcome == "removed":  # as /healthz counts it (not interrupted)
            monitor.tasks[slot.task.name].detach("removed")
        return slot.summary

    with signals:

        def reloads() -> None:  # while waiting on standby
            if signals.reload_asked() and reload is not None:
                reload_waiting(slots, reload, monitor)

        try:
            try:
                with signals.interruptible():
                    taken = take_all(store, slots, standby, reloads)
            except Forced:
                taken = False
            if not taken:
                why = "while waiting on standby" if standby else "before it started"
                waited = [
                    s.summary if s.summary else never_started(s.task.name, why, signals.signum)
                    for s in slots
                ]  # fmt: skip
                for slot, summary in zip(slots, waited):
                    if slot.summary is None:  # stopped (one a reload removed never ran)
                        with contextlib.suppress(Forced), signals.interruptible():
                            _judge_unread(store, summary)
                    record_waited(slot, summary)
                return waited
            held = [slot for slot in slots if not slot.done]  # not removed while waiting
            if prepare is not None and held:
                prepare(store, [Held(s.project, s.task, reloaded=s.reloaded) for s in held])
            started.set()
            for slot in held:
                slot.started_at = time.time()
                slot.thread = threading.Thread(
                    target=work, args=(slot,), name=slot.task.name, daemon=True
                )
                slot.thread.start()
            _supervise(slots, signals, reload)
            summaries = _summaries(slots, signals.signum, monitor)
            for slot, summary in zip(slots, summaries):
                if isinstance(summary.error, LeftBehind):  # its thread will not record it
                    record(slot, summary)  # after a forced stop: the store waits for nothing
            return summaries
        finally:
            for slot in slots:
                slot.release()
            store.close()


def _supervise(
    slots: list[_Slot], signals: StopSignals, reload: Optional[Callable[[list[str]], Project]]
) -> None:
    """Wait for every task's thread, applying reloads meanwhile; after a forced stop, at
    most STOP_MARGIN (a thread still waiting on the state database is left behind)."""
    for slot in slots:
        if slot.thread is None:  # removed by a reload while the run waited for it
            continue
        while not signals.wait(slot.thread):
            if signals.reload_asked() and reload is not None:
                with contextlib.suppress(Forced), signals.interruptible():
                    apply_reload(slots, reload)


def _summaries(slots: list[_Slot], signum: Optional[int], monitor: Monitor) -> list[RunSummary]:
    for slot in slots:
        if slot.crash is not None:  # re-raised here, where the CLI's boundary catches it
            raise slot.crash
    summaries = []
    for slot in slots:
        alive = slot.thread is not None and slot.thread.is_alive()
        if alive and not slot.done:
            # Left behind (after a forced stop: it waits on the state database): what its
            # monitor saw it do, since its thread never returned its own summary.
            live = monitor.tasks.get(slot.task.name)
            summaries.append(left_behind(slot.task.name, signum, slot.started_at, live))
            continue
        if alive:  # its record may wait still: the process ends
            slot.recording.warn_if_unsettled(slot.task.name)
        # Settled by its thread as its run ended (or never run: a reload removed it).
        summaries.append(slot.summary or RunSummary(task=slot.task.name, outcome="failed"))
    return summaries
