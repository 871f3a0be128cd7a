"""The broker-independent half of every queue output: which queue a table's changes go
to, what a message looks like, how messages are cut into batches and how transient
failures are retried. Broker modules supply only `NamingRules` and the I/O."""

from __future__ import annotations

import hashlib
import re
import string
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

import orjson

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import META_LSN, META_OPERATION, META_SCHEMA, META_TABLE

DEFAULT_PATTERN = "{TableName}_cdc_events"
DEFAULT_DEAD_LETTER_QUEUE = "{task}_dead_letter"
UNKNOWN_TABLE_POLICIES = ("error", "create", "dead_letter")

# Placeholder -> what it stands for. Aliases let a pattern read naturally either way.
PLACEHOLDERS = {
    "TableName": "the table name as the input wrote it (e.g. dbo.Orders)",
    "table": "the bare table name, without its schema (Orders)",
    "schema": "the schema: the part of TableName before the last dot, else config schema",
    "database": "config database",
    "task": "the task name",
}
PLACEHOLDER_ALIASES = {"Table": "table", "Schema": "schema", "Database": "database", "Task": "task"}

# Namespace of message ids: uuid5(NAMESPACE, ...) when a readable id would be too long.
MESSAGE_ID_NAMESPACE = uuid.UUID("5d1b9f0e-6a3c-4d8e-9c1a-2f7e1b4a0c11")


class RoutingError(DstreamError):
    """An envelope cannot be delivered to a queue (no table, no queue for its table)."""


@dataclass(frozen=True)
class NamingRules:
    """A broker's rules for queue names."""

    broker: str
    max_length: int
    allowed: str  # regex character class body of characters kept as they are
    case_insensitive: bool = False  # Service Bus: "Orders" and "orders" are one queue
    alnum_edges: bool = False  # must start and end with a letter or digit
    reserved_prefixes: tuple[str, ...] = ()

    def sanitise(self, raw: str) -> str:
        name = re.sub(f"[^{self.allowed}]", "_", raw)
        if self.alnum_edges:
            name = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", name)
        for prefix in self.reserved_prefixes:
            if name.lower().startswith(prefix):
                name = "q_" + name
        if len(name.encode()) > self.max_length:
            # Truncation alone would make distinct long names collide; a digest of the
            # unsanitised name keeps them apart and stable.
            digest = hashlib.sha1(raw.encode()).hexdigest()[:10]
            name = name.encode()[: self.max_length - 11].decode("utf-8", "ignore") + "_" + digest
        if not name:
            raise ConfigError(
                f"queue name {raw!r} is empty after applying {self.broker}'s naming rules",
                hint="change queue_pattern so that it yields letters or digits",
            )
        return name

    def key(self, name: str) -> str:
        """The identity of a queue name on this broker, for collision checks."""
        return name.lower() if self.case_insensitive else name


RABBITMQ_RULES = NamingRules(
    broker="RabbitMQ",
    max_length=255,  # bytes of UTF-8
    allowed=r"A-Za-z0-9._\-:",
    reserved_prefixes=("amq.",),  # the broker refuses to declare these
)
SERVICEBUS_RULES = NamingRules(
    broker="Azure Service Bus",
    max_length=260,
    allowed=r"A-Za-z0-9._\-/",
    case_insensitive=True,
    alnum_edges=True,
)


def split_table(table_name: str, default_schema: str = "") -> tuple[str, str]:
    """("dbo.Orders") -> ("dbo", "Orders"); a name without a dot keeps the default."""
    schema, dot, bare = table_name.rpartition(".")
    return (schema, bare) if dot else (default_schema, table_name)


