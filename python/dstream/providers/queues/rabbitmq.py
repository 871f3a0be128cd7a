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
from dataclasses import dataclass
from typing import Any, Optional

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import META_OPERATION, META_TABLE
from dstream.providers.queues.leftovers import CannotList, Mark, Marked
from dstream.providers.queues.management import ManagementApi, management_url_for
from dstream.providers.queues.output import QueueConfig, QueueOutput
from dstream.providers.queues.routing import RABBITMQ_RULES, OutgoingMessage, RoutingError
from dstream.sdk import run_provider

Pika = Any  # Any: pika (connections, channels, frames) ships no type information

# pika logs what it meets as errors, with tracebacks: seven lines and a traceback for
# one refused connection, a warning for the passive declare that asks whether a queue
# exists. The provider reports every failure itself (RabbitBackend.failure), once.
logging.getLogger("pika").setLevel(logging.CRITICAL)

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
QUEUE_TYPES = ("classic", "quorum")
# AMQP reply codes (0-9-1 spec).
NOT_FOUND = 404
PRECONDITION_FAILED = 406  # queue.delete if-empty / if-unused: it is not
CONNECTION_FORCED = 320


@dataclass
class RabbitConfig(QueueConfig):
    url: str = DEFAULT_URL
    queue_type: str = "classic"  # classic | quorum (replicated; needs a cluster to matter)
    max_message_bytes: int = 128 * 1024 * 1024  # RabbitMQ's default max_message_size
    heartbeat: int = 30
    # The management plugin's HTTP API, where the lifecycle lists the broker's queues to
    # find the task's leftovers ("": url's host on 15672, https 15671 for amqps; "off").
    management_url: str = ""

    def validate(self) -> None:
        super().validate()
        if self.management_url not in ("", "off") and not self.management_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                f"management_url {self.management_url!r} is not an HTTP URL",
                hint='e.g. "http://rabbit.example:15672", or "off" not to look for '
                "queues no longer in the configuration",
            )
        if self.queue_type not in QUEUE_TYPES:
            raise ConfigError(
                f"queue_type = {self.queue_type!r} is not a RabbitMQ queue type",
                hint="use " + " or ".join(QUEUE_TYPES),
            )
        if not self.url.startswith(("amqp://", "amqps://")):
            raise ConfigError(
                f"url {self.url!r} is not an AMQP URL",
                hint='e.g. "amqp://user:password@host:5672/%2F" (%2F is the vhost /)',
            )


