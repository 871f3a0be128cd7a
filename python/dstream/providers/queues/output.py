"""What every table-aware queue output shares: the config keys, routing envelopes to
messages, batching, retries, and the init/plan/status/destroy hooks. A broker module
adds a `QueueBackend` (blocking I/O, run in a worker thread so the host's event loop
keeps reading stdin) and its own config keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Generic, Optional, Protocol, TypeVar

from dstream.errors import ConfigError, DstreamError
from dstream.extras import missing_package
from dstream.protocol.messages import KEPT, LifecycleResult
from dstream.providers.queues.leftovers import (
    LEFTOVER,
    CannotList,
    Mark,
    Marked,
    Owned,
    classify,
    idle,
    kept_reason,
    not_made_reason,
)
from dstream.providers.queues.routing import (
    DEFAULT_DEAD_LETTER_QUEUE,
    DEFAULT_PATTERN,
    UNKNOWN_TABLE_POLICIES,
    NamingRules,
    OutgoingMessage,
    QueueNaming,
    RetryPolicy,
    Router,
    batches,
    build_message,
)
from dstream.sdk import Change, Envelope, OutputProvider, ProviderConfig, Resource, log


@dataclass
class QueueConfig(ProviderConfig):
    """Config keys common to every queue output (camelCase accepted too)."""

    tables: list[str] = field(default_factory=list)
    queue_pattern: str = field(default=DEFAULT_PATTERN, metadata={"aliases": ("queue_name",)})
    unknown_table: str = "error"  # error | create | dead_letter
    dead_letter_queue: str = DEFAULT_DEAD_LETTER_QUEUE
    database: str = ""
    schema: str = ""  # for {schema} of a table named without a schema
    retry_attempts: int = 5
    retry_backoff: float = 0.5
    retry_max_backoff: float = 10.0

    def validate(self) -> None:
        if self.unknown_table not in UNKNOWN_TABLE_POLICIES:
            raise ConfigError(
                f"unknown_table = {self.unknown_table!r} is not a policy",
                hint="use one of: " + ", ".join(UNKNOWN_TABLE_POLICIES),
            )
        if self.retry_attempts < 1:
            raise ConfigError(
                "retry_attempts must be at least 1 (1 = no retry)",
                hint="write how many times a publish is tried, e.g. retry_attempts = 3",
            )


class QueueBackend(Protocol):
    """A broker, seen through blocking calls. Methods are called from one worker thread
    at a time."""

    resource_type: str
    max_batch_messages: int
    max_batch_bytes: int

    def connect(self) -> None:
        """Connect now (a no-op when connected): a wrong URL fails here, at start."""

    def inspect(self, queue: str) -> Optional[dict[str, object]]:
        """Details of an existing queue (at least `messages`, and `consumers` where the
        broker says), or None if it is missing."""

    def unfit(self, queue: str, details: dict[str, object]) -> Optional[DstreamError]:
        """Why an existing queue, as `inspect` described it, would lose messages dstream
        counts as delivered (not durable, say); None when it would not, or cannot tell."""

    def create(self, queue: str, mark: Optional[Mark]) -> None:
        """Declare a durable queue carrying `mark` (leftovers.py); declaring one that
        exists is not an error (and does not mark it)."""

    def delete(self, queue: str, *, if_idle: bool = False) -> bool:
        """Delete the queue (already gone: fine). `if_idle`: only while it holds no
        message and has no consumer; False when it was kept for that."""

    def marked(self, task: str) -> list[Marked]:
        """The broker's queues carrying `task`'s mark; CannotList when the broker cannot
        list its queues."""

    def send(self, batch: list[OutgoingMessage]) -> None:
        """Send one batch (one queue) and return only once the broker confirmed every
        message of it; raise otherwise."""

    def reset(self) -> None:
        """Drop the connection after a failure; the next call reconnects."""

    def is_transient(self, exc: BaseException) -> bool: ...

    def failure(self, exc: BaseException) -> DstreamError:
        """What failed, in words a user acts on: the broker and its address, what it
        answered, what to check. Never a secret of the URL or connection string."""

    def close(self) -> None: ...


ConfigT = TypeVar("ConfigT", bound=QueueConfig)
T = TypeVar("T")


class QueueOutput(OutputProvider[ConfigT], Generic[ConfigT]):
    rules: ClassVar[NamingRules]
    # Whether a queue's settings can make it lose messages (`QueueBackend.unfit`): a run
    # then looks at its queues before it streams (a Service Bus queue's cannot).
    settings_can_lose: ClassVar[bool] = False

    @property
    def exact_numbers(self) -> bool:
        return True  # a message body is the data written again: every number as received

    def __init__(self, config: ConfigT, **kw: Any) -> None:  # Any: the base's keywords
        super().__init__(config, **kw)
        self._router: Optional[Router] = None
        self._backend: Optional[QueueBackend] = None

    # -- to be provided by the broker module ---------------------------------------------
    def make_backend(self) -> QueueBackend:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    @property
    def router(self) -> Router:
        if self._router is None:
            cfg = self.config
            naming = QueueNaming(
                cfg.queue_pattern,
                self.rules,
                task=self.task or "",
                database=cfg.database,
                schema=cfg.schema,
            )
            self._router = Router(
                naming,
                cfg.tables,
                unknown_table=cfg.unknown_table,
                dead_letter_queue=cfg.dead_letter_queue,
            )
        return self._router

    @property
    def backend(self) -> QueueBackend:
        if self._backend is None:
            self._backend = self.make_backend()
        return self._backend

    @property
    def retry(self) -> RetryPolicy:
        cfg = self.config
        return RetryPolicy(cfg.retry_attempts, cfg.retry_backoff, cfg.retry_max_backoff)

    async def _blocking(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def open(self) -> None:
        # Connect before the handshake so a wrong URL or password is reported at start.
        _ = self.router
        await self._blocking(self._with_retry, self.backend.connect)
        if self.settings_can_lose:
            await self._blocking(self._refuse_unfit)

    def _refuse_unfit(self) -> None:
        """A run refuses to start into a configured queue that would lose what it
        confirms (`QueueBackend.unfit`): its checkpoints would be acknowledged for
        changes a broker restart then loses."""
        for queue, _table, details in self._survey():
            unfit = self.backend.unfit(queue, details) if details is not None else None
            if unfit is not None:
                raise unfit

    async def close(self) -> None:
        if self._backend is not None:
            await self._blocking(self._backend.close)

    async def write(self, batch: list[Envelope]) -> None:
        router = self.router
        messages: list[OutgoingMessage] = []
        new_queues: list[tuple[str, Optional[str]]] = []
        for envelope in batch:
            route = router.route(envelope.metadata)
            if route.new_queue:
                new_queues.append((route.queue, route.table))
                log.info("creating queue for a table not in `tables`", table=route.table)
            messages.append(build_message(route, envelope.data, envelope.metadata))
        await self._blocking(self._deliver, new_queues, messages)

    def _deliver(
        self, new_queues: list[tuple[str, Optional[str]]], messages: list[OutgoingMessage]
    ) -> None:
        backend = self.backend
        for queue, table in new_queues:
            self._with_retry(lambda q=queue, t=table: backend.create(q, self._mark(t)))
        for chunk in batches(
            messages, max_count=backend.max_batch_messages, max_bytes=backend.max_batch_bytes
        ):
            # A retried batch is sent whole again: some of it may arrive twice, each copy
            # with the same message id, which is what at-least-once promises.
            self._with_retry(lambda c=chunk: backend.send(c))

    def _with_retry(self, fn: Callable[..., T]) -> T:
        backend = self.backend

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            log.warning(
                "broker call failed, retrying",
                attempt=attempt,
                of=self.config.retry_attempts,
                delay_s=delay,
                error=str(backend.failure(exc)),
            )
            backend.reset()

        try:
            return self.retry.call(fn, transient=backend.is_transient, on_retry=on_retry)
        except (DstreamError, ImportError):
            raise  # said already; a client not installed is the host's to name (one line)
        except Exception as exc:  # the broker's (or its client's): said in its words
            raise backend.failure(exc) from exc

    # -- lifecycle -----------------------------------------------------------------------
    # A queue as the lifecycle sees it: (queue, table, details; None: it does not exist).
    def _mark(self, table: Optional[str]) -> Optional[Mark]:
        return Mark(self.task, table) if self.task else None  # by hand, without a task: none

    def _survey(self) -> list[tuple[str, Optional[str], Optional[dict[str, object]]]]:
        return [
            (q, t, self._with_retry(lambda q=q: self.backend.inspect(q)))
            for q, t in self.router.wanted()
        ]

    def _owned(self) -> tuple[Owned, str]:
        """The task's marked queues beyond the configured ones, and, when the broker
        could not list them, a note saying so (the command goes on without them)."""
        if not self.task:
            return Owned([], []), ""
        try:
            marked = self.backend.marked(self.task)
        except CannotList as exc:
            note = f"queues {LEFTOVER} were not looked for: {exc.one_line()}"
            log.info(note)
            return Owned([], []), note
        return classify(marked, self.router), ""

    def _existing(self, queues: list[Marked]) -> list[tuple[str, Optional[str], dict[str, object]]]:
        found = [
            (m.queue, m.table, self._with_retry(lambda q=m.queue: self.backend.inspect(q)))
            for m in queues
        ]
        return [(q, t, d) for q, t, d in found if d is not None]  # gone meanwhile: nothing to say

    def _resource(
        self, queue: str, table: Optional[str], details: Optional[dict[str, object]], **more: str
    ) -> Resource:
        info: dict[str, object] = {"table": table} if table else {"role": "dead letters"}
        info.update(more)
        info.update(details or {})
        unfit = self.backend.unfit(queue, details) if details is not None else None
        if unfit is None:
            return Resource(self.backend.resource_type, queue, details is not None, info)
        return Resource(
            self.backend.resource_type, queue, True, info, problem=unfit.reason, hint=unfit.hint
        )

    async def init(self) -> LifecycleResult:
        return await self._blocking(self._apply, "create")

    async def destroy(self) -> LifecycleResult:
        return await self._blocking(self._apply, "delete")

    def _apply(self, action: str) -> LifecycleResult:
        changes: list[Change] = []
        resources: list[Resource] = []
        notes: list[str] = []
        kept: list[str] = []  # why each queue is kept, and what to do (KEPT)
        try:
            owned, note = self._owned()
            notes += [note] if note else []
            for queue, table, details in self._survey():
                if action == "create" and details is None:
                    self._with_retry(lambda q=queue, t=table: self.backend.create(q, self._mark(t)))
                    changes.append(Change("create", self.backend.resource_type, queue, _why(table)))
                    details = self._with_retry(lambda q=queue: self.backend.inspect(q))
                elif (
                    action == "delete"
                    and details is not None
                    and self._destroy_configured(queue, details, owned, changes, kept)
                ):
                    details = None
                resources.append(self._resource(queue, table, details))
            if action == "delete":  # made on first use: the task's, as configured ones are
                for queue, table, details in self._existing(owned.first_use):
                    self._delete(queue, changes, reason=_holding(details))
                    resources.append(self._resource(queue, table, None))
            self._remove_leftovers(owned.leftovers, changes, resources, kept)
        except Exception as exc:
            # What was already done is reported with the failure: nothing silently half-done.
            return _result("Failed", resources, changes, error=_reason(exc))
        unfit = [r for r in resources if r.problem] if action == "create" else []
        if unfit:  # init did its part, but these do not match the configuration
            error = "; ".join(f"{r.problem} ({r.hint})" for r in unfit)
            return _result("Failed", resources, changes, error=error)
        done = _counted(changes)
        message = "; ".join([done or "nothing to do", *notes, *kept])
        # The CLI's closing line quotes them, as a plan's (the message is not shown
        # beside changes).
        return _result("Success", resources, changes, message=message, metadata={KEPT: kept})

    def _remove_leftovers(
        self,
        leftovers: list[Marked],
        changes: list[Change],
        resources: list[Resource],
        kept: list[str],
    ) -> None:
        """Each leftover removed while empty and unused; else kept, and said why."""
        for queue, table, details in self._existing(leftovers):
            if idle(details) and self._delete(queue, changes, reason=_gone(table), if_idle=True):
                continue
            _keep(queue, details, kept)
            resources.append(self._resource(queue, table, details, leftover=LEFTOVER))

    def _destroy_configured(
        self,
        queue: str,
        details: dict[str, object],
        owned: Owned,
        changes: list[Change],
        kept: list[str],
    ) -> bool:
        """A configured queue destroyed: the task's own (Owned.made) whatever it holds;
        one without its mark (made by hand, by the original DStream) only while it is
        empty and unused, which loses nothing whoever's it is, else kept and said why.
        Whether it is gone."""
        if owned.made(self.router.naming.rules.key(queue)):
            self._delete(queue, changes, reason=_holding(details))
            return True
        if idle(details) and self._delete(queue, changes, reason=_holding(details), if_idle=True):
            return True
        _note(not_made_reason(queue, details), kept)
        return False

    def _delete(
        self, queue: str, changes: list[Change], *, reason: str, if_idle: bool = False
    ) -> bool:
        gone = self._with_retry(lambda: self.backend.delete(queue, if_idle=if_idle))
        if gone:
            changes.append(Change("delete", self.backend.resource_type, queue, reason))
        return gone

    async def plan(self, destroy: bool = False) -> LifecycleResult:
        return await self._blocking(self._plan, destroy)

    def _plan(self, destroy: bool) -> LifecycleResult:
        changes: list[Change] = []
        resources: list[Resource] = []
        kind = self.backend.resource_type
        owned, note = self._owned()
        kept: list[str] = []  # why each queue is kept, and what to do (KEPT)
        for queue, table, details in self._survey():
            # One not as configured (`QueueBackend.unfit`) carries its problem: no change
            # of dstream's fixes it.
            resources.append(self._resource(queue, table, details))
            if destroy and details is not None:
                if owned.made(self.router.naming.rules.key(queue)) or idle(details):
                    changes.append(Change("delete", kind, queue, _holding(details)))
                else:
                    _note(not_made_reason(queue, details), kept)
            elif not destroy and details is None:
                changes.append(Change("create", kind, queue, _why(table)))
        for queue, table, details in self._existing(owned.first_use):
            resources.append(self._resource(queue, table, details, created=FIRST_USE))
            if destroy:
                changes.append(Change("delete", kind, queue, _holding(details)))
        for queue, table, details in self._existing(owned.leftovers):
            if idle(details):
                changes.append(Change("delete", kind, queue, _gone(table)))
            else:
                _keep(queue, details, kept)
            resources.append(self._resource(queue, table, details, leftover=LEFTOVER))
        notes = [note] if note else []
        done = f"{len(changes)} change(s)" if changes else "no changes"
        message = "; ".join([done, *notes, *kept])
        # The CLI's closing line quotes them: the message is not shown beside changes.
        metadata: dict[str, object] = {KEPT: kept}
        return _result("Success", resources, changes, message=message, metadata=metadata)

    async def status(self) -> LifecycleResult:
        return await self._blocking(self._status)

    def _status(self) -> LifecycleResult:
        resources = [self._resource(q, t, d) for q, t, d in self._survey()]
        missing = sum(1 for r in resources if not r.exists)
        owned, note = self._owned()
        first_use = self._existing(owned.first_use)
        leftovers = self._existing(owned.leftovers)
        resources += [self._resource(q, t, d, created=FIRST_USE) for q, t, d in first_use]
        resources += [self._resource(q, t, d, leftover=LEFTOVER) for q, t, d in leftovers]
        configured = len(resources) - len(first_use) - len(leftovers)
        notes = [f"{configured - missing} of {configured} queue(s) exist"]
        if leftovers:
            notes.append(
                f"{len(leftovers)} queue(s) {LEFTOVER}: `dstream init` removes them once "
                "drained and unused"
            )
        notes += [note] if note else []
        metadata: dict[str, object] = {"missing": missing, "leftovers": len(leftovers)}
        return _result("Success", resources, [], message="; ".join(notes), metadata=metadata)


FIRST_USE = 'on first use (unknown_table = "create")'


def _why(table: Optional[str]) -> str:
    return f"queue of table {table}" if table else "dead-letter queue"


def _holding(details: dict[str, object]) -> str:
    """What deleting the queue loses: its messages, those a consumer holds unacknowledged
    among them, or that those were not counted (RabbitMQ without its management API)."""
    messages, consumers = details.get("messages"), details.get("consumers")
    unacknowledged = details.get("unacknowledged")
    by = f" by {consumers} consumer{'' if consumers == 1 else 's'}" if consumers else ""
    if isinstance(unacknowledged, str):  # why they were not counted
        held = f"holds {messages} ready message(s)" if messages else "holds no ready message"
        return f"{held}; unacknowledged messages not counted{by} ({unacknowledged})"
    if not messages:
        return "empty"
    if unacknowledged:
        return f"holds {messages} message(s), {unacknowledged} unacknowledged{by}"
    return f"holds {messages} message(s)"


def _gone(table: Optional[str]) -> str:
    return f"{_why(table)}, {LEFTOVER}; empty"


def _keep(queue: str, details: dict[str, object], notes: list[str]) -> None:
    """A leftover kept: why, in the command's message and in the log."""
    _note(kept_reason(queue, details), notes)


