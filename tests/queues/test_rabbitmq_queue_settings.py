"""A configured queue that exists with settings that lose messages (not durable, or
auto-delete): dstream's messages are persistent and its checkpoints acknowledged once
the broker confirmed them, which a broker restart would make a lie for such a queue.
plan, init and status say it does not match the configuration; run refuses to stream
into it. Only the management API says a queue's settings (a passive declare does not)."""

from __future__ import annotations

import contextlib
import itertools

import pytest

from tests.queues.rabbit import RabbitServer, configure, queues_of
from tests.workspace import Workspace

_names = itertools.count()
DEADLINE = 300


@pytest.fixture
def prefix() -> str:
    return f"s{next(_names)}_"


@pytest.mark.timeout(DEADLINE)
def test_a_transient_or_auto_delete_queue_is_refused(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    api = f'management_url = "http://127.0.0.1:{managed.management_port}"'
    configure(ws, managed.url, count=20, pattern=prefix + "{TableName}_cdc_events", extra=api)
    transient, auto_delete, _ = queues = queues_of(prefix)
    with contextlib.closing(managed.connection()) as conn:
        conn.channel().queue_declare(transient, durable=False)
        conn.channel().queue_declare(auto_delete, durable=True, auto_delete=True)

    done = ws.run("plan", "cdc")
    assert done.returncode == 0, done.stderr
    assert f"queue {transient} exists but is not durable" in done.stdout, done.stdout
    assert f"queue {auto_delete} exists but is auto-delete" in done.stdout, done.stdout
    assert "matches the configuration" not in done.stdout, done.stdout

    done = ws.run("init", "cdc")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"queue {transient} exists but is not durable" in done.stderr, done.stderr
    assert managed.queue_count(queues[2]) == 0  # the missing one was created all the same

    done = ws.run("status", "cdc")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "do not survive a broker restart" in done.stderr, done.stderr

    done = ws.run("run", "cdc")
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"queue {transient} exists but is not durable" in done.stderr, done.stderr
    assert [managed.queue_count(q) for q in queues] == [0, 0, 0]  # nothing streamed

    managed.delete_queues(transient, auto_delete)
    assert ws.run("init", "cdc").returncode == 0  # dstream creates them durable
    done = ws.run("run", "cdc")
    assert done.returncode == 0, done.stderr
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0
