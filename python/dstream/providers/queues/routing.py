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
from typing import Any, Callable, Optional, TypeVar, Union

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import META_LSN, META_OPERATION, META_SCHEMA, META_TABLE
from dstream.providers.tables import ANY_QUOTES, format_table_name, split_table_name
from dstream.sdk import dump_json

DEFAULT_PATTERN = "{TableName}_cdc_events"
DEFAULT_DEAD_LETTER_QUEUE = "{task}_dead_letter"
UNKNOWN_TABLE_POLICIES = ("error", "create", "dead_letter")

# Placeholder -> what it stands for. Aliases let a pattern read naturally either way.
PLACEHOLDERS = {
    "TableName": "the table's schema and name joined by a dot (e.g. dbo.Orders)",
    "table": "the bare table name, without its schema (Orders)",
    "schema": "the table's schema, else config schema",
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


@dataclass(frozen=True)
class TableRef:
    """A table by its schema ("" when it was named without one) and its name: what
    `tables` says once read, and what an envelope's Schema and TableName say."""

    schema: str
    name: str

    @property
    def qualified(self) -> str:
        """Schema and name joined by a dot: `{TableName}`, and the text a TableName
        without a Schema is matched against."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def __str__(self) -> str:
        return format_table_name(self.schema, self.name)


def read_table(text: str) -> TableRef:
    """A name of `tables`, read as the CDC inputs read theirs (providers/tables.py):
    `schema.table` or `table`, parts quoted `"..."` or `[...]` when they hold a dot."""
    try:
        return _parsed(text)
    except ValueError as exc:
        raise ConfigError(
            f"tables: {exc}",
            hint="quote a schema or name holding a dot, as the input's `tables` does: "
            '"we.ird"."Tab.le" (in HCL "\\"we.ird\\".\\"Tab.le\\"") or [we.ird].[Tab.le]',
        ) from None


def _parsed(text: str) -> TableRef:
    parts = split_table_name(text, ANY_QUOTES)
    return TableRef(parts[0], parts[1]) if len(parts) == 2 else TableRef("", parts[0])


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

    def name_for(self, table: Union[TableRef, str]) -> str:
        ref = table if isinstance(table, TableRef) else read_table(table)
        values = {
            "TableName": ref.qualified,
            "table": ref.name,
            "schema": ref.schema or self.schema,
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
    only in the stream. Tables are known by schema and name (TableRef), as written in
    `tables` for what a message and a resource say of them."""

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
        self.queues: dict[str, str] = {}  # table, as written -> queue
        self._tables: dict[TableRef, tuple[str, str]] = {}  # -> (as written, queue)
        # A TableName without a Schema -> its table; None when two tables read alike.
        self._by_text: dict[str, Optional[TableRef]] = {}
        self._owners: dict[str, str] = {}  # broker key of a queue -> table, as written
        for table in tables:
            if not isinstance(table, str) or not table:
                raise ConfigError(
                    f"tables: {table!r} is not a table name", hint='e.g. "dbo.Orders"'
                )
            self._add(read_table(table), table)
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

    def _add(self, ref: TableRef, written: str) -> str:
        known = self._tables.get(ref)
        if known is not None:
            return known[1]
        queue = self.naming.name_for(ref)
        key = self.naming.rules.key(queue)
        other = self._owners.get(key)
        if other is not None:
            raise ConfigError(
                f"tables {other!r} and {written!r} both map to queue {queue!r} "
                f"under {self.naming.rules.broker}'s naming rules",
                hint="change queue_pattern (e.g. add {schema}) so every table gets its own queue",
            )
        self._tables[ref] = (written, queue)
        self.queues[written] = queue
        self._owners[key] = written
        for text in {written, ref.qualified}:
            self._by_text[text] = ref if self._by_text.get(text, ref) == ref else None
        return queue

    def wanted(self) -> list[tuple[str, Optional[str]]]:
        """(queue, table) pairs that init must create; table None for the dead letters."""
        pairs: list[tuple[str, Optional[str]]] = [(q, t) for t, q in self.queues.items()]
        if self.dead_letter_queue:
            pairs.append((self.dead_letter_queue, None))
        return pairs

    def _known(self, table: str, schema: str) -> Optional[TableRef]:
        """The configured table an envelope names. With a Schema (the CDC inputs write
        TableName "Orders" and Schema "dbo"): that schema's table, else a table
        configured without a schema by that name, so input and output share one list.
        Without one: the table whose name, as written or joined by a dot, is TableName."""
        if schema:
            for ref in (TableRef(schema, table), TableRef("", table)):
                if ref in self._tables:
                    return ref
            return None
        return self._by_text.get(table)

    def route(self, metadata: Any) -> Route:  # Any: an envelope's metadata, any JSON
        meta = metadata if isinstance(metadata, dict) else {}
        table, schema = meta.get(META_TABLE), meta.get(META_SCHEMA)
        table = table if table is None or isinstance(table, str) else str(table)
        schema = schema if isinstance(schema, str) else ""
        ref = self._known(table, schema) if table else None
        if ref is not None:
            written, queue = self._tables[ref]
            return Route(queue, written)
        unknown = _stream_table(table, schema) if table else None
        if self.unknown_table == "dead_letter" and self.dead_letter_queue:
            return Route(
                self.dead_letter_queue, str(unknown) if unknown else table, dead_letter=True
            )
        if unknown is None:
            raise RoutingError(
                f"an envelope has no metadata.{META_TABLE}, so it has no queue",
                hint="have the input set metadata.TableName, or set "
                'unknown_table = "dead_letter" to keep such envelopes aside',
            )
        if self.unknown_table == "create":
            return Route(self._add(unknown, str(unknown)), str(unknown), new_queue=True)
        raise RoutingError(
            f"table {str(unknown)!r} has no queue (configured tables: "
            f"{', '.join(self.queues) or 'none'})",
            hint='add it to `tables` and run `dstream init`, or set unknown_table = "create" '
            'or "dead_letter"',
        )


def _stream_table(table: str, schema: str) -> TableRef:
    """A table met only in the stream: its Schema and TableName; without a Schema, its
    TableName read as `tables` would read it (else the whole of it as the name)."""
    if schema:
        return TableRef(schema, table)
    try:
        return _parsed(table)
    except ValueError:
        return TableRef("", table)


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
        dump_json([metadata.get(k) for k in (META_OPERATION, "Seq", "SeqVal")]) + body
    ).hexdigest()[:16]
    readable = f"{table or ''}:{'' if lsn is None else lsn}:{digest}"
    if len(readable) <= 128:  # Service Bus caps MessageId at 128 characters
        return readable
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, readable))


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def header_value(value: object) -> object:
    """What a broker carries as a header: scalars as they are, nested values as their
    JSON text. A number no 64-bit header holds (an integer beyond 64 bits, a JsonNumber:
    docs/providers.md, "Numbers") is its exact text, as a string."""
    if isinstance(value, (list, dict)):
        return dump_json(value).decode()
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return str(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def build_message(route: Route, data: object, metadata: object) -> OutgoingMessage:
    meta = metadata if isinstance(metadata, dict) else {}
    body = dump_json(data, sort_keys=True)  # every number as it was received
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
