"""The dstream-mssql-cdc provider class over the recorded source (see mssql_recorded.py:
no SQL Server runs on these machines): start checks, the poll loop, and a stop that
does not wait for the back-off sleep."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from dstream.errors import DstreamError
from dstream.providers.mssql_cdc import MssqlCdc
from dstream.providers.mssql_cdc.config import MssqlCdcConfig
from dstream.sdk.config import bind_config
from tests.cdc.mssql_recorded import RecordedSource


def _provider(source: RecordedSource, **config: Any) -> MssqlCdc:
    cfg = bind_config(
        MssqlCdcConfig,
        {
            "db_connection_string": "server=x;database=y",
            "poll_interval": "1h",
            "max_poll_interval": "2h",
            **config,
        },
    )

    class Recorded(MssqlCdc):
        def make_source(self) -> Any:
            return source

    return Recorded(cfg, task="t", state=None, command="run")


def test_original_config_keys_bind() -> None:
    cfg = bind_config(
        MssqlCdcConfig,
        {
            "db_connection_string": "server=localhost;database=testdb;trusted_connection=true",
            "poll_interval": "5s",
            "max_poll_interval": "5m",
            "lock_config": {"type": "azure_blob", "container_name": "locks"},
            "tables": ["dbo.customers", "dbo.orders"],
        },
    )
    assert (cfg.poll_seconds, cfg.max_poll_seconds) == (5.0, 300.0)


def test_run_emits_then_stops_promptly_while_backing_off() -> None:
    src = RecordedSource()
    a = src.add_table("dbo", "orders")
    src.commit(4, [(a, 2, {"id": 1}), (a, 2, {"id": 2})])
    provider = _provider(src, tables=["orders"])

    async def scenario() -> list[Any]:
        await provider.open()
        pages: list[Any] = []

        async def consume() -> None:
            async for page in provider.read():
                pages.append(page)

        task = asyncio.ensure_future(consume())
        while not pages:
            await asyncio.sleep(0.01)
        # The provider now sleeps for poll_interval (1 h): cancelling (what the SDK host
        # does on SIGTERM) must end it at once.
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pages

    pages = asyncio.run(asyncio.wait_for(scenario(), 30))
    frames = [f for page in pages for f in page]
    assert [f["data"]["id"] for f in frames if "data" in f] == [1, 2]
    assert "checkpoint" in frames[-1]


def test_open_names_every_table_problem() -> None:
    src = RecordedSource()
    src.add_table("dbo", "orders")
    src.existing.add(("dbo", "plain"))
    provider = _provider(src, tables=["orders", "plain", "sales.gone"])
    with pytest.raises(DstreamError) as err:
        asyncio.run(provider.open())
    assert "'plain' is not captured" in err.value.reason
    assert "'sales.gone' does not exist" in err.value.reason


def test_a_stop_does_not_wait_for_a_query_under_way() -> None:
    """A query running when the stop comes (a large fn_cdc_get_all_changes) kept the
    process from exiting until it returned: the event loop's executor threads are joined
    at its end, and dstream killed the input after half of stop_grace. The docs promise
    queries never hold up a stop."""
    src = RecordedSource()
    a = src.add_table("dbo", "orders")
    src.commit(4, [(a, 2, {"id": 1})])
    provider = _provider(src, tables=["orders"])
    started = threading.Event()
    slow = src.changes

    def stuck(*args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(30)  # a query that outlives the stop
        return slow(*args, **kwargs)

    src.changes = stuck  # type: ignore[method-assign]

    async def scenario() -> None:
        await provider.open()

        async def consume() -> None:
            async for _ in provider.read():
                pass

        task = asyncio.ensure_future(consume())
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # what the SDK host does on SIGTERM
        with pytest.raises(asyncio.CancelledError):
            await task

    runner = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    runner.start()
    runner.join(10)  # a hang bound, not a speed target: the query sleeps 30 s
    assert not runner.is_alive(), "the run waited for the query under way"
