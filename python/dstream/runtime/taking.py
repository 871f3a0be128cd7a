"""Holding a run's tasks before any provider starts: every task or none, in name order,
so that no task is held without running and two runs that want the same tasks never
hold one each. A standby run waits, through a stall of the database once it answered,
holding none meanwhile (docs/scaling.md, "Standby")."""

from __future__ import annotations

from dstream import logs
from dstream.config.model import RestartPolicy, TaskSpec, definition
from dstream.errors import DstreamError
from dstream.protocol.frames import DEFAULT_FLUSH_TIMEOUT
from dstream.protocol.values import encode_json
from dstream.state.base import AlreadyRunning, StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    import contextlib
    from collections.abc import Iterable, Sequence
    from typing import Callable, Optional, Protocol

    from dstream.config.model import Project
    from dstream.runtime.stopping import Stop

    class Takes(Protocol):
        """A task of a run, as taking it sees it (runtime/runner.py's slot)."""

        project: Project
        task: TaskSpec
        lease: contextlib.ExitStack[Optional[bool]]
        stop: Stop
        done: bool


# Task settings added after digests were first kept (their path in the definition), at
# their defaults: left out of the digest then, so a task that does not set them keeps
# the digest older versions give it (agents of two versions agree on it).
_ADDED_SETTINGS: dict[tuple[str, ...], object] = {
    ("flush_timeout",): DEFAULT_FLUSH_TIMEOUT,
    ("restart", "reset_after"): RestartPolicy().reset_after,
}


def definition_hash(task: TaskSpec, sensitive: Iterable[str]) -> str:
    """A short digest of what a task does: kept with its lease, compared between agents.
    Without its secrets (`sensitive`: the project's sensitive values; the rest as the
    input digest finds them, config/unsecret.py): whoever reads the state database
    could test guesses of a secret against a fast hash over it (docs/security.md)."""
    import hashlib  # not at the top: a run on the file backend never needs it

    from dstream.config.unsecret import without_secrets

    document = definition(task)
    for (*parents, name), default in _ADDED_SETTINGS.items():
        place: object = document
        for parent in parents:
            place = place.get(parent) if isinstance(place, dict) else None
        if isinstance(place, dict) and place.get(name) == default:
            del place[name]
    data = encode_json(without_secrets(document, sensitive), sort_keys=True, default=str)
    return hashlib.sha256(data).hexdigest()[:16]


STANDBY_POLL = 0.5  # seconds between two attempts of a standby run to take its task
# What docs/scaling.md promises: a standby holds the task of a holder that died within
# lease_ttl + TAKEOVER_MARGIN of its death: one poll, and slack for a loaded host (a poll
# or a connection seconds late on a busy 2-CPU machine; tests/scale checks it).
TAKEOVER_SLACK = 2.5
TAKEOVER_MARGIN = STANDBY_POLL + TAKEOVER_SLACK


def take_each(store: StateStore, slots: list[Takes]) -> Optional[tuple[Takes, AlreadyRunning]]:
    """Hold every slot's task, in name order, or none: the first one held elsewhere and
    its error (those taken before it are given back), None when all are held. One order
    for every run: two runs that want the same tasks meet at the first of them."""
    taken: list[Takes] = []
    try:
        for slot in sorted(slots, key=lambda each: each.task.name):
            sensitive = slot.project.sensitive_values
            digest = definition_hash(slot.task, sensitive) if store.has_leases else ""
            try:
                slot.lease.enter_context(store.hold_run(slot.task.name, config_hash=digest))
            except AlreadyRunning as exc:
                give_back(taken)
                return slot, exc
            taken.append(slot)
    except DstreamError:
        give_back(taken)
        raise
    return None


def give_back(slots: Sequence[Takes]) -> None:
    for slot in slots:
        slot.lease.close()


class _Waiting:
    """A standby run waiting for its tasks: what it says (the task it waits for, once
    per task; a stall of the database, once a stall), and the task its last try found
    held elsewhere."""

    def __init__(self, slots: Sequence[Takes]) -> None:
        self.several = len(slots) > 1
        self.blocked_by: Optional[str] = None
        self.answered = False  # the database answered a try: a stall is no wrong dsn
        self.stalled = False

    def held(self, slot: Takes, exc: AlreadyRunning) -> None:
        self.answers()
        if slot.task.name != self.blocked_by:
            together = " (its tasks are taken together: it holds none of them meanwhile)"
            logs.log.info(
                "standby: %s; taking over when it is free%s",
                exc.reason, together if self.several else "",
            )  # fmt: skip
        self.blocked_by = slot.task.name

    def still_blocked(self, store: StateStore, pending: list[Takes]) -> bool:
        """Whether the task the last try found held is held still, read before the tasks
        that come before it in name order are taken again: while it is, they are not
        taken and given back (their lease epochs bumped, a `status` or a run elsewhere
        finding them held for a moment) at every poll."""
        names = [slot.task.name for slot in pending]
        if len(names) < 2 or self.blocked_by not in names:
            return False
        if not store.held_elsewhere(self.blocked_by):
            return False
        self.answers()
        return True

    def answers(self) -> None:
        self.answered = True
        if self.stalled:
            logs.log.info("standby: the state database answers again")
            self.stalled = False

    def stall(self, exc: DstreamError) -> None:
        if not self.stalled:
            logs.log.warning(
                "standby: the state database does not answer (%s); waiting on, trying "
                "again every %gs", exc.reason, STANDBY_POLL,
            )  # fmt: skip
            self.stalled = True


def _unreachable(exc: DstreamError) -> bool:
    """Whether `exc` says the state database did not answer. Imported here: only a store
    with leases raises it, and its module (which loads socket) is no part of a run's
    start-up otherwise."""
    from dstream.state.session import StateUnreachable

    return isinstance(exc, StateUnreachable)


def take_all(
    store: StateStore, slots: Sequence[Takes], standby: bool, reloads: Callable[[], None]
) -> bool:
    """Before any provider starts (a second run of a task must not even begin): hold
    every task of the run, or none. A standby run waits until all of them are free, also
    through a stall of the database once it answered, holding none meanwhile: nothing it
    does not run, and two standbys of overlapping tasks never hold one each, waiting for
    the other's. `reloads()`, between two tries, applies a reload (SIGHUP) to the tasks
    still waited for: True also when a reload removed every one. False when it was
    stopped meanwhile: then it holds nothing (a take-over answered after the stop is
    given back), and whatever the try in flight then met is no error."""
    waiting = _Waiting(slots)
    while True:
        pending = [slot for slot in slots if not slot.done]
        if stopping(pending):
            break
        if not pending:
            return True
        held: Optional[tuple[Takes, AlreadyRunning]] = None
        try:
            blocked = waiting.still_blocked(store, pending)
            if stopping(pending):  # came while that read waited: no take-over try now
                break
            if not blocked:
                held = take_each(store, pending)
                if held is None:
                    if stopping(pending):
                        break
                    return True
        except DstreamError as exc:
            if stopping(pending):
                break
            # Never answered yet: a wrong dsn is as likely as a stall, and is an error.
            if not (waiting.answered and _unreachable(exc)):
                raise
            waiting.stall(exc)
        if held is not None:
            if not standby:
                raise held[1]
            waiting.held(*held)
        pending[0].stop.event.wait(STANDBY_POLL)
        reloads()
    give_back(slots)
    return False


def stopping(slots: Sequence[Takes]) -> bool:
    return any(slot.stop.requests for slot in slots)
