"""What dstream-rabbitmq says when RabbitMQ, or the way to it, fails: which failures a
retry can get past, and each one in words a user acts on (the broker's reply, what to
check), never a secret of the URL. Branches on pika's exception types and the AMQP
reply codes, never on message text."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from dstream.errors import DstreamError
from dstream.providers.queues.routing import RoutingError

# AMQP reply codes (0-9-1 spec).
CONNECTION_FORCED = 320
FRAME_ERROR = 501
ACCESS_REFUSED = 403
NOT_FOUND = 404
PRECONDITION_FAILED = 406

BROKER_LOG_HINT = "the broker's own log says more about what it refused"
SET_PERMISSIONS = "rabbitmqctl set_permissions -p VHOST USER CONFIGURE WRITE READ"
TLS_TRUST_HINT = (
    'a broker whose certificate a private CA signed: env = { SSL_CERT_FILE = "/path/ca.pem" } '
    'in the output block, or ssl_options in url (docs/queues.md, "TLS")'
)


class Nacked(Exception):
    """The broker nacked messages of a batch (a queue at its length limit with
    x-overflow = reject-publish, or its own failure): `queues` are where they went."""

    def __init__(self, nacked: int, total: int, queues: list[tuple[str, object]]) -> None:
        super().__init__(f"{nacked} of {total} message(s) nacked")
        self.nacked, self.total, self.queues = nacked, total, queues


NACK_HINT = (
    "a queue at its length limit (x-max-length, or a policy's max-length) with x-overflow "
    "= reject-publish refuses new messages: `rabbitmqctl list_queues name messages "
    "arguments` and `rabbitmqctl list_policies` show it; let it drain or raise the limit "
    "(the next run sends them again from the last checkpoint)"
)
HANDSHAKE_HINT = (
    "check that url's port is the broker's AMQP port (5672, 5671 for amqps) and that the "
    "broker is not paused or overloaded; retry_attempts lets a run wait for it"
)


def innermost(exc: BaseException) -> BaseException:
    """The exception pika's wrappers end in: a refused connection comes wrapped in two of
    pika's own exceptions whose text is only their class names."""
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
    return exc