def _innermost(exc: BaseException) -> str:
    """What pika's nested exceptions end in, as words: pika wraps a refused connection
    in two of its own exceptions whose text is only their class names."""
    for _ in range(8):  # a bound, not a depth pika reaches
        inner = getattr(exc, "exceptions", None)  # a connection workflow's attempts
        nested = getattr(exc, "exception", None)  # a connector phase's cause
        if inner:
            nested = inner[-1]
        elif nested is None and exc.args:
            nested = exc.args[0]
        if not isinstance(nested, BaseException):
            break
        exc = nested
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    reply = getattr(exc, "reply_text", None)  # the broker's words, as in ACCESS_REFUSED - ...
    if reply:
        return str(reply)
    text = " ".join(str(a) for a in exc.args if not isinstance(a, BaseException))
    return text or type(exc).__name__


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
        management_url: str = "",
    ) -> None:
        import pika

        self._pika = pika
        self.params = pika.URLParameters(url)
        self.params.heartbeat = heartbeat
        self.params.blocked_connection_timeout = 60
        self.url = url
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

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> None:
        if self._connection is not None and self._connection.is_open:
            return
        connection = self._pika.BlockingConnection(self.params)
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

    def _refused_login(self, exc: BaseException) -> bool:
        ex = self._pika.exceptions
        refusals = (ex.ProbableAuthenticationError, ex.ProbableAccessDeniedError)
        return isinstance(exc, (*refusals, ex.AuthenticationError))

    def is_transient(self, exc: BaseException) -> bool:
        ex = self._pika.exceptions
        if self._refused_login(exc):
            return False  # a wrong password stays wrong
        if isinstance(exc, ex.ChannelClosedByBroker):
            return bool(exc.reply_code == CONNECTION_FORCED)
        return isinstance(
            exc,
            (
                ex.AMQPConnectionError,
                ex.NackError,
                ex.ChannelWrongStateError,
                ex.ConnectionWrongStateError,
                ex.StreamLostError,
                OSError,
            ),
        )

    def failure(self, exc: BaseException) -> DstreamError:
        ex = self._pika.exceptions
        where = f"RabbitMQ at {self.params.host}:{self.params.port}"
        if self._refused_login(exc):
            user = getattr(self.params.credentials, "username", "?")
            return DstreamError(
                f"{where} refused the login of user {user!r}: {_innermost(exc)}",
                hint="check the user and password in url, and the user's rights on the vhost",
            )
        if isinstance(exc, ex.StreamLostError):
            return DstreamError(
                f"lost the connection to {where}: {_innermost(exc)}",
                hint="the broker's log, or the network between, says why; retry_attempts "
                "lets a run reconnect",
            )
        if isinstance(exc, (ex.AMQPConnectionError, OSError)):
            return DstreamError(
                f"cannot connect to {where}: {_innermost(exc)}",
                hint="check that the broker runs there and that url names it, as "
                "amqp://user:password@host:port/vhost",
            )
        if isinstance(exc, ex.AMQPChannelError):
            return DstreamError(
                f"{where} closed the channel: {_innermost(exc)}",
                hint="`dstream status` shows the queues; `dstream init` creates missing ones",
            )
        return DstreamError(
            f"{where}: {type(exc).__name__}: {_innermost(exc)}",
            hint="the broker's own log says more about what it refused",
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
            if exc.reply_code == NOT_FOUND:
                return None
            raise
        _close_quietly(channel)
        return {"messages": ok.method.message_count, "consumers": ok.method.consumer_count}

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
            raise RoutingError(
                f"RabbitMQ refused to declare queue {queue!r}: {exc.reply_text}",
                hint="a queue of that name exists with other settings (durability, type); "
                "delete it or choose another queue_pattern",
            ) from None
        _close_quietly(channel)

    def delete(self, queue: str, *, if_idle: bool = False) -> bool:
        channel = self._side_channel()
        try:
            # if-empty and if-unused: the broker checks and deletes in one step.
            channel.queue_delete(queue, if_unused=if_idle, if_empty=if_idle)
        except self._pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == NOT_FOUND:  # already gone is what destroy wants
                return True
            if if_idle and exc.reply_code == PRECONDITION_FAILED:
                return False
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
        pika = self._pika
        impl = self._channel._impl
        self._nacked.clear()
        self._returned.clear()
        for msg in batch:
            props = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=2,
                message_id=msg.message_id,
                type=_str_or_none(msg.headers.get(META_OPERATION)),
                app_id="dstream",
                headers=msg.headers,
            )
            impl.basic_publish("", msg.queue, msg.body, properties=props, mandatory=True)
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        # Pumps I/O until every tag is settled (process_data_events would sleep out its
        # time limit: confirms on the underlying channel are not "events" to it). Raises
        # when the connection is lost meanwhile: the batch then counts as not confirmed.
        self._connection._flush_output(lambda: not self._unconfirmed)
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
            raise pika.exceptions.NackError(
                [f"{len(self._nacked)} message(s) nacked by the broker"]
            )


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

    def make_backend(self) -> RabbitBackend:
        cfg = self.config
        return RabbitBackend(
            cfg.url,
            queue_type=cfg.queue_type,
            max_message_bytes=cfg.max_message_bytes,
            heartbeat=cfg.heartbeat,
            management_url=cfg.management_url,
        )


def main() -> None:
    run_provider(RabbitMQOutput)


if __name__ == "__main__":
    main()
