"""The broker-independent routing core: queue names, collisions, unknown-table policies,
message ids, batching and retries."""

from __future__ import annotations

import pytest

from dstream.errors import ConfigError
from dstream.providers.queues.routing import (
    RABBITMQ_RULES,
    SERVICEBUS_RULES,
    OutgoingMessage,
    QueueNaming,
    RetryPolicy,
    Route,
    Router,
    RoutingError,
    batches,
    build_message,
)


def router(tables: list[str], pattern: str = "{TableName}_cdc_events", **kw: object) -> Router:
    naming = QueueNaming(pattern, RABBITMQ_RULES, task="orders-task", database="shop")
    return Router(naming, tables, **kw)  # type: ignore[arg-type]


def test_default_pattern_and_placeholders() -> None:
    naming = QueueNaming("{TableName}_cdc_events", RABBITMQ_RULES)
    assert naming.name_for("dbo.Orders") == "dbo.Orders_cdc_events"
    naming = QueueNaming(
        "{task}.{database}.{schema}.{table}", RABBITMQ_RULES, task="t", database="db"
    )
    assert naming.name_for("sales.Orders") == "t.db.sales.Orders"
    naming = QueueNaming("{Schema}-{Table}", RABBITMQ_RULES, schema="public")
    assert naming.name_for("Orders") == "public-Orders"


def test_unknown_placeholder_is_a_config_error_listing_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown placeholder \{tabel\}") as err:
        QueueNaming("{tabel}_q", RABBITMQ_RULES)
    assert "{TableName}" in (err.value.hint or "")


def test_sanitising_per_broker() -> None:
    assert RABBITMQ_RULES.sanitise("dbo.Order Lines#1") == "dbo.Order_Lines_1"
    assert RABBITMQ_RULES.sanitise("amq.orders") == "q_amq.orders"  # reserved prefix
    # Service Bus: must start and end with a letter or digit.
    assert SERVICEBUS_RULES.sanitise("_orders events_") == "orders_events"
    long = "x" * 300
    a, b = SERVICEBUS_RULES.sanitise(long + "a"), SERVICEBUS_RULES.sanitise(long + "b")
    assert len(a) <= 260 and len(b) <= 260 and a != b
    with pytest.raises(ConfigError, match="empty"):
        SERVICEBUS_RULES.sanitise("__")


def test_collision_after_sanitising_is_an_error_naming_both_tables() -> None:
    with pytest.raises(ConfigError, match="'order lines' and 'order#lines' both map to queue"):
        router(["order lines", "order#lines"])


def test_service_bus_names_collide_case_insensitively() -> None:
    naming = QueueNaming("{table}", SERVICEBUS_RULES)
    with pytest.raises(ConfigError, match="both map"):
        Router(naming, ["dbo.Orders", "sales.orders"])
    naming = QueueNaming("{table}", RABBITMQ_RULES)
    assert len(Router(naming, ["dbo.Orders", "sales.orders"]).queues) == 2


def test_route_known_table() -> None:
    r = router(["a", "b"])
    assert r.route({"TableName": "b"}) == Route("b_cdc_events", "b")
    assert r.wanted() == [("a_cdc_events", "a"), ("b_cdc_events", "b")]


def test_unknown_table_policies() -> None:
    with pytest.raises(RoutingError, match="table 'c' has no queue"):
        router(["a"]).route({"TableName": "c"})
    with pytest.raises(RoutingError, match=r"no metadata\.TableName"):
        router(["a"]).route({})
    created = router(["a"], unknown_table="create")
    assert created.route({"TableName": "c"}) == Route("c_cdc_events", "c", new_queue=True)
    assert created.route({"TableName": "c"}) == Route("c_cdc_events", "c")  # only once new
    dead = router(["a"], unknown_table="dead_letter")
    assert dead.route({"TableName": "c"}) == Route("orders-task_dead_letter", "c", dead_letter=True)
    assert dead.route({}).dead_letter
    assert ("orders-task_dead_letter", None) in dead.wanted()
    with pytest.raises(ConfigError, match="not a policy"):
        router(["a"], unknown_table="drop")


def test_created_queue_may_not_collide_with_a_configured_one() -> None:
    r = router(["a b"], unknown_table="create")
    with pytest.raises(ConfigError, match="both map"):
        r.route({"TableName": "a#b"})


def test_message_body_headers_and_stable_id() -> None:
    meta = {"TableName": "dbo.Orders", "OperationType": "Update", "LSN": "0x0A", "Extra": {"k": 1}}
    route = Route("q", "dbo.Orders")
    msg = build_message(route, {"id": 7, "b": [1]}, meta)
    assert msg.body == b'{"b":[1],"id":7}'
    assert msg.headers == {
        "TableName": "dbo.Orders",
        "OperationType": "Update",
        "LSN": "0x0A",
        "Extra": '{"k":1}',
    }
    assert msg.message_id.startswith("dbo.Orders:0x0A:")
    again = build_message(route, {"b": [1], "id": 7}, dict(meta))
    assert again.message_id == msg.message_id  # a redelivered change keeps its id
    other_row = build_message(route, {"id": 8, "b": [1]}, meta)  # same transaction (LSN)
    assert other_row.message_id != msg.message_id
    long_table = "t" * 200
    assert (
        len(build_message(Route("q", long_table), {}, {"TableName": long_table}).message_id) <= 128
    )


def msg(queue: str, size: int, ident: str = "") -> OutgoingMessage:
    return OutgoingMessage(queue, b"x" * size, ident or f"{queue}-{size}", {})


def test_batches_are_per_queue_in_order_within_limits() -> None:
    messages = [msg("a", 10, "1"), msg("a", 10, "2"), msg("a", 10, "3"), msg("b", 10, "4")]
    messages.append(msg("a", 10, "5"))
    got = list(batches(messages, max_count=2, max_bytes=1000))
    assert [[m.queue for m in b] for b in got] == [["a", "a"], ["a", "a"], ["b"]]
    assert [m.message_id for b in got for m in b if m.queue == "a"] == ["1", "2", "3", "5"]
    got = list(batches([msg("a", 40)] * 5, max_count=100, max_bytes=100))
    assert [len(b) for b in got] == [2, 2, 1]
    with pytest.raises(RoutingError, match="over the 100-byte limit"):
        list(batches([msg("a", 101)], max_count=10, max_bytes=100))


def test_retry_policy_backs_off_then_gives_up() -> None:
    slept: list[float] = []
    policy = RetryPolicy(attempts=4, backoff=0.5, max_backoff=1.0, sleep=slept.append)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("lost")
        return "ok"

    assert policy.call(flaky, transient=lambda e: isinstance(e, ConnectionError)) == "ok"
    assert slept == [0.5, 1.0]

    def broken() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        policy.call(broken, transient=lambda e: True)
    assert slept == [0.5, 1.0, 0.5, 1.0, 1.0]

    def fatal() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        policy.call(fatal, transient=lambda e: isinstance(e, ConnectionError))
    assert len(slept) == 5  # not retried


def test_bare_table_name_with_schema_metadata_matches_qualified_table() -> None:
    r = router(["dbo.Orders", "Customers"])
    assert r.route({"TableName": "Orders", "Schema": "dbo"}) == Route(
        "dbo.Orders_cdc_events", "dbo.Orders"
    )
    assert r.route({"TableName": "Customers", "Schema": "dbo"}).queue == "Customers_cdc_events"
    with pytest.raises(RoutingError, match=r"'sales\.Orders' has no queue"):
        r.route({"TableName": "Orders", "Schema": "sales"})
