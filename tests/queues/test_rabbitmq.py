"""dstream-rabbitmq against a real RabbitMQ started by the test suite: the lifecycle
commands, a run read back queue by queue, failures, and a broker connection cut
mid-run."""

from __future__ import annotations

import collections
import itertools
from typing import Any

import orjson
import pytest

from tests.queues.rabbit import TABLES, RabbitServer, configure, queues_of
from tests.relay import CuttingProxy
from tests.workspace import Workspace

_names = itertools.count()


@pytest.fixture
def prefix() -> str:
    """A queue-name prefix of its own per test: the broker is shared by the session."""
    return f"t{next(_names)}_"


def test_lifecycle_against_the_broker(ws: Workspace, broker: RabbitServer, prefix: str) -> None:
    configure(ws, broker.url, pattern=prefix + "{TableName}_cdc_events")
    queues = queues_of(prefix)
    assert [broker.queue_count(q) for q in queues] == [None, None, None]

    code, doc, err = ws.run_json("init", "cdc")
    assert code == 0, err
    output = doc["tasks"][0]["providers"][1]
    assert sorted(c["name"] for c in output["changes"]) == sorted(queues)
    assert {c["action"] for c in output["changes"]} == {"create"}
    assert [broker.queue_count(q) for q in queues] == [0, 0, 0]

    code, doc, err = ws.run_json("init", "cdc")  # idempotent
    assert code == 0, err
    assert doc["tasks"][0]["summary"] == {"create": 0, "update": 0, "delete": 0}

    broker.delete_queues(queues[1])
    done = ws.run("plan", "cdc")
    assert done.returncode == 0, done.stderr
    plus = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("+")]
    assert plus == [f"+ rabbitmq_queue.{queues[1]}  (queue of table dbo.Customers)"]
    assert "Plan: 1 to create, 0 to change, 0 to destroy." in done.stdout

    done = ws.run("status", "cdc")
    assert done.returncode == 0, done.stderr
    rows = {
        line.split()[1]: line.split()[2]
        for line in done.stdout.splitlines()[3:]
        if line.strip() and line.split()[0] == "output"
    }
    assert rows[f"rabbitmq_queue.{queues[0]}"] == "yes"
    assert rows[f"rabbitmq_queue.{queues[1]}"] == "no"

    done = ws.run("plan", "--destroy", "cdc")
    assert "Plan: 0 to create, 0 to change, 2 to destroy." in done.stdout
    assert [broker.queue_count(q) for q in queues] == [0, None, 0]  # plan changed nothing

    code, doc, err = ws.run_json("destroy", "cdc", "--auto-approve")
    assert code == 0, err
    assert doc["tasks"][0]["summary"]["delete"] == 2
    assert [broker.queue_count(q) for q in queues] == [None, None, None]
    # Already gone: still a success.
    code, doc, err = ws.run_json("destroy", "cdc", "--auto-approve")
    assert code == 0, err
    assert doc["tasks"][0]["summary"]["delete"] == 0


def by_queue(broker: RabbitServer, queues: list[str]) -> dict[str, list[tuple[Any, Any]]]:
    return {q: [(props, orjson.loads(body)) for props, body in broker.drain(q)] for q in queues}


