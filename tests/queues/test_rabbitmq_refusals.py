"""dstream-rabbitmq against a broker that says no: it closes the publishing channel (a
message over its max_message_size, a user without write permission), it closes the
connection, it blocks publishers for a memory alarm, it refuses a declare. Each one
ends the batch at once with the broker's words and what to do, or is ridden through
when it passes; none leaves a run waiting for ever.

A broker of this module's own: its limits and alarms are changed here, which would
disturb the tests sharing the session's."""

from __future__ import annotations

import contextlib
import itertools
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.queues.rabbit import NO_LEFTOVERS, RabbitServer, configure, rabbitmq
from tests.workspace import Workspace

_names = itertools.count()
DEADLINE = 300
# A run that hung before the fix waits for its output up to flush_timeout (5 min);
# one that fails at once is done in seconds.
RUN_TIMEOUT = 90

SIZED_INPUT = """
from dataclasses import dataclass
from dstream.protocol.frames import FEATURE_CHECKPOINTS
from dstream.sdk import Checkpoint, Envelope, InputProvider, ProviderConfig, run_provider

@dataclass
class Cfg(ProviderConfig):
    count: int = 100
    big_at: int = 0  # this envelope's body is 5000 bytes, the others' 100

class Sized(InputProvider[Cfg]):
    name = "sized"
    config_class = Cfg
    features = (FEATURE_CHECKPOINTS,)

    async def read(self):
        for n in range(1, self.config.count + 1):
            pad = "x" * (5000 if n == self.config.big_at else 100)
            yield Envelope({"value": n, "pad": pad}, {"TableName": "dbo.Orders"})
            if n % 10 == 0:
                yield Checkpoint({"seq": n})

run_provider(Sized)
"""


@pytest.fixture(scope="module")
def own() -> Iterator[RabbitServer]:
    with rabbitmq() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    return f"r{next(_names)}_"


@contextlib.contextmanager
def broker_setting(broker: RabbitServer, set_it: list[str], undo: list[str]) -> Iterator[None]:
    broker.ctl(*set_it)
    try:
        yield
    finally:
        broker.ctl(*undo)


@contextlib.contextmanager
def user(broker: RabbitServer, name: str, conf: str, write: str, read: str) -> Iterator[str]:
    """A user with these permissions on vhost /; its AMQP URL."""
    broker.ctl("add_user", name, "Pw-" + name)
    try:
        broker.ctl("set_permissions", "-p", "/", name, conf, write, read)
        yield broker.url.replace("guest:guest", f"{name}:Pw-{name}")
    finally:
        broker.ctl("delete_user", name)


def sized_task(ws: Workspace, url: str, prefix: str, *, count: int, big_at: int = 0) -> str:
    """Task "big": `count` changes of dbo.Orders (the one at `big_at` 5000 bytes) into
    their queue of `prefix`; the queue."""
    ws.python_script("sized.py", SIZED_INPUT)
    ws.config(
        f"""
        state {{ path = "state" }}
        task "big" {{
          input {{
            provider_path = "./sized.py"
            config {{
              count  = {count}
              big_at = {big_at}
            }}
          }}
          output {{
            provider_path = "dstream-rabbitmq"
            config {{
              url           = "{url}"
              tables        = ["dbo.Orders"]
              queue_pattern = "{prefix}{{TableName}}"
              {NO_LEFTOVERS}
            }}
          }}
        }}
        """
    )
    return prefix + "dbo.Orders"


