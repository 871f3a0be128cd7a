"""dstream-servicebus. Azure Service Bus cannot run here (no emulator, no network), so:

- data: the real azure-servicebus SDK sends to `amqp_test_broker`, a small AMQP 1.0 TEST
  BROKER on python-qpid-proton, NOT Azure. It shows the SDK's real traffic (CBS token,
  a link per queue, batch messages, ids, properties, settlement) but not Azure's own
  behaviour (quotas, duplicate detection, throttling).
- lifecycle: the administration client speaks HTTPS to Azure's management API, which
  nothing here serves; `FakeAdmin` below stands in for it (a test double).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from dstream.errors import ConfigError
from dstream.providers.queues.routing import OutgoingMessage, batches
from dstream.providers.queues.servicebus import (
    ServiceBusBackend,
    ServiceBusConfig,
    ServiceBusOutput,
)
from dstream.sdk import bind_config
from tests.services import free_port, require_service, stop_pid
from tests.workspace import Workspace


@pytest.fixture(autouse=True)
def _azure_sdk() -> None:
    """The SDK is a test extra: missing, these tests skip, or fail under
    DSTREAM_REQUIRE_SERVICES=1 (importorskip would skip even there)."""
    if importlib.util.find_spec("azure.servicebus") is None:
        require_service("azure-servicebus is not installed (pip install '.[test]')")


class AmqpTestBroker:
    def __init__(self, tmp: Path, die_after: int = 0) -> None:
        if importlib.util.find_spec("proton") is None:
            require_service("the AMQP 1.0 test broker needs python-qpid-proton")
        self.out = tmp / "received.jsonl"
        self.port = free_port()
        args = [
            sys.executable,
            "-m",
            "tests.queues.amqp_test_broker",
            str(self.port),
            str(self.out),
        ]
        if die_after:
            args += ["--die-after", str(die_after)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            self.stop()
            require_service("the AMQP 1.0 test broker (python-qpid-proton) did not start")

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=test;"
            "SharedAccessKey=dGVzdA==;UseDevelopmentEmulator=true"
        )

    def received(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [orjson.loads(line) for line in self.out.read_bytes().splitlines()]

    def stop(self) -> None:
        stop_pid(self.proc.pid)


@pytest.fixture
def amqp_broker(tmp_path: Path) -> Iterator[AmqpTestBroker]:
    broker = AmqpTestBroker(tmp_path)
    yield broker
    broker.stop()


def configure(ws: Workspace, connection_string: str, count: int, extra: str = "") -> None:
    ws.counter_task(
        "sb",
        "dstream-servicebus",
        f'connection_string = "{connection_string}"\n{extra}',
        count=count,
        tables=["dbo.Orders", "dbo.Customers"],
        checkpoint_every=50,
    )


def test_run_sends_each_change_to_its_tables_queue_in_batches(
    ws: Workspace, amqp_broker: AmqpTestBroker
) -> None:
    count = 200
    configure(ws, amqp_broker.connection_string, count)
    code, doc, err = ws.run_json("run", "sb")
    assert code == 0, err
    assert doc["tasks"][0]["last_checkpoint"] == {"seq": count}
    got = amqp_broker.received()
    assert len(got) == count
    by_queue = collections.defaultdict(list)
    for record in got:
        by_queue[record["queue"]].append(record)
    assert set(by_queue) == {"dbo.Orders_cdc_events", "dbo.Customers_cdc_events"}
    for queue, table, first in (
        ("dbo.Orders_cdc_events", "dbo.Orders", 1),
        ("dbo.Customers_cdc_events", "dbo.Customers", 2),
    ):
        values = [orjson.loads(base64.b64decode(r["body"]))["value"] for r in by_queue[queue]]
        assert values == list(range(first, count + 1, 2))
        for record in by_queue[queue]:
            assert record["batch"] is True  # sent as Service Bus batch messages
            assert record["subject"] == table
            assert record["content_type"] == "application/json"
            assert record["properties"]["TableName"] == table
            assert record["message_id"].startswith(table + ":")
    assert max(r["in_delivery"] for r in got) > 1  # many messages per batch


def test_batches_stay_within_the_byte_limit(amqp_broker: AmqpTestBroker) -> None:
    limit = 16 * 1024
    backend = ServiceBusBackend(amqp_broker.connection_string, batch_bytes=limit)
    messages = [
        OutgoingMessage("q", orjson.dumps({"n": n, "pad": "x" * 900}), f"q:{n}", {"n": n}, "q")
        for n in range(60)
    ]
    try:
        for batch in batches(
            messages, max_count=backend.max_batch_messages, max_bytes=backend.max_batch_bytes
        ):
            backend.send(batch)
    finally:
        backend.close()
    got = amqp_broker.received()
    assert [r["message_id"] for r in got] == [f"q:{n}" for n in range(60)]
    sizes = [r["in_delivery"] for r in got]
    assert max(sizes) < 60  # split into several batches...
    assert max(sizes) * 1000 <= limit  # ...each within the limit


def test_connection_lost_mid_send_fails_the_run_and_acks_only_sent(
    ws: Workspace, tmp_path: Path
) -> None:
    broker = AmqpTestBroker(tmp_path, die_after=2)
    try:
        configure(ws, broker.connection_string, 300, extra="retry_attempts = 1")
        code, doc, _ = ws.run_json("run", "sb")
    finally:
        broker.stop()
    assert code != 0
    acked = (doc["tasks"][0]["last_checkpoint"] or {"seq": 0})["seq"]
    delivered = {orjson.loads(base64.b64decode(r["body"]))["value"] for r in broker.received()}
    assert acked < 300
    assert set(range(1, acked + 1)) <= delivered


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="connection_string is required"):
        bind_config(ServiceBusConfig, {"tables": ["a"]})
    with pytest.raises(ConfigError, match="not a Service Bus tier"):
        bind_config(ServiceBusConfig, {"connectionString": "Endpoint=sb://x/", "tier": "gold"})
    premium = bind_config(ServiceBusConfig, {"connection_string": "x", "tier": "premium"})
    assert premium.batch_bytes == 1024 * 1024
    assert bind_config(ServiceBusConfig, {"connection_string": "x"}).batch_bytes == 256 * 1024


class FakeAdmin:
    """TEST DOUBLE for azure.servicebus.management.ServiceBusAdministrationClient (Azure's
    HTTPS management API cannot be reached here). It raises the same azure-core
    exceptions for missing and existing queues."""

    def __init__(self, queues: dict[str, int]) -> None:
        self.queues = dict(queues)
        self.created: list[tuple[str, dict[str, Any]]] = []

    def get_queue_runtime_properties(self, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        if name.lower() not in self.queues:
            raise ResourceNotFoundError(f"queue {name} not found")
        n = self.queues[name.lower()]
        return SimpleNamespace(
            total_message_count=n, active_message_count=n, dead_letter_message_count=0
        )

    def create_queue(self, name: str, **options: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        if name.lower() in self.queues:
            raise ResourceExistsError(f"queue {name} exists")
        self.queues[name.lower()] = 0
        self.created.append((name, options))

    def delete_queue(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        if self.queues.pop(name.lower(), None) is None:
            raise ResourceNotFoundError(f"queue {name} not found")


def output_with(admin: FakeAdmin, **config: Any) -> ServiceBusOutput:
    cfg = bind_config(ServiceBusConfig, {"connection_string": "Endpoint=sb://x/", **config})
    out = ServiceBusOutput(cfg, task="t")
    out._backend = ServiceBusBackend(
        "Endpoint=sb://x/", admin=admin, queue_options={"default_message_time_to_live": "P1D"}
    )
    return out


def test_lifecycle_logic_with_admin_double() -> None:
    admin = FakeAdmin({"a_cdc_events": 7})
    out = output_with(admin, tables=["a", "b"])
    plan = asyncio.run(out.plan())
    assert [(c["action"], c["name"]) for c in plan.changes] == [("create", "b_cdc_events")]
    init = asyncio.run(out.init())
    assert init.status == "Success"
    assert [c["name"] for c in init.changes] == ["b_cdc_events"]
    mark = '{"dstream-task":"t","dstream-table":"b"}'  # test_servicebus_leftovers.py
    assert admin.created == [
        ("b_cdc_events", {"default_message_time_to_live": "P1D", "user_metadata": mark})
    ]
    assert asyncio.run(out.init()).changes == []  # idempotent
    status = asyncio.run(out.status())
    assert {r["name"]: r["details"]["messages"] for r in status.resources} == {
        "a_cdc_events": 7,
        "b_cdc_events": 0,
    }
    gone = asyncio.run(out.plan(destroy=True))
    assert {(c["action"], c["reason"]) for c in gone.changes} == {
        ("delete", "holds 7 message(s)"),
        ("delete", "empty"),
    }
    assert len(asyncio.run(out.destroy()).changes) == 2
    assert admin.queues == {}
    assert asyncio.run(out.destroy()).status == "Success"  # already gone


def test_lifecycle_failure_is_reported_not_raised() -> None:
    class Broken(FakeAdmin):
        def create_queue(self, name: str, **options: Any) -> None:
            raise PermissionError("Unauthorized: Manage claim required")

    out = output_with(Broken({}), tables=["a"], retry_attempts=1)
    result = asyncio.run(out.init())
    assert result.status == "Failed"
    assert "Manage claim required" in (result.error or "")


def test_a_failure_names_the_namespace_and_never_its_key() -> None:
    """Service Bus cannot run here: the backend's words are checked on an exception
    such as the client raises, quoting the connection string."""
    secret = "c2VjcmV0LWtleQ=="
    conn = f"Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey={secret}"
    backend = ServiceBusBackend(conn, admin=FakeAdmin({}))
    error = backend.failure(ValueError(f"could not authorize with {conn}"))
    assert error.reason.startswith("Service Bus namespace shop.servicebus.windows.net: ValueError")
    assert secret not in error.reason and secret not in (error.hint or "")
    assert "shared access key" in (error.hint or "")