class QueueNaming:
    """Turns a table name into its queue name through a pattern and the broker's rules."""

    def __init__(
        self,
        pattern: str,
        rules: NamingRules,
        *,
        task: str = "",
        database: str = "",
        schema: str = "",
    ) -> None:
        self.pattern = pattern
        self.rules = rules
        self.task = task
        self.database = database
        self.schema = schema
        self._fields = self._check_pattern(pattern)

    @staticmethod
    def _check_pattern(pattern: str) -> list[str]:
        try:
            parsed = list(string.Formatter().parse(pattern))
        except ValueError as exc:
            raise ConfigError(
                f"queue_pattern {pattern!r} is malformed: {exc}",
                hint="write placeholders as {TableName}; double braces {{ }} for a brace",
            ) from None
        fields = [f for _, f, spec, conv in parsed if f is not None]
        known = set(PLACEHOLDERS) | set(PLACEHOLDER_ALIASES)
        for name in fields:
            if name not in known:
                raise ConfigError(
                    f"queue_pattern {pattern!r} uses unknown placeholder {{{name}}}",
                    hint="placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
                )
        return fields

    def name_for(self, table_name: str) -> str:
        schema, bare = split_table(table_name, self.schema)
        values = {
            "TableName": table_name,
            "table": bare,
            "schema": schema,
            "database": self.database,
            "task": self.task,
        }
        for alias, target in PLACEHOLDER_ALIASES.items():
            values[alias] = values[target]
        return self.rules.sanitise(self.pattern.format(**values))

    def plain(self, template: str) -> str:
        """A name that is not per table (the dead-letter queue): only {task}, {database}."""
        try:
            raw = template.format(task=self.task, database=self.database)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"dead_letter_queue {template!r} may only use {{task}} and {{database}} ({exc})",
                hint='e.g. dead_letter_queue = "{task}_dead_letter"',
            ) from None
        return self.rules.sanitise(raw)


@dataclass(frozen=True)
class Route:
    queue: str
    table: Optional[str]
    dead_letter: bool = False
    new_queue: bool = False  # policy "create": the backend must declare it first


class Router:
    """Table -> queue, for the configured tables and, by policy, for tables that appear
    only in the stream."""

    def __init__(
        self,
        naming: QueueNaming,
        tables: Sequence[str],
        *,
        unknown_table: str = "error",
        dead_letter_queue: str = DEFAULT_DEAD_LETTER_QUEUE,
    ) -> None:
        if unknown_table not in UNKNOWN_TABLE_POLICIES:
            raise ConfigError(
                f"unknown_table = {unknown_table!r} is not a policy",
                hint="use one of: " + ", ".join(UNKNOWN_TABLE_POLICIES),
            )
        self.naming = naming
        self.unknown_table = unknown_table
        self.queues: dict[str, str] = {}  # table -> queue
        self._owners: dict[str, str] = {}  # broker key of a queue -> table
        for table in tables:
            self._add(table)
        self.dead_letter_queue: Optional[str] = None
        if unknown_table == "dead_letter":
            self.dead_letter_queue = naming.plain(dead_letter_queue)
            owner = self._owners.get(naming.rules.key(self.dead_letter_queue))
            if owner is not None:
                raise ConfigError(
                    f"dead_letter_queue {self.dead_letter_queue!r} is also the queue of "
                    f"table {owner!r}",
                    hint="choose another dead_letter_queue name",
                )

    def _add(self, table: str) -> str:
        if not isinstance(table, str) or not table:
            raise ConfigError(f"tables: {table!r} is not a table name", hint='e.g. "dbo.Orders"')
        if table in self.queues:
            return self.queues[table]
        queue = self.naming.name_for(table)
        key = self.naming.rules.key(queue)
        other = self._owners.get(key)
        if other is not None:
            raise ConfigError(
                f"tables {other!r} and {table!r} both map to queue {queue!r} "
                f"under {self.naming.rules.broker}'s naming rules",
                hint="change queue_pattern (e.g. add {schema}) so every table gets its own queue",
            )
        self.queues[table] = queue
        self._owners[key] = table
        return queue

    def wanted(self) -> list[tuple[str, Optional[str]]]:
        """(queue, table) pairs that init must create; table None for the dead letters."""
        pairs: list[tuple[str, Optional[str]]] = [(q, t) for t, q in self.queues.items()]
        if self.dead_letter_queue:
            pairs.append((self.dead_letter_queue, None))
        return pairs

    def route(self, metadata: Any) -> Route:  # Any: an envelope's metadata, any JSON
        table = metadata.get(META_TABLE) if isinstance(metadata, dict) else None
        if table is not None and not isinstance(table, str):
            table = str(table)
        if table and "." not in table and metadata.get(META_SCHEMA):
            # CDC inputs (dstream-mssql-cdc) write TableName "Orders" + Schema "dbo": match
            # "dbo.Orders" in `tables`, so input and output can share one list.
            qualified = f"{metadata[META_SCHEMA]}.{table}"
            if qualified in self.queues or table not in self.queues:
                table = qualified
        if table and table in self.queues:
            return Route(self.queues[table], table)
        if self.unknown_table == "dead_letter" and self.dead_letter_queue:
            return Route(self.dead_letter_queue, table, dead_letter=True)
        if not table:
            raise RoutingError(
                f"an envelope has no metadata.{META_TABLE}, so it has no queue",
                hint="have the input set metadata.TableName, or set "
                'unknown_table = "dead_letter" to keep such envelopes aside',
            )
        if self.unknown_table == "create":
            return Route(self._add(table), table, new_queue=True)
        raise RoutingError(
            f"table {table!r} has no queue (configured tables: {', '.join(self.queues) or 'none'})",
            hint='add it to `tables` and run `dstream init`, or set unknown_table = "create" '
            'or "dead_letter"',
        )


