"""A small AMQP 1.0 TEST BROKER (python-qpid-proton) that the real azure-servicebus SDK
can send to. It is NOT Azure Service Bus and not an emulator of it: it answers the
claims-based-security `$cbs` put-token request with status 200 (any token), accepts
every sender link whatever its address, and records each received message, unpacking
Service Bus batch messages (format 0x80013700: one data section per message).

Azure Service Bus cannot run on these machines (no emulator, no network); this broker
lets the tests observe the SDK's real AMQP traffic: link per queue, batch framing,
message ids, properties, settlement.

    python -m tests.queues.amqp_test_broker PORT OUT.jsonl [--die-after N]

prints "ready" on stdout once it listens; each message becomes one JSON line in OUT.
With --die-after N, the process exits abruptly on the delivery after the N-th, without
settling it: the connection is lost with a send in flight.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from typing import Any

import orjson
from proton import Data, Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

DATA_SECTION = 0x75


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _sections(raw: bytes) -> list[tuple[Any, Any]]:
    """Top-level described values of an encoded message (its sections) as
    (descriptor, value), binary values copied out of proton's buffer."""
    out = []
    while raw:
        data = Data()
        consumed = data.decode(raw)  # one value per call
        raw = raw[consumed:]
        data.rewind()
        data.next()
        obj = data.get_object()
        value = getattr(obj, "value", None)
        if isinstance(value, memoryview):
            value = bytes(value)
        out.append((getattr(obj, "descriptor", None), value))
    return out


def _is_encoded_message(value: bytes) -> bool:
    """A data section holding an AMQP message (a batch) starts with a described
    section (constructor 0x00); a JSON body never does."""
    return len(value) > 3 and value[0] == 0


def _decode(raw: bytes) -> tuple[bool, list[Message]]:
    """(is a batch, its messages). proton's Python binding does not expose a delivery's
    message format, so a batch (0x80013700) is recognised by its data sections."""
    inner = []
    for descriptor, value in _sections(raw):
        if descriptor == DATA_SECTION and isinstance(value, bytes) and _is_encoded_message(value):
            msg = Message()
            msg.decode(value)
            inner.append(msg)
    if inner:
        return True, inner
    msg = Message()
    msg.decode(raw)
    return False, [msg]


class TestBroker(MessagingHandler):  # type: ignore[misc]
    def __init__(self, port: int, out_path: str, die_after: int) -> None:
        super().__init__(auto_accept=False, auto_settle=True)
        self.port = port
        self.out = open(out_path, "ab", buffering=0)  # noqa: SIM115 - lives as long as we do
        self.die_after = die_after
        self.received = 0
        self.cbs_replies: dict[Any, Any] = {}  # connection -> sender link of "$cbs" replies

    def on_start(self, event: Any) -> None:
        event.container.listen(f"127.0.0.1:{self.port}")
        print("ready", flush=True)

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_sender:
            address = link.remote_source.address
            link.source.address = address
            if address == "$cbs":
                self.cbs_replies[event.connection] = link
        else:
            link.target.address = link.remote_target.address
            link.flow(1000)

    def on_delivery(self, event: Any) -> None:
        delivery, link = event.delivery, event.link
        if not link.is_receiver or delivery.partial or not delivery.readable:
            return super().on_delivery(event)
        raw = link.recv(delivery.pending)
        link.advance()
        address = link.target.address
        if address == "$cbs":
            request = Message()
            request.decode(raw)
            reply = Message(
                correlation_id=request.id,
                properties={"status-code": 200, "status-description": "OK"},
            )
            self.cbs_replies[event.connection].send(reply)
            delivery.update(delivery.ACCEPTED)
        else:
            self.received += 1
            if self.die_after and self.received > self.die_after:
                os._exit(3)
            else:
                batch, messages = _decode(raw)
                for msg in messages:
                    record = {
                        "queue": address.rsplit("/", 1)[-1],  # amqps://host:port/QUEUE
                        "batch": batch,
                        "in_delivery": len(messages),
                        "message_id": _plain(msg.id),
                        "subject": _plain(msg.subject),
                        "content_type": _plain(msg.content_type),
                        "properties": _plain(msg.properties or {}),
                        "body": base64.b64encode(_body_bytes(msg.body)).decode(),
                    }
                    self.out.write(orjson.dumps(record) + b"\n")
                delivery.update(delivery.ACCEPTED)
        delivery.settle()
        link.flow(1)


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, list):  # several data sections
        return b"".join(bytes(part) for part in body)
    return str(body).encode()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("out")
    parser.add_argument("--die-after", type=int, default=0)
    args = parser.parse_args(argv)
    Container(TestBroker(args.port, args.out, args.die_after)).run()


if __name__ == "__main__":
    main(sys.argv[1:])
