"""`dstream-servicebus`: each change to the Azure Service Bus queue of its table, sent in
message batches with the official `azure-servicebus` SDK; `dstream init/plan/status/
destroy` manage the queues through its administration client.

    output {
      provider_path = "dstream-servicebus"
      config {
        connection_string = env("SERVICEBUS_CONNECTION_STRING")
        tables            = ["dbo.Orders", "dbo.Customers"]
        tier              = "standard"   # 256 KB batches; "premium": 1 MB
      }
    }

The original `dstream-out-asb` keys are accepted as they were written
(`connectionString`, `resourceGroup`, `namespace`, `sourceHost`, `sourceDatabase`,
`tables`; docs/queues.md lists what each does here).

`send_messages` returns once Service Bus accepted every message of the batch, so the
checkpoint that follows is acknowledged only for sent changes. Queue names are
case-insensitive on Service Bus; the routing core checks collisions accordingly.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import META_TABLE
from dstream.providers.queues.leftovers import CannotList, Mark, Marked, read_mark
from dstream.providers.queues.output import QueueConfig, QueueOutput
from dstream.providers.queues.routing import (
    DEFAULT_PATTERN,
    SERVICEBUS_RULES,
    OutgoingMessage,
    RoutingError,
)
from dstream.sdk import run_provider

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusClient, ServiceBusSender
    from azure.servicebus.management import ServiceBusAdministrationClient

# Largest batch Service Bus accepts, by tier (Azure quotas).
TIER_BATCH_BYTES = {"basic": 256 * 1024, "standard": 256 * 1024, "premium": 1024 * 1024}
# Headroom the SDK's batch needs for its own envelope around the messages.
BATCH_OVERHEAD = 4 * 1024
MAX_BATCH_MESSAGES = 1000


@dataclass
class ServiceBusConfig(QueueConfig):
    connection_string: str = ""
    tier: str = "standard"  # basic | standard | premium: sets the batch limit
    max_batch_bytes: int = 0  # 0: the tier's limit
    # Queue properties for init (Service Bus defaults when left empty/0).
    max_size_in_megabytes: int = 0
    default_message_time_to_live: str = ""  # ISO-8601 duration, e.g. "P14D"
    requires_duplicate_detection: bool = False  # dedupe redeliveries by message id
    # The original dstream-out-asb's keys. Its queues were named per source host and
    # database; resourceGroup served its Azure Resource Manager calls, which dstream
    # does not make (the connection string's rights manage queues): accepted, unused.
    resource_group: str = ""
    namespace: str = ""  # checked against the connection string's endpoint
    source_host: str = ""  # set: queues are "<source_host>-{database}-{table}"
    source_database: str = ""  # the {database} of queue names (same as `database`)

    def validate(self) -> None:
        super().validate()
        self._adopt_original_keys()
        if not self.connection_string:
            raise ConfigError(
                "connection_string is required for dstream-servicebus",
                hint='e.g. connection_string = env("SERVICEBUS_CONNECTION_STRING") '
                "(Endpoint=sb://NAMESPACE.servicebus.windows.net/;SharedAccessKeyName=...)",
            )
        if self.tier not in TIER_BATCH_BYTES:
            raise ConfigError(
                f"tier = {self.tier!r} is not a Service Bus tier",
                hint="use " + ", ".join(TIER_BATCH_BYTES),
            )

    def _adopt_original_keys(self) -> None:
        if self.source_database and not self.database:
            self.database = self.source_database
        if self.source_host and self.queue_pattern == DEFAULT_PATTERN:
            host = self.source_host.replace("{", "{{").replace("}", "}}")
            self.queue_pattern = host + "-{database}-{table}"
        endpoint = re.search(r"sb://([^./;]+)\.", self.connection_string, re.IGNORECASE)
        if self.namespace and endpoint and endpoint.group(1).lower() != self.namespace.lower():
            raise ConfigError(
                f"namespace = {self.namespace!r} but the connection string points at "
                f"namespace {endpoint.group(1)!r}",
                hint="fix one of them: dstream reaches the namespace of the connection string",
            )

    @property
    def batch_bytes(self) -> int:
        return self.max_batch_bytes or TIER_BATCH_BYTES[self.tier]


class ServiceBusBackend:
    """Azure Service Bus through azure-servicebus: a ServiceBusClient with one sender per
    queue for data, a ServiceBusAdministrationClient for the lifecycle. `admin` may be
    any object with the administration client's queue methods."""

    resource_type = "servicebus_queue"

    def __init__(
        self,
        connection_string: str,
        *,
        batch_bytes: int = TIER_BATCH_BYTES["standard"],
        queue_options: Optional[dict[str, Any]] = None,  # Any: create_queue's keywords
        admin: Optional[ServiceBusAdministrationClient] = None,
    ) -> None:
        self.connection_string = connection_string
        self.max_batch_bytes = batch_bytes - BATCH_OVERHEAD
        self.max_batch_messages = MAX_BATCH_MESSAGES
        self.batch_bytes = batch_bytes
        self.queue_options = {k: v for k, v in (queue_options or {}).items() if v}
        self._admin = admin
        self._client: Optional[ServiceBusClient] = None
        self._senders: dict[str, ServiceBusSender] = {}

    # -- connection ------------------------------------------------------------------------
    def connect(self) -> None:
        self._connected()

    def _connected(self) -> ServiceBusClient:
        if self._client is None:
            from azure.servicebus import ServiceBusClient

            # Retries are ours (RetryPolicy, with a fresh sender each time); the SDK's own
            # would multiply them.
            self._client = ServiceBusClient.from_connection_string(
                self.connection_string, retry_total=0
            )
        return self._client

    def _sender(self, queue: str) -> ServiceBusSender:
        client = self._connected()
        sender = self._senders.get(queue)
        if sender is None:
            sender = self._senders[queue] = client.get_queue_sender(queue)
        return sender

    def reset(self) -> None:
        senders, self._senders = self._senders, {}
        client, self._client = self._client, None
        for closable in [*senders.values(), client]:
            try:
                if closable is not None:
                    closable.close()
            except Exception:
                pass  # already broken: that is why we reset

    def close(self) -> None:
        self.reset()
        if self._admin is not None and hasattr(self._admin, "close"):
            self._admin.close()

    def is_transient(self, exc: BaseException) -> bool:
        if getattr(exc, "retryable", False):  # azure.servicebus.exceptions.ServiceBusError
            return True
        try:
            from azure.core.exceptions import (
                HttpResponseError,
                ServiceRequestError,
                ServiceResponseError,
            )
        except ImportError:  # pragma: no cover - azure-core comes with azure-servicebus
            return False
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            return True
        status = getattr(exc, "status_code", None)
        return isinstance(exc, HttpResponseError) and (status == 429 or (status or 0) >= 500)

    def failure(self, exc: BaseException) -> DstreamError:
        """The namespace by its host (the connection string's endpoint), never its key."""
        match = re.search(r"Endpoint=sb://([^/;]+)", self.connection_string, re.IGNORECASE)
        where = f"Service Bus namespace {match.group(1)}" if match else "Service Bus"
        # The key wherever it shows: in this connection string, or quoted by the client.
        keys = re.findall(r"SharedAccessKey=([^;\s'\"]+)", f"{self.connection_string};{exc}")
        text = str(exc)
        for key in keys:
            text = text.replace(key, "***")
        return DstreamError(
            f"{where}: {type(exc).__name__}: {text}".rstrip(": "),
            hint="check connection_string (its namespace and shared access key) and that "
            "this host may reach the namespace",
        )

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def admin(self) -> ServiceBusAdministrationClient:
        if self._admin is None:
            from azure.servicebus.management import ServiceBusAdministrationClient

            self._admin = ServiceBusAdministrationClient.from_connection_string(
                self.connection_string
            )
        return self._admin

    def unfit(self, queue: str, details: dict[str, object]) -> Optional[DstreamError]:
        return None  # a Service Bus queue keeps its messages whatever its settings

    def inspect(self, queue: str) -> Optional[dict[str, object]]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self.admin.get_queue_runtime_properties(queue)
        except ResourceNotFoundError:
            return None
        return {
            "messages": props.total_message_count,
            "active": props.active_message_count,
            "dead_lettered": props.dead_letter_message_count,
        }

    def create(self, queue: str, mark: Optional[Mark]) -> None:
        from azure.core.exceptions import ResourceExistsError

        # The mark in the queue's user metadata (a string Service Bus keeps for its user).
        options = dict(self.queue_options)
        if mark is not None:
            options["user_metadata"] = json.dumps(mark.as_dict(), separators=(",", ":"))
        with contextlib.suppress(ResourceExistsError):  # created meanwhile: what init wants
            self.admin.create_queue(queue, **options)

    def delete(self, queue: str, *, if_idle: bool = False) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        # Service Bus has no conditional delete: a message sent between this look and
        # the delete is lost with the queue (docs/queues.md, "Leftover queues").
        details = self.inspect(queue) if if_idle else None
        if details is not None and details.get("messages"):
            return False
        with contextlib.suppress(ResourceNotFoundError):  # already gone: what destroy wants
            self.admin.delete_queue(queue)
        return True

    def marked(self, task: str) -> list[Marked]:
        try:
            queues = list(self.admin.list_queues())
        except ImportError:
            raise  # the client itself is missing: its extra to name, not the namespace's fault
        except Exception as exc:  # the client's, whatever it is: the lifecycle goes on
            failure = self.failure(exc)
            raise CannotList(f"cannot list the queues: {failure}", hint=failure.hint) from None
        found = (
            read_mark(task, str(props.name), _mark_of(getattr(props, "user_metadata", None)))
            for props in queues
        )
        return [marked for marked in found if marked is not None]

    # -- data ------------------------------------------------------------------------------
    def send(self, batch: list[OutgoingMessage]) -> None:
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import MessageSizeExceededError

        queue = batch[0].queue
        sender = self._sender(queue)
        pending = sender.create_message_batch(max_size_in_bytes=self.batch_bytes)
        for msg in batch:
            message = ServiceBusMessage(
                msg.body,
                message_id=msg.message_id,
                content_type="application/json",
                subject=msg.table,
                application_properties=dict(msg.headers),  # type: ignore[arg-type]  # values are scalars (header_value)
            )
            try:
                pending.add_message(message)
            except MessageSizeExceededError:
                # Our size estimate was short of the SDK's encoding: send what fits first.
                if len(pending) == 0:
                    raise RoutingError(
                        f"a change of table {msg.headers.get(META_TABLE)!r} is larger than "
                        f"a {self.batch_bytes}-byte Service Bus batch",
                        hint='use tier = "premium" (1 MB) or emit smaller envelopes',
                    ) from None
                sender.send_messages(pending)
                pending = sender.create_message_batch(max_size_in_bytes=self.batch_bytes)
                pending.add_message(message)
        sender.send_messages(pending)


def _mark_of(user_metadata: object) -> dict[str, object]:
    """dstream's mark in a queue's user metadata; {} for anyone else's metadata."""
    if not isinstance(user_metadata, str) or not user_metadata.startswith("{"):
        return {}
    try:
        mark = json.loads(user_metadata)
    except ValueError:
        return {}
    return mark if isinstance(mark, dict) else {}


class ServiceBusOutput(QueueOutput[ServiceBusConfig]):
    config_class = ServiceBusConfig
    name = "dstream-servicebus"
    rules = SERVICEBUS_RULES

    def make_backend(self) -> ServiceBusBackend:
        cfg = self.config
        options: dict[str, object] = {
            "max_size_in_megabytes": cfg.max_size_in_megabytes,
            "default_message_time_to_live": cfg.default_message_time_to_live,
            "requires_duplicate_detection": cfg.requires_duplicate_detection,
        }
        return ServiceBusBackend(
            cfg.connection_string, batch_bytes=cfg.batch_bytes, queue_options=options
        )


def main() -> None:
    run_provider(ServiceBusOutput)


if __name__ == "__main__":
    main()