def test_run_delivers_every_envelope_to_its_tables_queue(
    ws: Workspace, broker: RabbitServer, prefix: str
) -> None:
    count = 300
    configure(ws, broker.url, count=count, pattern=prefix + "{TableName}_cdc_events")
    queues = queues_of(prefix)
    assert ws.run("init", "cdc").returncode == 0
    code, doc, err = ws.run_json("run", "cdc")
    assert code == 0, err
    assert doc["tasks"][0]["last_checkpoint"] == {"seq": count}

    code, doc, err = ws.run_json("status", "cdc")
    assert code == 0, err
    counts = {
        r["name"]: r["details"]["messages"] for r in doc["tasks"][0]["providers"][1]["resources"]
    }
    assert counts == {q: count // 3 for q in queues}

    got = by_queue(broker, queues)
    for index, queue in enumerate(queues):
        values = [body["value"] for _, body in got[queue]]
        assert values == [n for n in range(1, count + 1) if (n - 1) % 3 == index]
        for props, _ in got[queue]:
            assert props.headers["TableName"] == TABLES[index]
            assert props.content_type == "application/json"
            assert props.delivery_mode == 2
            assert props.message_id.startswith(TABLES[index] + ":")
    ids = [p.message_id for q in queues for p, _ in got[q]]
    assert len(set(ids)) == count
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0


def test_run_without_init_fails_and_acknowledges_nothing(
    ws: Workspace, broker: RabbitServer, prefix: str
) -> None:
    configure(ws, broker.url, count=50, pattern=prefix + "{TableName}_cdc_events")
    code, doc, err = ws.run_json("run", "cdc")
    assert code != 0
    assert "run `dstream init TASK`" in err
    assert doc["tasks"][0]["last_checkpoint"] is None


def test_unknown_table_create_policy(ws: Workspace, broker: RabbitServer, prefix: str) -> None:
    ws.config(
        f"""
        task "cdc" {{
          input {{
            provider_path = "dstream-counter"
            config {{
              interval = 0
              max_count = 10
              tables = ["known", "surprise"]
            }}
          }}
          output {{
            provider_path = "dstream-rabbitmq"
            config {{
              url = "{broker.url}"
              tables = ["known"]
              queue_pattern = "{prefix}{{TableName}}"
              unknown_table = "create"
            }}
          }}
        }}
        """
    )
    assert ws.run("init", "cdc").returncode == 0
    assert broker.queue_count(prefix + "surprise") is None
    done = ws.run("run", "cdc")
    assert done.returncode == 0, done.stderr
    assert broker.queue_count(prefix + "known") == 5
    assert broker.queue_count(prefix + "surprise") == 5
    broker.delete_queues(prefix + "known", prefix + "surprise")


def test_provider_reporting_failed_makes_the_cli_exit_nonzero(
    ws: Workspace, broker: RabbitServer
) -> None:
    bad = broker.url.replace("guest:guest", "guest:wrong")
    configure(ws, bad)
    done = ws.run("status", "cdc")
    assert done.returncode == 1
    assert "output 'dstream-rabbitmq' reported Failed:" in done.stderr
    where = f"RabbitMQ at 127.0.0.1:{broker.port}"
    assert f"{where} refused the login of user 'guest'" in done.stderr, done.stderr
    assert "check the user and password in url" in done.stderr
    assert "wrong" not in done.stderr  # the password


def test_a_vhost_that_does_not_exist_is_named_not_taken_for_a_wrong_password(
    ws: Workspace, broker: RabbitServer
) -> None:
    configure(ws, broker.url.replace("/%2F", "/nowhere"))
    done = ws.run("status", "cdc")
    assert done.returncode == 1
    where = f"RabbitMQ at 127.0.0.1:{broker.port}"
    assert f"{where} refused user " in done.stderr, done.stderr
    assert "entry to vhost 'nowhere': " in done.stderr, done.stderr
    assert "vhost nowhere not found" in done.stderr, done.stderr
    assert "refused the login" not in done.stderr
    assert "rabbitmqctl add_vhost nowhere" in done.stderr, done.stderr


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["status", "plan", "init", "run"])
def test_a_broker_that_is_not_there_is_named_without_pikas_noise(
    ws: Workspace, command: str
) -> None:
    """No broker behind the URL: one error that names it and says what to do, in
    place of pika's own log lines (seven errors and a traceback per attempt) and an
    exception's bare name."""
    port = closed_port()
    configure(ws, f"amqp://guest:s3cret@127.0.0.1:{port}/%2F", extra="retry_attempts = 1")
    done = ws.run(command, "cdc")
    assert done.returncode == 1, done.stderr
    assert f"cannot connect to RabbitMQ at 127.0.0.1:{port}: connection refused" in done.stderr
    assert "check that the broker runs there" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "pika." not in done.stderr, done.stderr
    assert "s3cret" not in done.stderr


def run_through_proxy(
    ws: Workspace, broker: RabbitServer, prefix: str, *, count: int, attempts: int, reconnect: bool
) -> tuple[int, dict[str, Any], str, CuttingProxy]:
    proxy = CuttingProxy(broker.port, cut_after=60_000, reconnect=reconnect)
    configure(
        ws,
        proxy.url,
        count=count,
        pattern=prefix + "{TableName}_cdc_events",
        extra=f"retry_attempts = {attempts}\nretry_backoff = 0.05",
    )
    try:
        init = ws.run("init", "cdc")
        assert init.returncode == 0, init.stderr
        code, doc, err = ws.run_json("run", "cdc")
    finally:
        proxy.close()
    return code, doc, err, proxy


def test_connection_cut_without_retry_fails_and_acks_only_confirmed(
    ws: Workspace, broker: RabbitServer, prefix: str
) -> None:
    count = 3000
    code, doc, err, proxy = run_through_proxy(
        ws, broker, prefix, count=count, attempts=1, reconnect=False
    )
    assert proxy.cuts == 1
    assert code != 0, err
    acked = (doc["tasks"][0]["last_checkpoint"] or {"seq": 0})["seq"]
    assert acked < count
    got = by_queue(broker, queues_of(prefix))
    delivered = {body["value"] for msgs in got.values() for _, body in msgs}
    assert len(delivered) < count  # the cut happened mid-run
    # Every envelope up to the acknowledged checkpoint was confirmed by the broker.
    assert set(range(1, acked + 1)) <= delivered


def test_connection_cut_with_retries_delivers_everything(
    ws: Workspace, broker: RabbitServer, prefix: str
) -> None:
    count = 3000
    code, doc, err, proxy = run_through_proxy(
        ws, broker, prefix, count=count, attempts=5, reconnect=True
    )
    assert proxy.cuts == 1
    assert code == 0, err
    assert "retrying" in err
    assert doc["tasks"][0]["last_checkpoint"] == {"seq": count}
    got = by_queue(broker, queues_of(prefix))
    ids_by_value: dict[int, set[str]] = collections.defaultdict(set)
    for msgs in got.values():
        for props, body in msgs:
            ids_by_value[body["value"]].add(props.message_id)
    assert set(ids_by_value) == set(range(1, count + 1))
    # A change sent twice (the batch in flight at the cut) carries one id.
    assert all(len(ids) == 1 for ids in ids_by_value.values())
