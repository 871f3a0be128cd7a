"""Queues a task's configuration no longer names (a table taken out of `tables`, a
`queue_pattern` changed): dstream marks the queues it creates with the task, finds
them on the broker (RabbitMQ's management API, started here with the plugin), shows
them in `plan` and `status`, removes the drained ones in `init` and `destroy`, and
never touches a queue it did not mark."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import orjson
import pytest

from tests.queues.rabbit import TABLES, RabbitServer, configure, queues_of
from tests.services import free_port
from tests.workspace import Workspace

_names = itertools.count()
DEADLINE = 600


@pytest.fixture
def prefix() -> str:
    return f"l{next(_names)}_"


def setup(ws: Workspace, broker: RabbitServer, prefix: str, **kw: Any) -> None:
    api = f'management_url = "http://127.0.0.1:{broker.management_port}"'
    extra = api + "\n" + kw.pop("extra", "")
    configure(
        ws,
        broker.url,
        pattern=kw.pop("pattern", prefix + "{TableName}_cdc_events"),
        extra=extra,
        **kw,
    )


def output_of(doc: dict[str, Any]) -> dict[str, Any]:
    (output,) = [p for p in doc["tasks"][0]["providers"] if p["role"] == "output"]
    return output


def changes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((c["action"], c["name"]) for c in output_of(doc)["changes"])


def publish(broker: RabbitServer, queue: str) -> None:
    with contextlib.closing(broker.connection()) as conn:
        conn.channel().basic_publish("", queue, b"{}")


@pytest.mark.timeout(DEADLINE)
def test_a_table_taken_out_of_tables(ws: Workspace, managed: RabbitServer, prefix: str) -> None:
    setup(ws, managed, prefix)
    queues = queues_of(prefix)
    assert ws.run("init", "cdc").returncode == 0
    publish(managed, queues[1])  # dbo.Customers' queue still holds a change
    setup(ws, managed, prefix, tables=TABLES[:1])

    # plan: the drained leftover is to be removed; the other is shown, kept.
    code, doc, err = ws.run_json("plan", "cdc")
    assert code == 0, err
    assert changes(doc) == [("delete", queues[2])]
    reason = output_of(doc)["changes"][0]["reason"]
    assert "no longer in the configuration" in reason and "sales.Order Lines" in reason
    done = ws.run("plan", "cdc")
    assert f"- rabbitmq_queue.{queues[2]}" in done.stdout, done.stdout
    assert "Plan: 0 to create, 0 to change, 1 to destroy." in done.stdout

    code, doc, err = ws.run_json("status", "cdc")
    assert code == 0, err
    rows = {r["name"]: r for r in output_of(doc)["resources"]}
    assert set(rows) == set(queues)
    assert rows[queues[1]]["exists"] and rows[queues[1]]["details"]["messages"] == 1
    assert "no longer in the configuration" in rows[queues[1]]["details"]["leftover"]
    assert "leftover" not in rows[queues[0]]["details"]

    # init removes the drained one and keeps the one holding a change, saying so.
    code, doc, err = ws.run_json("init", "cdc")
    assert code == 0, err
    assert changes(doc) == [("delete", queues[2])]
    assert [managed.queue_count(q) for q in queues] == [0, 1, None]
    assert queues[1] in output_of(doc)["message"], output_of(doc)

    managed.drain(queues[1])
    code, doc, err = ws.run_json("plan", "cdc")
    assert changes(doc) == [("delete", queues[1])]
    code, doc, err = ws.run_json("destroy", "cdc", "--auto-approve")
    assert code == 0, err
    assert changes(doc) == sorted([("delete", queues[0]), ("delete", queues[1])])
    assert [managed.queue_count(q) for q in queues] == [None, None, None]


@pytest.mark.timeout(DEADLINE)
def test_a_changed_queue_pattern(ws: Workspace, managed: RabbitServer, prefix: str) -> None:
    setup(ws, managed, prefix)
    old = queues_of(prefix)
    assert ws.run("init", "cdc").returncode == 0
    setup(ws, managed, prefix, pattern=prefix + "v2.{TableName}")
    new = [prefix + "v2." + t.replace(" ", "_") for t in TABLES]
    code, doc, err = ws.run_json("plan", "cdc")
    assert code == 0, err
    assert changes(doc) == sorted([("create", q) for q in new] + [("delete", q) for q in old])
    code, doc, err = ws.run_json("plan", "--destroy", "cdc")
    assert changes(doc) == sorted(("delete", q) for q in old)  # the new ones do not exist yet
    assert ws.run("init", "cdc").returncode == 0
    assert [managed.queue_count(q) for q in old + new] == [None] * 3 + [0] * 3
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0
    assert [managed.queue_count(q) for q in new] == [None] * 3


@pytest.mark.timeout(DEADLINE)
def test_a_queue_dstream_did_not_mark_is_never_touched(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    foreign = [prefix + "foreign_cdc_events", prefix + "other_task_cdc_events"]
    with contextlib.closing(managed.connection()) as conn:
        channel = conn.channel()
        channel.queue_declare(foreign[0], durable=True)  # no mark: someone else's
        channel.queue_declare(foreign[1], durable=True, arguments={"dstream-task": "other"})
    setup(ws, managed, prefix)
    assert ws.run("init", "cdc").returncode == 0
    setup(ws, managed, prefix, tables=TABLES[:1])
    for command in (["plan"], ["plan", "--destroy"], ["status"]):
        code, doc, err = ws.run_json(*command, "cdc")
        assert code == 0, err
        named = {c["name"] for c in output_of(doc)["changes"]}
        named |= {r["name"] for r in output_of(doc)["resources"]}
        assert not named & set(foreign), (command, named)
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0
    assert [managed.queue_count(q) for q in foreign] == [0, 0]
    assert [managed.queue_count(q) for q in queues_of(prefix)] == [None, None, None]
    managed.delete_queues(*foreign)


@pytest.mark.timeout(DEADLINE)
def test_queues_created_on_first_use_belong_to_the_task(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    # The counter writes three tables; the output is given none of them.
    ws.config(
        f"""
        state {{ path = "state" }}
        task "cdc" {{
          input {{
            provider_path = "dstream-counter"
            config {{
              interval = 0
              max_count = 30
              tables = {orjson.dumps(TABLES).decode()}
            }}
          }}
          output {{
            provider_path = "dstream-rabbitmq"
            config {{
              url = "{managed.url}"
              queue_pattern = "{prefix}{{TableName}}_cdc_events"
              management_url = "http://127.0.0.1:{managed.management_port}"
              unknown_table = "create"
            }}
          }}
        }}
        """
    )
    code, doc, err = ws.run_json("run", "cdc")
    assert code == 0, err
    assert [managed.queue_count(q) for q in queues_of(prefix)] == [10, 10, 10]
    code, doc, err = ws.run_json("plan", "cdc")
    assert code == 0 and changes(doc) == [], (err, doc)
    code, doc, err = ws.run_json("status", "cdc")
    assert {r["name"] for r in output_of(doc)["resources"]} == set(queues_of(prefix))
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0
    assert [managed.queue_count(q) for q in queues_of(prefix)] == [None, None, None]


@pytest.mark.timeout(DEADLINE)
def test_without_the_management_api_the_lifecycle_still_works_and_says_so(
    ws: Workspace, broker: RabbitServer, prefix: str
) -> None:
    closed = free_port()
    extra = f'management_url = "http://127.0.0.1:{closed}"'
    configure(ws, broker.url, pattern=prefix + "{TableName}_cdc_events", extra=extra)
    assert ws.run("init", "cdc").returncode == 0
    code, doc, err = ws.run_json("status", "cdc")
    assert code == 0, err
    message = output_of(doc)["message"]
    assert "not looked for" in message and f"127.0.0.1:{closed}" in message, message
    code, doc, err = ws.run_json("destroy", "cdc", "--auto-approve")
    assert code == 0, err
    assert [broker.queue_count(q) for q in queues_of(prefix)] == [None, None, None]


@pytest.mark.timeout(DEADLINE)
def test_destroy_keeps_a_configured_queue_it_did_not_create_while_it_holds_messages(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    """A queue of a configured name made by hand (or by the original DStream: no mark)
    counts as created, but destroy deleted it with its messages. It is removed only
    while empty and unused, as a leftover is, and kept with a note otherwise."""
    setup(ws, managed, prefix)
    queues = queues_of(prefix)
    with contextlib.closing(managed.connection()) as conn:
        conn.channel().queue_declare(queues[0], durable=True)  # no mark: someone's own
    publish(managed, queues[0])
    with contextlib.closing(managed.connection()) as conn:
        conn.channel().queue_declare(queues[1], durable=True)  # no mark, empty
    assert ws.run("init", "cdc").returncode == 0  # creates the third, with the mark
    publish(managed, queues[2])

    code, doc, err = ws.run_json("plan", "--destroy", "cdc")
    assert code == 0, err
    assert changes(doc) == sorted([("delete", queues[1]), ("delete", queues[2])])
    assert "not created by dstream" in output_of(doc)["message"], output_of(doc)["message"]
    code, doc, err = ws.run_json("destroy", "cdc", "--auto-approve")
    assert code == 0, err
    message = output_of(doc)["message"]
    assert queues[0] in message and "holds 1 message(s)" in message, message
    assert [managed.queue_count(q) for q in queues] == [1, None, None]
    done = ws.run("destroy", "cdc", "--auto-approve")
    assert "not created by dstream" in done.stdout + done.stderr, done.stdout + done.stderr
    managed.delete_queues(queues[0])


@pytest.mark.timeout(DEADLINE)
def test_a_plan_that_keeps_a_leftover_does_not_say_all_matches(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    """No change to make, but a queue no longer in the configuration still holds
    messages and is kept: "The infrastructure matches the configuration" would be false."""
    setup(ws, managed, prefix)
    queues = queues_of(prefix)
    assert ws.run("init", "cdc").returncode == 0
    publish(managed, queues[2])
    setup(ws, managed, prefix, tables=TABLES[:2])
    done = ws.run("plan", "cdc")
    assert done.returncode == 0, done.stderr
    assert f"queue {queues[2]} is no longer in the configuration" in done.stdout, done.stdout
    assert "matches the configuration" not in done.stdout, done.stdout
    kept = (
        f"No changes. 1 resource(s) kept: queue {queues[2]} is no longer in the "
        "configuration but holds 1 message(s), so dstream keeps it: once it is drained and "
        "unused `dstream init` removes it, or delete it on the broker."
    )
    assert kept in done.stdout, done.stdout
    managed.delete_queues(*queues)


@pytest.mark.timeout(DEADLINE)
def test_a_destroy_plan_that_keeps_a_queue_says_so_in_its_closing_line(
    ws: Workspace, managed: RabbitServer, prefix: str
) -> None:
    """`plan --destroy` where destroy would keep a configured queue holding messages (not
    made by dstream): its closing line said "No changes. The infrastructure matches the
    configuration.", as if destroy would leave nothing behind."""
    queues = queues_of(prefix)
    with contextlib.closing(managed.connection()) as conn:
        conn.channel().queue_declare(queues[0], durable=True)  # no mark: someone's own
    publish(managed, queues[0])
    setup(ws, managed, prefix, tables=TABLES[:1])
    kept = (
        f"1 resource(s) kept: queue {queues[0]} was not created by dstream (it has no mark "
        "of this task) and holds 1 message(s), so destroy keeps it: delete it on the broker "
        "if its messages are not needed."
    )

    done = ws.run("plan", "--destroy", "-detailed-exitcode", "cdc")
    assert done.returncode == 0, done.stderr  # destroy would change nothing
    assert "matches the configuration" not in done.stdout, done.stdout
    assert "No changes" not in done.stdout, done.stdout
    assert f"Nothing to destroy: {kept}" in done.stdout, done.stdout
    code, doc, err = ws.run_json("plan", "--destroy", "cdc")
    assert code == 0, err
    assert len(output_of(doc)["metadata"]["kept"]) == 1, output_of(doc)

    # With a queue to destroy too, the count of changes does not hide the kept one.
    setup(ws, managed, prefix, tables=TABLES[:2])
    assert ws.run("init", "cdc").returncode == 0  # creates the second, with the mark
    done = ws.run("plan", "--destroy", "cdc")
    assert done.returncode == 0, done.stderr
    assert f"Plan: 0 to create, 0 to change, 1 to destroy. {kept}" in done.stdout, done.stdout
    done = ws.run("destroy", "cdc", "--auto-approve")
    assert done.returncode == 0, done.stderr
    assert [managed.queue_count(q) for q in queues[:2]] == [1, None]
    # destroy's own closing line says what it kept, as its plan did.
    assert f"Destroy complete: 1 destroyed. {kept}" in done.stdout, done.stdout
    managed.delete_queues(queues[0])
