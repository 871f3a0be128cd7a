"""`dstream-rabbitmq`: each change to the durable queue of its table, with publisher
confirms; `dstream init/plan/status/destroy` manage those queues.

    output {
      provider_path = "dstream-rabbitmq"
      config {
        url    = "amqp://guest:guest@127.0.0.1:5672/%2F"
        tables = ["dbo.Orders", "dbo.Customers"]   # -> dbo.Orders_cdc_events, ...
      }
    }

Publishing goes through the default exchange, so a queue's name is its routing key.
Messages are persistent (delivery mode 2) and published `mandatory`: a queue that
disappeared after `init` fails the write instead of the broker silently dropping it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import META_OPERATION, META_TABLE
from dstream.providers.queues import rabbitmq_failures as failures
from dstream.providers.queues.leftovers import CannotList, Mark, Marked
from dstream.providers.queues.management import ManagementApi, management_url_for
from dstream.providers.queues.output import QueueConfig, QueueOutput
from dstream.providers.queues.rabbitmq_url import amqp_parameters, check_management_url
from dstream.providers.queues.routing import RABBITMQ_RULES, OutgoingMessage, RoutingError
from dstream.sdk import log, run_provider

Pika = Any  # Any: pika (connections, channels, frames) ships no type information

# pika logs what it meets as errors, with tracebacks: seven lines and a traceback for
# one refused connection, a warning for the passive declare that asks whether a queue
# exists. The provider reports every failure itself (RabbitBackend.failure), once.
logging.getLogger("pika").setLevel(logging.CRITICAL)

# Queue settings under which messages dstream counts as delivered can vanish, as the
# management API names them; durable (False) is said apart in `RabbitBackend.unfit`.
LOSSY_SETTINGS = {
    "auto_delete": "is auto-delete: it goes, with its messages, when its last consumer does",
    "exclusive": "is exclusive: it goes, with its messages, when its connection closes",
}
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
QUEUE_TYPES = ("classic", "quorum")


@dataclass
class RabbitConfig(QueueConfig):
    url: str = DEFAULT_URL
    queue_type: str = "classic"  # classic | quorum (replicated; needs a cluster to matter)
    # RabbitMQ's default max_message_size
    max_message_bytes: int = field(default=128 * 1024 * 1024, metadata={"minimum": 1})
    heartbeat: int = field(default=30, metadata={"minimum": 0})  # seconds; 0: none
    # Seconds a publish waits while the broker blocks publishers (a memory or disk
    # alarm) before the attempt fails; retry_attempts then tries again.
    blocked_timeout: float = 60.0
    # The management plugin's HTTP API, where the lifecycle lists the broker's queues to
    # find the task's leftovers ("": url's host on 15672, https 15671 for amqps; "off").
    management_url: str = ""

    def validate(self) -> None:
        super().validate()
        check_management_url(self.management_url)
        if self.queue_type not in QUEUE_TYPES:
            raise ConfigError(
                f"queue_type = {self.queue_type!r} is not a RabbitMQ queue type",
                hint="use " + " or ".join(QUEUE_TYPES),
            )
        if not self.blocked_timeout > 0:
            raise ConfigError(
                f"blocked_timeout = {self.blocked_timeout:g} is not a time to wait",
                hint="write the seconds a publish may wait while the broker blocks "
                "publishers, e.g. blocked_timeout = 60",
            )
        try:
            import pika  # noqa: F401
        except ImportError:
            return  # the extra is not installed: the backend names it when it starts
        amqp_parameters(self.url)


class RabbitBackend:
    """RabbitMQ over pika's BlockingConnection. The publishing channel is in confirm mode:
    `send` publishes a batch, then returns only once the broker took responsibility for
    every message of it (written to disk for a durable queue), or raises."""

    resource_type = "rabbitmq_queue"

    def __init__(
        self,
        url: str,
        *,
        queue_type: str = "classic",
        max_message_bytes: int = 128 * 1024 * 1024,
        heartbeat: int = 30,
        blocked_timeout: float = 60.0,
        management_url: str = "",
    ) -> None:
        import pika

        self._pika = pika
        self.params = amqp_parameters(url)
        self.params.heartbeat = heartbeat
        self.params.blocked_connection_timeout = blocked_timeout
        self.where = f"RabbitMQ at {self.params.host}:{self.params.port}"
        self.user = str(getattr(self.params.credentials, "username", "?"))
        self.queue_type = queue_type
        self.management = (
            None
            if management_url == "off"
            else ManagementApi(management_url or management_url_for(url), self.params)
        )
        # A batch is the unit sent again after a reconnect, so it stays small.
        self.max_batch_messages = 500
        self.max_batch_bytes = max_message_bytes
        self._connection: Pika = None
        self._channel: Pika = None
        self._no_figures = ""  # why the management API gave no figures (_figures)

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        if self._connection is not None and self._connection.is_open:
            if self._channel.is_open:
                return
            self.reset()  # the broker closed the publishing channel: start afresh
        connection = self._pika.BlockingConnection(self.params)
        # On the underlying connection, whose callbacks run as the frame arrives: the
        # blocking adapter's own ones wait for process_data_events, which a publish
        # waiting for its confirms never calls.
        connection._impl.add_on_connection_blocked_callback(self._on_blocked)
        connection._impl.add_on_connection_unblocked_callback(self._on_unblocked)
        channel = connection.channel()
        # BlockingChannel's own confirm mode waits for each message's confirm before
        # publishing the next (one disk sync per message: ~250 msg/s). Confirms are
        # pipelined instead on the underlying channel (pika's blocking adapter has no API
        # for it): publish a batch, then pump the connection until the broker acked or
        # nacked every delivery tag of it.
        selected: list[bool] = []
        channel._impl.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.append(True)
        )
        channel._impl.add_on_return_callback(self._on_return)
        connection._flush_output(lambda: bool(selected))
        self._connection, self._channel = connection, channel
        self._next_tag = 1  # delivery tags count from 1 on a channel in confirm mode
        self._unconfirmed: set[int] = set()
        self._nacked: set[int] = set()
        self._returned: list[str] = []

    def reset(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                if connection.is_open:
                    connection.close()
            except Exception:
                pass  # already broken: that is why we reset

    def close(self) -> None:
        self.reset()

    def _on_blocked(self, _connection: Pika, frame: Pika) -> None:
        reason = getattr(frame.method, "reason", "") or "no reason given"
        log.warning(
            f"{self.where} blocks publishers (memory or disk alarm: {reason}); publishing "
            f"waits for it to clear, up to blocked_timeout = "
            f"{self.params.blocked_connection_timeout:g} s per attempt",
            hint="`rabbitmq-diagnostics alarms` on the broker shows it; it clears once "
            "memory or disk is freed there",
        )

    def _on_unblocked(self, _connection: Pika, _frame: Pika) -> None:
        log.info(f"{self.where} unblocked publishers: publishing goes on")

    def is_transient(self, exc: BaseException) -> bool:
        return failures.is_transient(exc)

    def failure(self, exc: BaseException) -> DstreamError:
        return failures.failure(
            exc,
            where=self.where,
            user=self.user,
            vhost=str(self.params.virtual_host),
            blocked_timeout=self.params.blocked_connection_timeout,
        )

    def _side_channel(self) -> Pika:
        """A channel for one management call: a 404 closes the channel it happens on, and
        that must not be the publishing one."""
        self.connect()
        return self._connection.channel()

    # -- lifecycle -------------------------------------------------------------------------
    def inspect(self, queue: str) -> Optional[dict[str, object]]:
        channel = self._side_channel()
        try:
            ok = channel.queue_declare(queue, passive=True)
        except self._pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == failures.NOT_FOUND:
                return None
            raise
        _close_quietly(channel)
        ready, consumers = int(ok.method.message_count), int(ok.method.consumer_count)
        details: dict[str, object] = {"messages": ready, "consumers": consumers}
        figures = self._figures(queue)
        if isinstance(figures, str):
            details["unacknowledged"] = f"not counted: {figures}"
            return details
        # Settings are the queue's from its declaration on: the API has them at once.
        details["durable"] = bool(figures.get("durable"))
        details.update({key: True for key in LOSSY_SETTINGS if figures.get(key)})
        if "messages_unacknowledged" not in figures:  # a queue too new to have figures
            details["unacknowledged"] = "not counted: the management API has no figures yet"
            return details
        # Taken by a consumer but not acknowledged: still the queue's (they go back to it
        # if the consumer goes), so lost with it. The API's count is as of its last
        # refresh (collect_statistics_interval, 5 s by default).
        unacknowledged = int(str(figures["messages_unacknowledged"]))
        details.update(messages=ready + unacknowledged, ready=ready, unacknowledged=unacknowledged)
        return details

    def unfit(self, queue: str, details: dict[str, object]) -> Optional[DstreamError]:
        """An existing queue that would lose what dstream confirms to its input: one not
        durable loses its messages when the broker restarts, an auto-delete one when
        its last consumer goes. Only the management API says (None without it)."""
        lossy = [why for key, why in LOSSY_SETTINGS.items() if details.get(key) is True]
        if details.get("durable") is False:
            lossy.insert(0, "is not durable: its messages do not survive a broker restart")
        if not lossy:
            return None
        return DstreamError(
            f"queue {queue} exists but " + ", and ".join(lossy) + "; dstream acknowledges "
            "checkpoints once the broker confirmed a change, so it would lose changes",
            hint=f"delete queue {queue} on the broker (`rabbitmqctl delete_queue {queue}`, "
            "once its messages are not needed) and let `dstream init` create it durable",
        )

    def _figures(self, queue: str) -> Union[dict[str, object], str]:
        """The management API's figures of `queue`, or why there are none. An API that
        failed is not asked again by this backend: each ask could wait out its timeout."""
        if self.management is None:
            return 'management_url is "off"'
        if self._no_figures:
            return self._no_figures
        try:
            found = self.management.queue(queue)
        except CannotList as exc:
            self._no_figures = exc.one_line()
            return self._no_figures
        if found is None:  # declared a moment ago, or deleted since
            return "the management API does not list it yet"
        return found

    def create(self, queue: str, mark: Optional[Mark]) -> None:
        channel = self._side_channel()
        # The mark as queue arguments: RabbitMQ keeps arguments it does not know and
        # does not compare them when the queue is declared again.
        arguments: dict[str, object] = dict(mark.as_dict()) if mark else {}
        if self.queue_type == "quorum":
            arguments["x-queue-type"] = "quorum"
        try:
            channel.queue_declare(queue, durable=True, arguments=arguments or None)
        except self._pika.exceptions.ChannelClosedByBroker as exc:
            raise failures.declare_refused(exc, user=self.user, queue=queue) from None
        _close_quietly(channel)

    def delete(self, queue: str, *, if_idle: bool = False) -> bool:
        channel = self._side_channel()
        try:
            # if-empty and if-unused: the broker checks and deletes in one step.
            channel.queue_delete(queue, if_unused=if_idle, if_empty=if_idle)
        except self._pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == failures.NOT_FOUND:  # already gone is what destroy wants
                return True
            if if_idle and exc.reply_code == failures.PRECONDITION_FAILED:
                return False  # not empty, or not unused
            raise
        _close_quietly(channel)
        return True

    def marked(self, task: str) -> list[Marked]:
        if self.management is None:
            raise CannotList(
                'management_url is "off"',
                hint="set management_url to the management plugin's address to look for them",
            )
        return self.management.marked(task)

    # -- data ------------------------------------------------------------------------------
    def _on_confirm(self, frame: Pika) -> None:
        method = frame.method
        tag = int(method.delivery_tag)
        done = {t for t in self._unconfirmed if t <= tag} if method.multiple else {tag}
        self._unconfirmed -= done
        if method.NAME == "Basic.Nack":
            self._nacked |= done

    def _on_return(self, _channel: Pika, _method: Pika, props: Pika, _body: bytes) -> None:
        # RabbitMQ sends basic.return before the ack of the same message.
        self._returned.append(str(props.message_id))

    def send(self, batch: list[OutgoingMessage]) -> None:
        self.connect()
        impl = self._channel._impl
        self._nacked.clear()
        self._returned.clear()
        sent: dict[int, OutgoingMessage] = {}  # by delivery tag
        try:
            for msg in batch:
                props = self._properties(msg)
                impl.basic_publish("", msg.queue, msg.body, properties=props, mandatory=True)
                self._unconfirmed.add(self._next_tag)
                sent[self._next_tag] = msg
                self._next_tag += 1
            self._await_confirms(batch[0].queue if batch else "")
        except self._pika.exceptions.ConnectionClosedByBroker as exc:
            # Which message was too big is looked for only then: measuring every one
            # would marshal each header frame twice on the publishing path.
            too_big = self._too_big(batch) if exc.reply_code == failures.FRAME_ERROR else None
            if too_big is None:
                raise
            raise too_big from None
        if self._returned:
            first = next(m for m in batch if m.message_id == self._returned[0])
            # The hint is in the reason too: it must survive the trip through stderr.
            raise RoutingError(
                f"RabbitMQ has no queue {first.queue!r} for table "
                f"{first.headers.get(META_TABLE)!r}; {len(self._returned)} message(s) were "
                "returned, not delivered; run `dstream init TASK` to create the task's queues",
                hint='or set unknown_table = "create" to create queues on first use',
            )
        if self._nacked:
            nacked = [sent[tag] for tag in sorted(self._nacked) if tag in sent]
            queues = {m.queue: m.headers.get(META_TABLE) for m in nacked}
            raise failures.Nacked(len(nacked), len(batch), list(queues.items()))

    def _properties(self, msg: OutgoingMessage) -> Pika:
        return self._pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=msg.message_id,
            type=_str_or_none(msg.headers.get(META_OPERATION)),
            app_id="dstream",
            headers=msg.headers,
        )

    def _too_big(self, batch: list[OutgoingMessage]) -> Optional[RoutingError]:
        """After a FRAME_ERROR: the message whose header frame (AMQP sends a message's
        properties, its metadata, in one frame) is over the connection's frame_max, said
        with its table; a retry would meet the same refusal."""
        frame_max = int(self._connection._impl.params.frame_max)  # as negotiated
        for msg in batch:
            header = self._pika.frame.Header(1, len(msg.body), self._properties(msg))
            size = len(header.marshal())
            if size > frame_max:
                return RoutingError(
                    f"the metadata of a change of table {msg.headers.get(META_TABLE)!r} "
                    f"(message {msg.message_id}) makes AMQP headers of {size} bytes, over "
                    f"the frame_max of {frame_max} bytes {self.where} allows (AMQP sends a "
                    "message's headers in one frame)",
                    hint="keep the envelope's metadata small (large values belong in its "
                    "data), or raise frame_max on the broker",
                )
        return None

    def _await_confirms(self, queue: str) -> None:
        """Pumps I/O until every tag is settled (process_data_events would sleep out its
        time limit: confirms on the underlying channel are not "events" to it). Raises
        when the connection is lost meanwhile, or when the broker closes the channel (a
        message over its max_message_size, no write permission): the confirms then never
        come, and the connection, its heartbeats answered, would be waited on for ever.
        Either way the batch counts as not confirmed."""
        try:
            self._channel._flush_output(lambda: not self._unconfirmed)
        except self._pika.exceptions.ChannelClosedByBroker as exc:
            if failures.is_transient(exc):
                raise  # CONNECTION_FORCED: a reconnect sends the batch again
            raise failures.publish_refused(
                exc, where=self.where, user=self.user, queue=queue
            ) from None


def _str_or_none(value: object) -> Optional[str]:
    return None if value is None else str(value)


def _close_quietly(channel: Pika) -> None:
    try:
        if channel.is_open:
            channel.close()
    except Exception:
        pass


class RabbitMQOutput(QueueOutput[RabbitConfig]):
    config_class = RabbitConfig
    name = "dstream-rabbitmq"
    rules = RABBITMQ_RULES
    settings_can_lose = True  # a queue not durable, auto-delete or exclusive

    def make_backend(self) -> RabbitBackend:
        cfg = self.config
        return RabbitBackend(
            cfg.url,
            queue_type=cfg.queue_type,
            max_message_bytes=cfg.max_message_bytes,
            heartbeat=cfg.heartbeat,
            blocked_timeout=cfg.blocked_timeout,
            management_url=cfg.management_url,
        )


def main() -> None:
    run_provider(RabbitMQOutput)


if __name__ == "__main__":
    main()
