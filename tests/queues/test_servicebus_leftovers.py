"""Leftover queues on Service Bus: its management API cannot be reached here, so the
administration client is a TEST DOUBLE (FakeAdmin, as in test_servicebus.py) that also
lists queues with their user metadata, where dstream writes its mark."""

from __future__ import annotations

import asyncio
import importlib.util
from types import SimpleNamespace
from typing import Any

import pytest

from dstream.providers.queues.servicebus import (
    ServiceBusBackend,
    ServiceBusConfig,
    ServiceBusOutput,
)
from dstream.sdk import bind_config
from tests.services import require_service


@pytest.fixture(autouse=True)
def _azure_sdk() -> None:
    if importlib.util.find_spec("azure.servicebus") is None:
        require_service("azure-servicebus is not installed (pip install '.[test]')")


class ListingAdmin:
    """TEST DOUBLE for ServiceBusAdministrationClient: queues with message counts and
    user metadata, the azure-core exceptions of the real client."""

    def __init__(self) -> None:
        self.queues: dict[str, dict[str, Any]] = {}

    def get_queue_runtime_properties(self, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        if name.lower() not in self.queues:
            raise ResourceNotFoundError(f"queue {name} not found")
        n = self.queues[name.lower()]["messages"]
        return SimpleNamespace(
            total_message_count=n, active_message_count=n, dead_letter_message_count=0
        )

    def create_queue(self, name: str, **options: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        if name.lower() in self.queues:
            raise ResourceExistsError(f"queue {name} exists")
        self.queues[name.lower()] = {"messages": 0, "meta": options.get("user_metadata")}

    def delete_queue(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        if self.queues.pop(name.lower(), None) is None:
            raise ResourceNotFoundError(f"queue {name} not found")

    def list_queues(self) -> list[Any]:
        return [SimpleNamespace(name=n, user_metadata=q["meta"]) for n, q in self.queues.items()]


def output(admin: ListingAdmin, tables: list[str], **config: Any) -> ServiceBusOutput:
    cfg = bind_config(
        ServiceBusConfig, {"connection_string": "Endpoint=sb://x/", "tables": tables, **config}
    )
    out = ServiceBusOutput(cfg, task="t")
    out._backend = ServiceBusBackend("Endpoint=sb://x/", admin=admin)
    return out


def changes(result: Any) -> list[tuple[str, str]]:
    return sorted((c["action"], c["name"]) for c in result.changes)


def test_leftovers_are_shown_removed_when_empty_and_unmarked_queues_never() -> None:
    admin = ListingAdmin()
    admin.queues["c_cdc_events"] = {"messages": 0, "meta": None}  # not dstream's
    admin.queues["d_cdc_events"] = {"messages": 0, "meta": '{"dstream-task":"other"}'}
    assert asyncio.run(output(admin, ["a", "b", "c2"]).init()).status == "Success"
    admin.queues["b_cdc_events"]["messages"] = 3

    smaller = output(admin, ["a"])
    plan = asyncio.run(smaller.plan())
    assert changes(plan) == [("delete", "c2_cdc_events")]
    assert "b_cdc_events is no longer in the configuration but holds 3" in plan.message
    status = asyncio.run(smaller.status())
    rows = {r["name"]: r["details"] for r in status.resources}
    assert set(rows) == {"a_cdc_events", "b_cdc_events", "c2_cdc_events"}
    assert rows["b_cdc_events"]["leftover"] == "no longer in the configuration"
    assert status.metadata["leftovers"] == 2

    assert changes(asyncio.run(smaller.init())) == [("delete", "c2_cdc_events")]
    assert set(admin.queues) == {"a_cdc_events", "b_cdc_events", "c_cdc_events", "d_cdc_events"}
    admin.queues["b_cdc_events"]["messages"] = 0
    assert changes(asyncio.run(smaller.plan(destroy=True))) == [
        ("delete", "a_cdc_events"),
        ("delete", "b_cdc_events"),
    ]
    assert asyncio.run(smaller.destroy()).status == "Success"
    assert set(admin.queues) == {"c_cdc_events", "d_cdc_events"}


def test_a_namespace_that_cannot_list_leaves_the_lifecycle_working() -> None:
    class NoListing(ListingAdmin):
        def list_queues(self) -> list[Any]:
            raise PermissionError("Unauthorized: Manage claim required")

    admin = NoListing()
    out = output(admin, ["a"])
    assert changes(asyncio.run(out.init())) == [("create", "a_cdc_events")]
    status = asyncio.run(out.status())
    assert "were not looked for" in status.message and "Manage claim" in status.message
    assert changes(asyncio.run(out.destroy())) == [("delete", "a_cdc_events")]
