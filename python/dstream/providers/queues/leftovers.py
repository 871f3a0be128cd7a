"""Which queues on the broker a task's queue output owns beyond what its configuration
names today: queues of tables taken out of `tables`, or named by an earlier
`queue_pattern`.

An output keeps no state of its own, so the broker is the record: every queue dstream
creates carries a mark (`Mark`: the task, and the table it is for), which the broker
lists back (`QueueBackend.marked`). A marked queue the configuration no longer names
is a leftover. What the mark cannot prove is which project made it (two projects with
a task of one name on one broker mark alike), so a leftover is removed only while it
is empty and unused, which loses nothing whoever's it is; one that holds messages or
has consumers is shown and kept (docs/queues.md, "Leftover queues")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from dstream.errors import ConfigError, DstreamError
from dstream.providers.queues.routing import Router, read_table

# The keys of a mark: RabbitMQ queue arguments, Service Bus user metadata.
MARK_TASK = "dstream-task"
MARK_TABLE = "dstream-table"
LEFTOVER = "no longer in the configuration"


@dataclass(frozen=True)
class Mark:
    """What dstream writes on a queue it creates."""

    task: str
    table: Optional[str]  # as the configuration wrote it; None: the dead-letter queue

    def as_dict(self) -> dict[str, str]:
        mark = {MARK_TASK: self.task}
        if self.table is not None:
            mark[MARK_TABLE] = self.table
        return mark


@dataclass(frozen=True)
class Marked:
    """A queue on the broker carrying a task's mark."""

    queue: str
    table: Optional[str]


def read_mark(task: str, queue: str, mark: object) -> Optional[Marked]:
    """`queue` as a queue of `task`'s, when `mark` (as the broker gives back what
    `Mark.as_dict` wrote) is that task's; None for another's, or for no mark."""
    if not isinstance(mark, dict) or mark.get(MARK_TASK) != task:
        return None
    table = mark.get(MARK_TABLE)
    return Marked(queue, table if isinstance(table, str) else None)


class CannotList(DstreamError):
    """The broker's queues cannot be listed (RabbitMQ without its management API): the
    lifecycle goes on with the configured queues, and says leftovers were not looked for."""


@dataclass(frozen=True)
class Owned:
    """The marked queues a lifecycle command sees, split by what they are to the task."""

    first_use: list[Marked]  # made by unknown_table = "create" for a table met in a run
    leftovers: list[Marked]  # the configuration no longer names them
    # The configured queues the task's mark is on (by the naming rules' key): dstream made
    # them, so destroy removes them whatever they hold. None: the broker's queues could
    # not be listed, and the configuration naming a queue is all there is to go by (as
    # the original DStream went by it).
    marked: Optional[frozenset[str]] = None

    def made(self, key: str) -> bool:
        """Whether the configured queue of naming key `key` is taken for the task's own."""
        return self.marked is None or key in self.marked


def classify(marked: list[Marked], router: Router) -> Owned:
    """Marked queues that are not among the configured ones: a queue made on first use
    (unknown_table = "create") of a table that still maps to it belongs to the task;
    every other one is a leftover."""
    rules = router.naming.rules
    configured = {rules.key(queue) for queue, _ in router.wanted()}
    first_use: list[Marked] = []
    leftovers: list[Marked] = []
    made: set[str] = set()
    for queue in marked:
        if rules.key(queue.queue) in configured:
            made.add(rules.key(queue.queue))
            continue
        if router.unknown_table == "create" and _maps_to(router, queue):
            first_use.append(queue)
        else:
            leftovers.append(queue)
    return Owned(first_use, leftovers, frozenset(made))


def _maps_to(router: Router, queue: Marked) -> bool:
    if queue.table is None:
        return False
    try:
        name = router.naming.name_for(read_table(queue.table))
    except ConfigError:  # a mark written by hand, or by another version
        return False
    return router.naming.rules.key(name) == router.naming.rules.key(queue.queue)


def idle(details: dict[str, object]) -> bool:
    """Empty and without consumers: removing it loses nothing and cuts off no one."""
    return not details.get("messages") and not details.get("consumers")


def not_made_reason(queue: str, details: dict[str, object]) -> str:
    """Why destroy keeps a configured queue that does not carry the task's mark."""
    return (
        f"queue {queue} was not created by dstream (it has no mark of this task) and "
        f"{_held(details)}, so destroy keeps it: delete it on the broker if its messages "
        "are not needed"
    )


def _held(details: dict[str, object]) -> str:
    held = [f"holds {details['messages']} message(s)"] if details.get("messages") else []
    if details.get("consumers"):
        held.append(f"has {details['consumers']} consumer(s)")
    return " and ".join(held) or "is in use"


def kept_reason(queue: str, details: dict[str, object]) -> str:
    """Why a leftover stays, and how it goes."""
    return (
        f"queue {queue} is {LEFTOVER} but {_held(details)}, so dstream "
        "keeps it: once it is drained and unused `dstream init` removes it, or delete it "
        "on the broker"
    )


__all__ = [
    "LEFTOVER",
    "CannotList",
    "Mark",
    "Marked",
    "Owned",
    "classify",
    "idle",
    "kept_reason",
    "not_made_reason",
    "read_mark",
]