def _note(reason: str, notes: list[str]) -> None:
    """A queue kept: why, in the command's message and in the log."""
    notes.append(reason)
    log.warning(reason)


def _reason(exc: Exception) -> str:
    """A failed init/destroy in one line: dstream's own error with its hint; the client
    library not installed as the extra to install, as plan and status say it (the
    SDK's host does there); else a bug, whose class says most."""
    if isinstance(exc, DstreamError):
        return exc.one_line()
    missing = missing_package(exc)
    if missing is not None:
        return str(missing)
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _counted(changes: list[Change]) -> str:
    created = sum(1 for c in changes if c.action == "create")
    deleted = len(changes) - created
    parts = [f"{created} queue(s) created"] if created else []
    return ", ".join(parts + ([f"{deleted} queue(s) deleted"] if deleted else []))


def _result(
    status: str,
    resources: list[Resource],
    changes: list[Change],
    *,
    message: str = "",
    error: Optional[str] = None,
    metadata: Optional[dict[str, object]] = None,
) -> LifecycleResult:
    return LifecycleResult(
        status=status,
        resources=[r.to_dict() for r in resources],
        changes=[c.to_dict() for c in changes],
        metadata=dict(metadata or {}),
        message=message or (error or ""),
        error=error,
    )


__all__ = ["QueueBackend", "QueueConfig", "QueueOutput"]