@dataclass
class OutgoingMessage:
    queue: str
    body: bytes
    message_id: str
    headers: dict[str, object]
    table: Optional[str] = None

    @property
    def size(self) -> int:
        """Body plus a generous share for properties, for batch budgeting."""
        return len(self.body) + sum(len(k) + len(str(v)) + 8 for k, v in self.headers.items())


def message_id(table: Optional[str], metadata: dict[str, object], body: bytes) -> str:
    """Stable across redeliveries: table + LSN + a digest of the change.

    Several rows of one transaction share an LSN, so the operation and the body are part
    of the digest; otherwise broker-side duplicate detection (Service Bus) would drop
    distinct changes."""
    lsn = metadata.get(META_LSN)
    digest = hashlib.sha256(
        orjson.dumps([metadata.get(k) for k in (META_OPERATION, "Seq", "SeqVal")]) + body
    ).hexdigest()[:16]
    readable = f"{table or ''}:{'' if lsn is None else lsn}:{digest}"
    if len(readable) <= 128:  # Service Bus caps MessageId at 128 characters
        return readable
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, readable))


def header_value(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return orjson.dumps(value).decode()


def build_message(route: Route, data: object, metadata: object) -> OutgoingMessage:
    meta = metadata if isinstance(metadata, dict) else {}
    body = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    headers = {str(k): header_value(v) for k, v in meta.items() if v is not None}
    if route.dead_letter:
        headers["dstream-dead-letter-reason"] = (
            "no metadata.TableName"
            if route.table is None
            else f"table {route.table!r} has no queue"
        )
    return OutgoingMessage(
        queue=route.queue,
        body=body,
        message_id=message_id(route.table, meta, body),
        headers=headers,
        table=route.table,
    )


def batches(
    messages: Iterable[OutgoingMessage], *, max_count: int, max_bytes: int
) -> Iterator[list[OutgoingMessage]]:
    """Batches of one queue each, within the broker's limits. Order is kept within each
    queue, which is the only order a consumer can see (queues are read separately);
    changes of interleaved tables still travel in full batches."""
    by_queue: dict[str, list[OutgoingMessage]] = {}
    for msg in messages:
        if msg.size > max_bytes:
            raise RoutingError(
                f"a change of table {msg.table!r} (message {msg.message_id}) is "
                f"{msg.size} bytes, over the {max_bytes}-byte limit for one message",
                hint="raise the limit (RabbitMQ max_message_bytes; Service Bus premium tier) "
                "or have the input emit smaller envelopes",
            )
        by_queue.setdefault(msg.queue, []).append(msg)
    for queue_messages in by_queue.values():
        batch: list[OutgoingMessage] = []
        size = 0
        for msg in queue_messages:
            if batch and (len(batch) >= max_count or size + msg.size > max_bytes):
                yield batch
                batch, size = [], 0
            batch.append(msg)
            size += msg.size
        if batch:
            yield batch


T = TypeVar("T")


@dataclass
class RetryPolicy:
    attempts: int = 5  # total tries, not retries
    backoff: float = 0.5
    max_backoff: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def call(
        self,
        fn: Callable[[], T],
        *,
        transient: Callable[[BaseException], bool],
        on_retry: Optional[Callable[[int, BaseException, float], None]] = None,
    ) -> T:
        """fn() until it succeeds, a non-transient error, or attempts run out (then the
        last error propagates)."""
        delay = self.backoff
        for attempt in range(1, max(1, self.attempts) + 1):
            try:
                return fn()
            except Exception as exc:
                if attempt >= self.attempts or not transient(exc):
                    raise
                if on_retry is not None:
                    on_retry(attempt, exc, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")
