"""What a RabbitMQ queue really holds, as the lifecycle commands count it: messages a
consumer took but has not acknowledged are the queue's until it does (they go back to
the queue if it disconnects), so `status`, `plan --destroy` and `destroy` count them
with the ready ones (the management API's figures), and say who holds them."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.queues.rabbit import RabbitServer, configure, queues_of
from tests.workspace import Workspace

_names = itertools.count()
DEADLINE = 300
# The management API refreshes a queue's figures every collect_statistics_interval
# (5 s by default): a status a moment after the consumer took them may not count them yet.
FIGURES_WAIT = 30.0


@pytest.fixture
def prefix() -> str:
    return f"h{next(_names)}_"


def setup(ws: Workspace, broker: RabbitServer, prefix: str, api: str = "") -> None:
    api = api or f'management_url = "http://127.0.0.1:{broker.management_port}"'
    configure(ws, broker.url, pattern=prefix + "{TableName}_cdc_events", extra=api)


def output_of(doc: dict[str, Any]) -> dict[str, Any]:
    (output,) = [p for p in doc["tasks"][0]["providers"] if p["role"] == "output"]
    return output


@contextlib.contextmanager
def unacknowledging_consumer(broker: RabbitServer, queue: str, count: int) -> Iterator[None]:
    """`count` messages published to `queue`, then taken by a consumer that never
    acknowledges them (prefetch above `count`), held while the block runs."""
    with contextlib.closing(broker.connection()) as conn:
        channel = conn.channel()
        for n in range(count):
            channel.basic_publish("", queue, b'{"n": %d}' % n)
        channel.basic_qos(prefetch_count=count + 10)
        got: list[int] = []
        channel.basic_consume(queue, lambda _c, m, _p, _b: got.append(m.delivery_tag))
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.2)
        assert len(got) == count
        assert broker.queue_count(queue) == 0  # none ready: a passive declare says "empty"
        yield


def status_details(ws: Workspace, queue: str, messages: int) -> dict[str, Any]:
    """The queue's details in `status`, once they count `messages` (or at the deadline)."""
    deadline = time.monotonic() + FIGURES_WAIT
    while True:
        code, doc, err = ws.run_json("status", "cdc")
        assert code == 0, err
        rows = {r["name"]: r for r in output_of(doc)["resources"]}
        details: dict[str, Any] = rows[queue]["details"]
        if details.get("messages") == messages or time.monotonic() > deadline:
            return details
        time.sleep(1)


@pytest.mark.timeout(DEADLINE)
def test_unacknowledged_messages_are_counted_and_destroy_says_it_loses_them(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    setup(ws, managed, prefix)
    queue = queues_of(prefix)[0]
    assert ws.run("init", "cdc").returncode == 0
    with unacknowledging_consumer(managed, queue, 7):
        details = status_details(ws, queue, 7)
        assert details["messages"] == 7, details
        assert details["unacknowledged"] == 7 and details["consumers"] == 1, details
        done = ws.run("plan", "--destroy", "cdc")
        assert done.returncode == 0, done.stderr
        held = "holds 7 message(s), 7 unacknowledged by 1 consumer"
        line = next(x for x in done.stdout.splitlines() if queue in x)
        assert held in line, done.stdout
        code, doc, err = ws.run_json("destroy", "cdc", "--auto-approve")
        assert code == 0, err
        reasons = {c["name"]: c["reason"] for c in output_of(doc)["changes"]}
        assert held in reasons[queue], reasons


@pytest.mark.timeout(DEADLINE)
def test_without_the_management_api_the_count_says_it_is_of_ready_messages_only(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    setup(ws, managed, prefix, api='management_url = "off"')
    queue = queues_of(prefix)[0]
    assert ws.run("init", "cdc").returncode == 0
    with unacknowledging_consumer(managed, queue, 3):
        code, doc, err = ws.run_json("status", "cdc")
        assert code == 0, err
        details = {r["name"]: r for r in output_of(doc)["resources"]}[queue]["details"]
        assert details["consumers"] == 1
        assert "not counted" in details["unacknowledged"], details
        done = ws.run("plan", "--destroy", "cdc")
        line = next(x for x in done.stdout.splitlines() if queue in x)
        assert "unacknowledged messages not counted" in line, done.stdout
        assert "1 consumer" in line, done.stdout
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0