@pytest.mark.timeout(DEADLINE)
def test_a_message_over_the_brokers_max_size_fails_the_run_at_once(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    """The broker closes the channel (406): no confirm ever comes for the batch, and the
    run used to wait for one until flush_timeout."""
    queue = sized_task(ws, own.url, prefix, count=100, big_at=55)
    assert ws.run("init", "big").returncode == 0
    limit = ["eval", "application:set_env(rabbit, max_message_size, 1000)."]
    default = ["eval", "application:set_env(rabbit, max_message_size, 134217728)."]
    with broker_setting(own, limit, default):
        code, doc, err = ws.run_json("run", "big", timeout=RUN_TIMEOUT)
    assert code == 1, err
    assert f"RabbitMQ at 127.0.0.1:{own.port} closed the channel publishing to queue " in err
    assert f"{queue!r}: PRECONDITION_FAILED - message size" in err, err
    assert "max_message_bytes" in err  # the hint: how to have dstream name the change
    assert "retrying" not in err  # the same message would be refused again
    assert "Traceback" not in err
    acked = doc["tasks"][0]["last_checkpoint"]["seq"]
    assert acked < 55  # the refused message is not acknowledged
    assert (own.queue_count(queue) or 0) >= acked  # and what is, is in the queue
    own.delete_queues(queue)


@pytest.mark.timeout(DEADLINE)
def test_publishing_without_write_permission_fails_at_once(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    queue = sized_task(ws, own.url, prefix, count=100)
    assert ws.run("init", "big").returncode == 0  # as guest
    with user(own, "nowrite", ".*", "^$", ".*") as url:
        sized_task(ws, url, prefix, count=100)
        code, doc, err = ws.run_json("run", "big", timeout=RUN_TIMEOUT)
    assert code == 1, err
    assert "ACCESS_REFUSED - access to exchange 'amq.default'" in err, err
    assert "write permission" in err  # the hint names what the user lacks
    assert "retrying" not in err
    assert "Pw-nowrite" not in err
    assert doc["tasks"][0]["last_checkpoint"] is None
    own.delete_queues(queue)


@pytest.mark.timeout(DEADLINE)
def test_init_without_configure_permission_names_the_permission(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    with user(own, "noconf", "^$", ".*", ".*") as url:
        configure(ws, url, pattern=prefix + "{TableName}_cdc_events", extra=NO_LEFTOVERS)
        done = ws.run("init", "cdc")
    assert done.returncode == 1, done.stderr
    queue = prefix + "dbo.Orders_cdc_events"
    assert f"RabbitMQ refused to declare queue {queue!r}: ACCESS_REFUSED" in done.stderr
    assert "grant user 'noconf' configure permission on the vhost" in done.stderr, done.stderr
    assert "exists with other settings" not in done.stderr  # it does not exist at all
    assert "Pw-noconf" not in done.stderr


@pytest.mark.timeout(DEADLINE)
def test_a_queue_of_other_settings_is_said_to_be_one(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    """unknown_table = "create" declares the queue of a table met in the run: over a
    queue of that name that is not durable, the broker refuses (406)."""
    queue = prefix + "surprise"
    with contextlib.closing(own.connection()) as conn:
        conn.channel().queue_declare(queue, durable=False)
    ws.config(
        f"""
        task "cdc" {{
          input {{
            provider_path = "dstream-counter"
            config {{
              max_count = 10
              tables = ["surprise"]
            }}
          }}
          output {{
            provider_path = "dstream-rabbitmq"
            config {{
              url = "{own.url}"
              queue_pattern = "{prefix}{{TableName}}"
              unknown_table = "create"
              {NO_LEFTOVERS}
            }}
          }}
        }}
        """
    )
    done = ws.run("run", "cdc", timeout=RUN_TIMEOUT)
    assert done.returncode == 1, done.stderr
    assert f"RabbitMQ refused to declare queue {queue!r}: PRECONDITION_FAILED" in done.stderr
    assert "exists with other settings" in done.stderr, done.stderr
    own.delete_queues(queue)


def orders_task(
    ws: Workspace,
    broker: RabbitServer,
    prefix: str,
    *,
    count: int,
    interval: int = 0,
    settings: str = "",
) -> str:
    """Task "cdc": `count` changes of dbo.Orders (`interval` ms apart) into their queue
    of `prefix` on `broker`, with the output's `settings` (HCL lines); the queue."""
    configure(
        ws,
        broker.url,
        count=count,
        tables=["dbo.Orders"],
        pattern=prefix + "{TableName}",
        extra=f"{settings}\n{NO_LEFTOVERS}",
        interval=interval,
    )
    return prefix + "dbo.Orders"


@contextlib.contextmanager
def running_task(ws: Workspace) -> Iterator[subprocess.Popen[bytes]]:
    """`dstream run cdc` started in the background; killed on the way out if it has not
    ended (a failed assertion must not leave it publishing)."""
    proc = ws.popen("run", "cdc")
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def wait_for_line(stream: subprocess.Popen[bytes], needle: str, seen: list[str]) -> None:
    """Read the run's stderr until a line holds `needle` (every line read kept in `seen`)."""
    assert stream.stderr is not None
    for raw in stream.stderr:
        seen.append(raw.decode(errors="replace"))
        if needle in seen[-1]:
            return
    raise AssertionError(f"the run ended without saying {needle!r}:\n{''.join(seen)}")


def drain_rest(stream: subprocess.Popen[bytes], seen: list[str]) -> threading.Thread:
    def read() -> None:
        assert stream.stderr is not None
        seen.extend(raw.decode(errors="replace") for raw in stream.stderr)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


@pytest.mark.timeout(DEADLINE)
def test_a_connection_the_broker_closes_is_retried(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    """CONNECTION_FORCED (an operator's close_connection, a node going down): the run
    reconnects and sends the batch again."""
    queue = orders_task(ws, own, prefix, count=3000, interval=2, settings="retry_backoff = 0.05")
    assert ws.run("init", "cdc").returncode == 0
    seen: list[str] = []
    with running_task(ws) as proc:
        reader = drain_rest(proc, seen)
        while not own.queue_count(queue):  # publishing has begun
            assert proc.poll() is None, "".join(seen)
            time.sleep(0.1)
        own.ctl("close_all_connections", "dstream test closes it")
        proc.wait(timeout=RUN_TIMEOUT)
        reader.join()
    err = "".join(seen)
    assert proc.returncode == 0, err
    where = f"RabbitMQ at 127.0.0.1:{own.port}"
    assert f"{where} closed the connection: CONNECTION_FORCED - dstream test closes it" in err
    assert "retrying" in err
    assert "cannot connect" not in err  # it was connected: the broker closed it
    assert (own.queue_count(queue) or 0) >= 3000  # a resent batch: more
    own.delete_queues(queue)


MEMORY_ALARM = ["set_vm_memory_high_watermark", "0.0000001"]
NO_ALARM = ["set_vm_memory_high_watermark", "0.4"]


@pytest.mark.timeout(DEADLINE)
def test_a_memory_alarm_is_said_while_it_blocks_and_the_run_goes_on_after_it(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    queue = orders_task(ws, own, prefix, count=200)
    assert ws.run("init", "cdc").returncode == 0
    seen: list[str] = []
    with broker_setting(own, MEMORY_ALARM, NO_ALARM), running_task(ws) as proc:
        wait_for_line(proc, "blocks publishers", seen)
        own.ctl(*NO_ALARM)
        reader = drain_rest(proc, seen)
        proc.wait(timeout=RUN_TIMEOUT)
        reader.join()
    err = "".join(seen)
    assert proc.returncode == 0, err
    assert f"RabbitMQ at 127.0.0.1:{own.port} blocks publishers (memory or disk alarm" in err
    assert "unblocked" in err
    assert own.queue_count(queue) == 200
    own.delete_queues(queue)


@pytest.mark.timeout(DEADLINE)
def test_a_memory_alarm_longer_than_blocked_timeout_names_the_alarm(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    queue = orders_task(
        ws, own, prefix, count=200, settings="retry_attempts = 1\nblocked_timeout = 2"
    )
    assert ws.run("init", "cdc").returncode == 0
    with broker_setting(own, MEMORY_ALARM, NO_ALARM):
        code, doc, err = ws.run_json("run", "cdc", timeout=RUN_TIMEOUT)
    assert code == 1, err
    assert (
        f"RabbitMQ at 127.0.0.1:{own.port} blocked publishers for 2 s (memory or disk alarm" in err
    ), err
    assert "rabbitmq-diagnostics alarms" in err  # the hint: where to see which
    assert "cannot connect" not in err and "check that the broker runs there" not in err
    assert doc["tasks"][0]["last_checkpoint"] is None
    own.delete_queues(queue)


@pytest.mark.timeout(DEADLINE)
def test_messages_a_full_queue_nacks_are_counted_and_said_so(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    """A queue at its x-max-length with x-overflow reject-publish nacks what does not fit:
    the run said "closed the channel: 1 message(s) NACKed" (a count that was always 1, a
    channel nobody closed) with a hint about missing queues."""
    queue = orders_task(
        ws, own, prefix, count=20, settings="retry_attempts = 2\nretry_backoff = 0.05"
    )
    with contextlib.closing(own.connection()) as conn:
        conn.channel().queue_declare(
            queue, durable=True, arguments={"x-max-length": 5, "x-overflow": "reject-publish"}
        )
    code, _, err = ws.run_json("run", "cdc", timeout=RUN_TIMEOUT)
    assert code == 1, err
    assert f"nacked 15 of 20 message(s) to queue {queue!r}" in err, err  # the first attempt
    assert f"nacked 20 of 20 message(s) to queue {queue!r}" in err, err  # the queue is full
    assert "x-max-length" in err and "closed the channel" not in err, err
    assert own.queue_count(queue) == 5
    own.delete_queues(queue)


BIG_METADATA_INPUT = """
from dataclasses import dataclass
from dstream.sdk import Envelope, InputProvider, ProviderConfig, run_provider

@dataclass
class Cfg(ProviderConfig):  # sized_task's keys
    count: int = 1
    big_at: int = 0

class Big(InputProvider[Cfg]):
    name = "big-metadata"
    config_class = Cfg

    async def read(self):
        yield Envelope({"n": 1}, {"TableName": "dbo.Orders"})
        yield Envelope({"n": 2}, {"TableName": "dbo.Orders", "note": "x" * 200_000})

run_provider(Big)
"""


@pytest.mark.timeout(DEADLINE)
def test_metadata_over_the_frame_size_fails_at_once_naming_its_table(
    ws: Workspace, own: RabbitServer, prefix: str
) -> None:
    """A message's headers (the envelope's metadata) go in one frame, which the broker
    refuses when over its frame_max: every retry met the same FRAME_ERROR, and the error
    said a reconnect would help."""
    queue = sized_task(ws, own.url, prefix, count=1)
    ws.python_script("sized.py", BIG_METADATA_INPUT)
    assert ws.run("init", "big").returncode == 0
    code, _, err = ws.run_json("run", "big", timeout=RUN_TIMEOUT)
    assert code == 1, err
    assert "metadata" in err and "dbo.Orders" in err and "frame_max" in err, err
    assert "retrying" not in err and "FRAME_ERROR" not in err, err
    assert (own.queue_count(queue) or 0) <= 1  # at most the change before it: not acked
    own.delete_queues(queue)


@pytest.mark.timeout(DEADLINE)
def test_a_port_that_answers_no_handshake_is_retried_and_said_plainly(ws: Workspace) -> None:
    """Something accepts the connection and never speaks AMQP (a paused broker, a load
    balancer without a backend): pika's handshake timeout was not retried, and its
    error was a Python repr of the socket address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        url = f"amqp://guest:guest@127.0.0.1:{port}/%2F?stack_timeout=1"
        configure(ws, url, count=3, tables=["dbo.Orders"],
                  extra=f"retry_attempts = 2\nretry_backoff = 0.05\n{NO_LEFTOVERS}")  # fmt: skip
        done = ws.run("run", "cdc", timeout=RUN_TIMEOUT)
    finally:
        listener.close()
    assert done.returncode == 1, done.stderr
    assert "retrying" in done.stderr, done.stderr
    assert f"cannot connect to RabbitMQ at 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "handshake" in done.stderr and "AddressFamily" not in done.stderr, done.stderr
