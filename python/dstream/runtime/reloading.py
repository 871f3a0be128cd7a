"""A reload (SIGHUP) of a run's tasks (runtime/runner.py): the configuration read again,
a task the run holds restarted when its definition changed and stopped when it is gone,
the others left to stream on; a task a --standby run still waits for taken as it is
defined now, or waited for no more."""

from __future__ import annotations

from dstream import logs
from dstream.config.model import Project, TaskSpec, definition
from dstream.errors import DstreamError
from dstream.records import asdict
from dstream.runtime.result import RunSummary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Callable, Optional, Protocol

    from dstream.runtime.monitor import Monitor
    from dstream.runtime.stopping import Stop

    class Reloaded(Protocol):
        """A task of a run, as a reload sees it (runtime/runner.py's slot)."""

        project: Project
        task: TaskSpec
        stop: Stop
        done: bool
        removed: bool  # a reload found it gone from the configuration
        reloaded: bool  # a reload changed it while a standby run waited for it
        reload_to: Optional[tuple[Project, TaskSpec]]  # what it restarts as
        summary: Optional[RunSummary]


def _read_again(
    reload: Callable[[list[str]], Project], held: list[str], keeping: str
) -> Optional[Project]:
    """The configuration a reload (SIGHUP) reads, given the tasks the run holds; None
    when it cannot be read (logged: the run goes on `keeping` what it had)."""
    try:
        return reload(held)
    except DstreamError as exc:
        logs.log.failure(f"reload failed, {keeping}", exc)
        return None


def unapplied(started: Project, now: Project, writing: str) -> None:
    """Say what a reload does not apply (docs/cli.md, "Signals"), comparing the
    configuration the run `started` with to the one it reads `now`: a changed state
    block (the run keeps writing the store it opened, described by `writing`), a changed
    metrics block (the endpoint keeps its address), each task added (the run goes on
    with the tasks it took, --all or not)."""
    if _settings(now.state) != _settings(started.state):
        logs.log.warning(
            "the state block changed: it takes effect at the next start; this run keeps "
            "writing %s", writing,
        )  # fmt: skip
    if _settings(now.metrics) != _settings(started.metrics):
        logs.log.warning("the metrics block changed: it takes effect at the next start")
    known = {*started.tasks, *started.broken}
    for name in sorted({*now.tasks, *now.broken} - known):
        logs.log.warning(
            "added to the configuration: this run does not start it; run it with "
            "`dstream run %s`", name, task=name,
        )  # fmt: skip


def _settings(block: object) -> dict[str, object]:
    """A block's settings, without where they are written (a line added above it
    changes no setting)."""
    return {k: v for k, v in asdict(block).items() if not k.endswith("location")}


def _new_definition(slot: Reloaded, project: Project, keeps: str) -> Optional[TaskSpec]:
    """The slot's task as the reloaded `project` defines it, None when it is gone; the
    one it has when it cannot be evaluated now (logged: it `keeps` as it was)."""
    new = project.tasks.get(slot.task.name)
    if new is None and slot.task.name in project.broken:
        logs.log.error(
            "cannot be evaluated after the reload (%s): it %s as it was; fix the "
            "configuration and reload again", project.broken[slot.task.name], keeps,
            task=slot.task.name,
        )  # fmt: skip
        return slot.task
    return new


def apply_reload(slots: Sequence[Reloaded], reload: Callable[[list[str]], Project]) -> None:
    """Restart the tasks whose definition changed; the others stream on. A task whose
    run ended (or a reload already removed) is left as it is."""
    held = [slot for slot in slots if not slot.done]
    project = _read_again(reload, [slot.task.name for slot in held], "keeping the running one")
    if project is None:
        return
    for slot in held:
        if slot.removed:  # a reload before removed it: it is draining
            continue
        new = _new_definition(slot, project, "keeps running")
        if new is None:
            logs.log.warning("gone from the configuration: stopping it", task=slot.task.name)
            slot.removed = True
            slot.stop.request()
        elif definition(new) != definition(slot.task):
            logs.log.info("its definition changed: restarting it", task=slot.task.name)
            slot.reload_to = (project, new)
            slot.stop.request()


# The note of a task a reload removed while a --standby run waited for it: it never ran
# (its summary's `attempts` is 0).
REMOVED_WAITING = (
    "removed from the configuration by a reload (SIGHUP) while the run waited to take it "
    "over: it never ran"
)


def reload_waiting(
    slots: Sequence[Reloaded], reload: Callable[[list[str]], Project], monitor: Monitor
) -> None:
    """A reload (SIGHUP) while a standby run waits for its tasks, holding none: a task
    removed from the configuration is waited for no more, a changed one is taken and
    run as it is defined now."""
    waiting = [slot for slot in slots if not slot.done]
    project = _read_again(reload, [], "waiting on with the configuration it had")
    if project is None:
        return
    for slot in waiting:
        new = _new_definition(slot, project, "is waited for")
        if new is None:
            logs.log.warning(
                "gone from the configuration: no longer waiting for it",
                task=slot.task.name,
            )  # fmt: skip
            slot.removed = slot.done = True
            slot.summary = RunSummary(
                task=slot.task.name, outcome="removed", attempts=0, notes=[REMOVED_WAITING]
            )
            slot.summary.ended_at = slot.summary.started_at
            monitor.tasks[slot.task.name].detach("removed")
        elif new is not slot.task:
            if definition(new) != definition(slot.task):
                logs.log.info("its definition changed: it runs as now defined", task=slot.task.name)
                slot.reloaded = True
            slot.project, slot.task = project, new
    if all(slot.done for slot in slots):
        logs.log.info(
            "standby: every task it waited for is gone from the configuration: nothing to run"
        )
