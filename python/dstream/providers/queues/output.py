"""What every table-aware queue output shares: the config keys, routing envelopes to
messages, batching, retries, and the init/plan/status/destroy hooks. A broker module
adds a `QueueBackend` (blocking I/O, run in a worker thread so the host's event loop
keeps reading stdin) and its own config keys."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Generic, Optional, Protocol, TypeVar

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.messages import LifecycleResult
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
    schema: str = ""  # for {schema} when TableName has no "schema." prefix
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
        """Details of an existing queue (at least `messages`), or None if it is missing."""

    def create(self, queue: str) -> None:
        """Declare a durable queue; declaring one that exists is not an error."""

    def delete(self, queue: str) -> None: ...

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

    async def close(self) -> None:
        if self._backend is not None:
            await self._blocking(self._backend.close)

    async def write(self, batch: list[Envelope]) -> None:
        router = self.router
        messages: list[OutgoingMessage] = []
        new_queues: list[str] = []
        for envelope in batch:
            route = router.route(envelope.metadata)
            if route.new_queue:
                new_queues.append(route.queue)
                log.info("creating queue for a table not in `tables`", table=route.table)
            messages.append(build_message(route, envelope.data, envelope.metadata))
        await self._blocking(self._deliver, new_queues, messages)

    def _deliver(self, new_queues: list[str], messages: list[OutgoingMessage]) -> None:
        backend = self.backend
        for queue in new_queues:
            self._with_retry(lambda q=queue: backend.create(q))
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
    def _survey(self) -> list[tuple[str, Optional[str], Optional[dict[str, object]]]]:
        return [
            (q, t, self._with_retry(lambda q=q: self.backend.inspect(q)))
            for q, t in self.router.wanted()
        ]

    def _resource(
        self, queue: str, table: Optional[str], details: Optional[dict[str, object]]
    ) -> Resource:
        info: dict[str, object] = {"table": table} if table else {"role": "dead letters"}
        info.update(details or {})
        return Resource(self.backend.resource_type, queue, details is not None, info)

    async def init(self) -> LifecycleResult:
        return await self._blocking(self._apply, "create")

    async def destroy(self) -> LifecycleResult:
        return await self._blocking(self._apply, "delete")

    def _apply(self, action: str) -> LifecycleResult:
        changes: list[Change] = []
        resources: list[Resource] = []
        try:
            for queue, table, details in self._survey():
                if action == "create" and details is None:
                    self._with_retry(lambda q=queue: self.backend.create(q))
                    changes.append(Change("create", self.backend.resource_type, queue, _why(table)))
                    details = self._with_retry(lambda q=queue: self.backend.inspect(q))
                elif action == "delete" and details is not None:
                    self._with_retry(lambda q=queue: self.backend.delete(q))
                    changes.append(
                        Change("delete", self.backend.resource_type, queue, _holding(details))
                    )
                    details = None
                resources.append(self._resource(queue, table, details))
        except Exception as exc:
            # What was already done is reported with the failure: nothing silently half-done.
            if isinstance(exc, DstreamError):
                reason = exc.one_line()
            else:  # a bug: its class says most
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return _result("Failed", resources, changes, error=reason)
        verb = "created" if action == "create" else "deleted"
        message = f"{len(changes)} queue(s) {verb}" if changes else "nothing to do"
        return _result("Success", resources, changes, message=message)

    async def plan(self, destroy: bool = False) -> LifecycleResult:
        return await self._blocking(self._plan, destroy)

    def _plan(self, destroy: bool) -> LifecycleResult:
        changes: list[Change] = []
        resources: list[Resource] = []
        kind = self.backend.resource_type
        for queue, table, details in self._survey():
            resources.append(self._resource(queue, table, details))
            if destroy and details is not None:
                changes.append(Change("delete", kind, queue, _holding(details)))
            elif not destroy and details is None:
                changes.append(Change("create", kind, queue, _why(table)))
        message = f"{len(changes)} change(s)" if changes else "no changes"
        return _result("Success", resources, changes, message=message)

    async def status(self) -> LifecycleResult:
        return await self._blocking(self._status)

    def _status(self) -> LifecycleResult:
        resources = [self._resource(q, t, d) for q, t, d in self._survey()]
        missing = sum(1 for r in resources if not r.exists)
        message = f"{len(resources) - missing} of {len(resources)} queue(s) exist"
        return _result("Success", resources, [], message=message, metadata={"missing": missing})


def _why(table: Optional[str]) -> str:
    return f"queue of table {table}" if table else "dead-letter queue"


def _holding(details: dict[str, object]) -> str:
    messages = details.get("messages")
    return f"holds {messages} message(s)" if messages else "empty"


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
