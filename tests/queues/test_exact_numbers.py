"""Numbers a double cannot hold (PostgreSQL json/jsonb: 123456789012345678901234567890,
1e400, 1e-400, 0.1000000000000000000000000001) reach a queue as they were received:
the message body built from them, and a real RabbitMQ run read back."""

from __future__ import annotations

import itertools

import pytest

from dstream.providers.queues.routing import Route, build_message
from dstream.sdk import JsonNumber
from tests.queues.rabbit import RabbitServer
from tests.sdk.conftest import DEADLINE, command, run

DATA = (
    b'{"a":[123456789012345678901234567890,1e400,1e-400,0.1000000000000000000000000001,'
    b'-0.5,7,1700000000000000000],"z":{"k":-9223372036854775809}}'
)
PROVIDER = "queues.rabbitmq"
_names = itertools.count()


def test_the_body_holds_each_number_as_received_and_keys_sorted() -> None:
    data = {
        "z": {"k": -(2**63) - 1},
        "a": [10**29, JsonNumber("1e400"), JsonNumber("1e-400"), 0.5],
    }
    msg = build_message(Route("q", "t"), data, {"TableName": "t", "Seq": 10**20})
    assert msg.body == (
        b'{"a":[100000000000000000000000000000,1e400,1e-400,0.5],"z":{"k":-9223372036854775809}}'
    )
    # Headers are scalars a broker can carry: such numbers as their text.
    assert msg.headers == {"TableName": "t", "Seq": "100000000000000000000"}
    again = build_message(Route("q", "t"), data, {"TableName": "t", "Seq": 10**20})
    assert again.message_id == msg.message_id


@pytest.mark.timeout(DEADLINE * 3)
def test_rabbitmq_delivers_the_numbers_as_received(broker: RabbitServer) -> None:
    pattern = f"n{next(_names)}_{{TableName}}"
    config = {
        "url": broker.url,
        "tables": ["public.nums"],
        "queue_pattern": pattern,
    }
    done = run(PROVIDER, command(config, cmd="init", role="output"))
    assert done.returncode == 0, done.stderr
    queue = pattern.replace("{TableName}", "public.nums")
    envelope = b'{"data":%s,"metadata":{"TableName":"nums","Schema":"public","N":%s}}\n'
    lines = envelope % (DATA, b"123456789012345678901234567890")
    lines += envelope % (DATA.replace(b"1e400,", b""), b"1")  # only numbers orjson rounds
    lines += b'{"checkpoint":1}\n'
    done = run(PROVIDER, command(config, role="output") + lines)
    assert done.returncode == 0, done.stderr
    assert done.lines[1:] == [b'{"checkpoint":1}']
    got = broker.drain(queue)
    assert [body for _, body in got] == [DATA, DATA.replace(b"1e400,", b"")]
    assert got[0][0].headers["N"] == "123456789012345678901234567890"
    broker.delete_queues(queue)
