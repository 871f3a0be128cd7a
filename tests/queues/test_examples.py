"""The queue examples in examples/ are valid, and the RabbitMQ one runs as documented
against the real broker of the test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.queues.rabbit import RabbitServer
from tests.workspace import Workspace

EXAMPLES = Path(__file__).parents[2] / "examples"
QUEUES = ["dbo.Orders_cdc_events", "dbo.Customers_cdc_events", "dbo.OrderLines_cdc_events"]


def test_counter_rabbitmq_example_runs_as_documented(
    ws: Workspace, broker: RabbitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(EXAMPLES / "counter-rabbitmq.hcl", ws.root / "dstream.hcl")
    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    broker.delete_queues(*QUEUES)
    assert ws.run("init", "counts").returncode == 0
    assert "No changes." in ws.run("plan", "counts").stdout
    done = ws.run("run", "counts")
    assert done.returncode == 0, done.stderr
    assert [broker.queue_count(q) for q in QUEUES] == [100, 100, 100]
    assert (
        "Plan: 0 to create, 0 to change, 3 to destroy."
        in ws.run("plan", "--destroy", "counts").stdout
    )
    assert ws.run("destroy", "counts", "--auto-approve").returncode == 0
    assert [broker.queue_count(q) for q in QUEUES] == [None, None, None]


def test_mssql_servicebus_example_is_valid(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLES / "mssql-servicebus.hcl", ws.root / "dstream.hcl")
    monkeypatch.setenv("MSSQL_CONNECTION_STRING", "sqlserver://u:p@127.0.0.1:1433/shop")
    monkeypatch.setenv("SERVICEBUS_CONNECTION_STRING", "Endpoint=sb://x.servicebus.windows.net/")
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr
    # The output's own config checks accept it too (names, patterns, collisions).
    import orjson

    from dstream.providers.queues.servicebus import ServiceBusConfig, ServiceBusOutput
    from dstream.sdk import bind_config

    shown = orjson.loads(ws.run("show", "orders", "--json").stdout)
    config = dict(shown["output"]["config"], connection_string="Endpoint=sb://x/")
    output = ServiceBusOutput(bind_config(ServiceBusConfig, config), task="orders")
    assert [q for q, _ in output.router.wanted()] == [
        "dbo.Orders_cdc_events",
        "dbo.Customers_cdc_events",
        "dbo.OrderLines_cdc_events",
        "orders_unrouted",
    ]