def words(exc: BaseException) -> str:
    """What `exc` says, as words: the OS's, the broker's reply, or the message."""
    exc = innermost(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    reply = getattr(exc, "reply_text", None)  # the broker's words, as in ACCESS_REFUSED - ...
    if reply:
        return str(reply)
    text = " ".join(str(a) for a in exc.args if not isinstance(a, BaseException))
    return text or type(exc).__name__


def refused_login(exc: BaseException) -> bool:
    from pika import exceptions as ex

    refusals = (ex.ProbableAuthenticationError, ex.AuthenticationError)
    return isinstance(exc, refusals) or refused_vhost(exc)


def refused_vhost(exc: BaseException) -> bool:
    """The login succeeded but the vhost was refused (NOT_ALLOWED, 530, at
    connection.open: no such vhost, or no permission on it). pika raises this type for
    a connection closed while tuning, after the login, and keeps the reply only as text."""
    from pika import exceptions as ex

    return isinstance(exc, ex.ProbableAccessDeniedError)


def untrusted_certificate(exc: BaseException) -> bool:
    return isinstance(innermost(exc), ssl.SSLCertVerificationError)


def is_transient(exc: BaseException) -> bool:
    from pika import exceptions as ex
    from pika.adapters.utils.connection_workflow import AMQPConnectorException

    if refused_login(exc) or untrusted_certificate(exc):
        return False  # a wrong password, an untrusted certificate: the same next time
    if isinstance(exc, ex.ChannelClosedByBroker):
        return bool(exc.reply_code == CONNECTION_FORCED)
    if isinstance(exc, ex.ConnectionClosedByBroker) and exc.reply_code == FRAME_ERROR:
        return False  # a frame over the broker's limit: the same frame again
    return isinstance(
        exc,
        (
            ex.AMQPConnectionError,  # a blocked-publishers timeout too: an alarm clears
            AMQPConnectorException,  # no handshake: a paused or overloaded broker
            Nacked,  # a full queue may drain
            ex.ChannelWrongStateError,
            ex.ConnectionWrongStateError,
            ex.StreamLostError,
            OSError,
        ),
    )


def failure(
    exc: BaseException, *, where: str, user: str, vhost: str, blocked_timeout: float
) -> DstreamError:
    """`exc` (pika's, or the OS's) as the error a user reads."""
    from pika import exceptions as ex
    from pika.adapters.utils.connection_workflow import AMQPConnectorStackTimeout

    if isinstance(exc, Nacked):
        went = ", ".join(f"{queue!r} (table {table!r})" for queue, table in exc.queues[:3])
        more = f" and {len(exc.queues) - 3} more" if len(exc.queues) > 3 else ""
        return DstreamError(
            f"{where} nacked {exc.nacked} of {exc.total} message(s) to queue {went}{more}",
            hint=NACK_HINT,
        )
    if isinstance(innermost(exc), AMQPConnectorStackTimeout):
        return DstreamError(
            f"cannot connect to {where}: it took the connection but did not complete the "
            "AMQP handshake in time",
            hint=HANDSHAKE_HINT,
        )
    if isinstance(exc, ex.AMQPHeartbeatTimeout):
        return DstreamError(
            f"lost the connection to {where}: its heartbeats stopped (a paused or "
            "overloaded broker, or the network between)",
            hint="retry_attempts lets a run reconnect; heartbeat sets how soon a silent "
            "broker counts as gone",
        )
    if isinstance(exc, ex.ConnectionClosedByBroker) and exc.reply_code == FRAME_ERROR:
        return DstreamError(
            f"{where} refused a frame and closed the connection: {words(exc)}",
            hint="a message's headers (the envelope's metadata) must fit the broker's "
            "frame_max: keep metadata small, or raise frame_max on the broker",
        )

    if refused_vhost(exc):
        # One reply code for a vhost that does not exist and one the user has no
        # permission on: the broker's words (quoted) say which, the hint covers both.
        return DstreamError(
            f"{where} refused user {user!r} entry to vhost {vhost!r}: {words(exc)}",
            hint=f"check the vhost in url's path (%2F is the default vhost /); a vhost "
            f"that does not exist is made with `rabbitmqctl add_vhost {vhost}`, and a user "
            f"needs permissions on it: {SET_PERMISSIONS.replace('VHOST', vhost)}",
        )
    if refused_login(exc):
        return DstreamError(
            f"{where} refused the login of user {user!r}: {words(exc)}",
            hint="check the user and password in url, and the user's rights on the vhost",
        )
    if isinstance(exc, ex.ConnectionBlockedTimeout):
        return DstreamError(
            f"{where} blocked publishers for {blocked_timeout:g} s (memory or disk alarm), "
            "longer than blocked_timeout",
            hint="`rabbitmq-diagnostics alarms` on the broker says which; free memory or "
            "disk there, or raise blocked_timeout or retry_attempts to wait longer",
        )
    if isinstance(exc, ex.ConnectionClosedByBroker):
        return DstreamError(
            f"{where} closed the connection: {words(exc)}",
            hint="the broker's log says why (an operator closed it, the node is stopping); "
            "retry_attempts lets a run reconnect",
        )
    if isinstance(exc, ex.StreamLostError):
        return DstreamError(
            f"lost the connection to {where}: {words(exc)}",
            hint="the broker's log, or the network between, says why; retry_attempts "
            "lets a run reconnect",
        )
    if untrusted_certificate(exc):
        return DstreamError(
            f"{where} presented a TLS certificate that is not trusted: {words(exc)}",
            hint=TLS_TRUST_HINT,
        )
    if isinstance(exc, (ex.AMQPConnectionError, OSError)):
        return DstreamError(
            f"cannot connect to {where}: {words(exc)}",
            hint="check that the broker runs there and that url names it, as "
            "amqp://user:password@host:port/vhost",
        )
    if isinstance(exc, ex.AMQPChannelError):
        return DstreamError(
            f"{where} closed the channel: {words(exc)}",
            hint="`dstream status` shows the queues; `dstream init` creates missing ones",
        )
    return DstreamError(f"{where}: {type(exc).__name__}: {words(exc)}", hint=BROKER_LOG_HINT)


def _hint_for(exc: BaseException, by_reply_code: Mapping[int, str]) -> str:
    """The hint for the broker's reply code to `exc` (a channel it closed), else where
    to read more."""
    return by_reply_code.get(getattr(exc, "reply_code", None) or 0, BROKER_LOG_HINT)


def publish_refused(exc: BaseException, *, where: str, user: str, queue: str) -> DstreamError:
    """The broker closed the publishing channel (pika's ChannelClosedByBroker, not for
    CONNECTION_FORCED): the same batch would be refused again, so it is not retried."""
    hint = _hint_for(
        exc,
        {
            PRECONDITION_FAILED: "a message over the broker's max_message_size: raise that "
            "on the broker, or set max_message_bytes to at most it, so that a change too big "
            "fails naming its table and size",
            ACCESS_REFUSED: f"grant user {user!r} write permission on the vhost, matching "
            f"amq.default, the exchange dstream publishes through: {SET_PERMISSIONS}",
        },
    )
    return DstreamError(
        f"{where} closed the channel publishing to queue {queue!r}: {words(exc)}", hint=hint
    )


def declare_refused(exc: BaseException, *, user: str, queue: str) -> RoutingError:
    """The broker refused `queue.declare` (pika's ChannelClosedByBroker)."""
    hint = _hint_for(
        exc,
        {
            PRECONDITION_FAILED: "a queue of that name exists with other settings "
            "(durability, type); delete it or choose another queue_pattern",
            ACCESS_REFUSED: f"grant user {user!r} configure permission on the vhost for the "
            f"queue's name ({SET_PERMISSIONS}), or run `dstream init` as a user who has it",
        },
    )
    return RoutingError(f"RabbitMQ refused to declare queue {queue!r}: {words(exc)}", hint=hint)


__all__ = [
    "NOT_FOUND",
    "PRECONDITION_FAILED",
    "Nacked",
    "declare_refused",
    "failure",
    "innermost",
    "is_transient",
    "publish_refused",
    "words",
]
