"""dstream-mssql-cdc's cursor, batching, typing and polling logic against recorded rows
(see mssql_recorded.py: no SQL Server runs on these machines)."""

from __future__ import annotations

import datetime
import decimal
import random
import uuid
from typing import Any

import pytest

from dstream.errors import DstreamError
from dstream.providers.mssql_cdc import resolve_tables
from dstream.providers.mssql_cdc.config import parse_duration
from dstream.providers.mssql_cdc.names import parse_connection_string, parse_table_name
from dstream.providers.mssql_cdc.reader import Backoff, CdcReader, PollResult
from dstream.providers.mssql_cdc.sql import changed_tables_sql, changes_sql
from tests.cdc.mssql_recorded import RecordedSource, lsn


def _drain(reader: CdcReader) -> tuple[list[list[dict[str, Any]]], PollResult]:
    result = PollResult()
    return list(reader.poll(result)), result


def _frames(pages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [f for page in pages for f in page]


def test_one_poll_merges_tables_in_commit_order_then_checkpoints() -> None:
    src = RecordedSource()
    a, b = src.add_table("dbo", "orders"), src.add_table("sales", "customers")
    src.commit(10, [(a, 2, {"id": 1}), (b, 2, {"id": 100})])
    src.commit(11, [(b, 4, {"id": 100}), (a, 1, {"id": 1})])
    reader = CdcReader(src, [a, b], batch_size=100)
    frames = _frames(_drain(reader)[0])
    ops = [(f["metadata"]["TableName"], f["metadata"]["OperationType"]) for f in frames[:-1]]
    assert ops == [
        ("orders", "Insert"),
        ("customers", "Insert"),
        ("customers", "Update"),
        ("orders", "Delete"),
    ]
    assert frames[0]["metadata"]["Schema"] == "dbo" and frames[1]["metadata"]["Schema"] == "sales"
    assert (
        frames[0]["metadata"]["LSN"] == lsn(10).hex() and frames[0]["metadata"]["OperationID"] == 2
    )
    assert "__$seqval" not in frames[0]["data"] and frames[0]["data"] == {"id": 1}
    checkpoint = frames[-1]["checkpoint"]["tables"]
    assert checkpoint["dbo.orders"]["lsn"] == lsn(11).hex()
    # Nothing new: the next poll emits nothing, asks one query, reads no table.
    src.changes_calls.clear()
    pages, result = _drain(reader)
    assert _frames(pages) == [{"checkpoint": reader.checkpoint()}] and result.emitted == 0
    assert src.changes_calls == []


def test_idle_tables_cost_no_query_of_their_own() -> None:
    src = RecordedSource()
    tables = [src.add_table("dbo", f"t{i}") for i in range(20)]
    reader = CdcReader(src, tables, batch_size=50)
    src.commit(5, [(tables[3], 2, {"id": 1})])
    _drain(reader)
    assert src.changed_calls == 1 and src.changes_calls == ["dbo.t3"]


def test_a_full_batch_is_cut_at_a_transaction_boundary() -> None:
    src = RecordedSource()
    a, b = src.add_table("dbo", "a"), src.add_table("dbo", "b")
    src.commit(10, [(a, 2, {"id": 1}), (a, 2, {"id": 2})])
    src.commit(11, [(a, 2, {"id": 3}), (b, 2, {"id": 4}), (a, 2, {"id": 5})])
    reader = CdcReader(src, [a, b], batch_size=3)
    pages, result = _drain(reader)
    first = _frames(pages)
    assert result.full  # so the provider polls again at once
    assert [f["data"]["id"] for f in first[:-1]] == [1, 2]  # txn 11 waits whole
    pages, _ = _drain(reader)
    assert [f["data"]["id"] for f in _frames(pages)[:-1]] == [3, 4, 5]


def test_a_transaction_bigger_than_a_batch_is_paged_and_checkpointed_once() -> None:
    src = RecordedSource()
    a, b = src.add_table("dbo", "a"), src.add_table("dbo", "b")
    src.commit(10, [(a if i % 3 else b, 2, {"id": i}) for i in range(7)])
    reader = CdcReader(src, [a, b], batch_size=2)
    frames = _frames(_drain(reader)[0])
    assert [f["data"]["id"] for f in frames[:-1]] == list(range(7))  # commit order
    assert [i for i, f in enumerate(frames) if "checkpoint" in f] == [7]
    assert _frames(_drain(reader)[0]) == [{"checkpoint": reader.checkpoint()}]


@pytest.mark.parametrize("seed", range(12))
def test_random_workloads_deliver_everything_once_and_never_split(seed: int) -> None:
    rng = random.Random(seed)
    src = RecordedSource()
    tables = [src.add_table("dbo", n) for n in ("a", "b", "c")]
    batch = rng.randint(1, 6)
    reader = CdcReader(src, tables, batch_size=batch)
    delivered: list[dict[str, Any]] = []
    open_txn_lsn = None
    next_lsn, next_id = 1, 0
    for _ in range(40):
        for _ in range(rng.randint(0, 3)):
            changes = []
            for _ in range(rng.randint(1, 5)):
                changes.append((rng.choice(tables), rng.choice((1, 2, 4)), {"id": next_id}))
                next_id += 1
            next_lsn += rng.randint(1, 3)
            src.commit(next_lsn, changes)
        # Sometimes restart from the last checkpoint, as after a crash.
        if rng.random() < 0.2:
            reader = CdcReader(src, tables, batch_size=batch, state=reader.checkpoint())
        for frame in _frames(_drain(reader)[0]):
            if "checkpoint" in frame:
                open_txn_lsn = None
            else:
                delivered.append(frame)
                open_txn_lsn = frame["metadata"]["LSN"]
        assert open_txn_lsn is None, "a checkpoint must close every poll"
    while True:
        pages, result = _drain(reader)
        more = [f for f in _frames(pages) if "data" in f]
        delivered += more
        if not more and not result.full:
            break
    expected = sorted(
        (r for rows in src.rows.values() for r in rows),
        key=lambda r: (r["__$start_lsn"], r["__$seqval"]),
    )
    assert [f["data"]["id"] for f in delivered] == [r["id"] for r in expected]


def test_checkpoint_resumes_exactly_and_legacy_offsets_are_read() -> None:
    src = RecordedSource()
    a = src.add_table("dbo", "orders")
    src.commit(10, [(a, 2, {"id": 1})])
    src.commit(12, [(a, 2, {"id": 2})])
    reader = CdcReader(src, [a], batch_size=10)
    _drain(reader)
    src.commit(14, [(a, 2, {"id": 3})])
    resumed = CdcReader(src, [a], batch_size=10, state=reader.checkpoint())
    assert [f["data"]["id"] for f in _frames(_drain(resumed)[0])[:-1]] == [3]
    # The original stored (last_lsn, last_seq) per bare table name in cdc_offsets.
    row = src.rows["dbo.orders"][0]
    legacy = {"orders": (row["__$start_lsn"], row["__$seqval"])}
    migrated = CdcReader(src, [a], batch_size=10, legacy_offsets=legacy)
    assert [f["data"]["id"] for f in _frames(_drain(migrated)[0])[:-1]] == [2, 3]
    with pytest.raises(DstreamError, match="not a dstream-mssql-cdc checkpoint"):
        CdcReader(src, [a], batch_size=10, state={"lsn": "0/1"})


@pytest.mark.parametrize(
    "saved",
    [
        {"lsn": "zz", "seq": "00"},  # was ValueError with a traceback
        "0004",  # was TypeError
        {"lsn": "04"},  # was KeyError
        {"lsn": "05", "seq": "00"},  # one byte: above every LSN, so every change skipped
        {"lsn": "0" * 20, "seq": 5},
    ],
)
def test_a_checkpoint_position_that_is_not_an_lsn_is_refused_naming_it(saved: Any) -> None:
    """A hand-set or damaged checkpoint: each position is two binary(10) values, 20 hex
    digits. A 1-byte LSN compared above every real one, and the run skipped every change
    without a word."""
    src = RecordedSource()
    a = src.add_table("dbo", "orders")
    with pytest.raises(DstreamError) as caught:
        CdcReader(src, [a], batch_size=10, state={"tables": {"dbo.orders": saved}})
    assert "dbo.orders" in caught.value.reason and "20 hex digits" in caught.value.reason
    assert "dstream state" in (caught.value.hint or "")


def test_a_failing_table_is_isolated_and_keeps_its_position() -> None:
    src = RecordedSource()
    a, b = src.add_table("dbo", "a"), src.add_table("dbo", "b")
    src.commit(10, [(a, 2, {"id": 1}), (b, 2, {"id": 2})])
    src.failing.add("dbo.b")
    reader = CdcReader(src, [a, b], batch_size=10)
    frames = _frames(_drain(reader)[0])
    assert [f["data"]["id"] for f in frames[:-1]] == [1]
    assert frames[-1]["checkpoint"]["tables"]["dbo.b"]["lsn"] == bytes(10).hex()
    src.failing.clear()
    retry = CdcReader(src, [a, b], batch_size=10, state=reader.checkpoint())
    assert [f["data"]["id"] for f in _frames(_drain(retry)[0])[:-1]] == [2]
    src.failing.add("dbo.a")
    strict = CdcReader(src, [a, b], batch_size=10, on_table_error="fail")
    with pytest.raises(DstreamError, match=r"reading changes of dbo\.a failed"):
        _drain(strict)


def test_values_are_typed() -> None:
    src = RecordedSource()
    a = src.add_table("dbo", "t")
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 123000)
    src.commit(
        3,
        [
            (
                a,
                2,
                {
                    "amount": decimal.Decimal("12345678901234567.000001"),
                    # pymssql's decimal(18,8) zero and 0.0000001: str() writes exponents
                    "zero": decimal.Decimal("0E-8"),
                    "tiny": decimal.Decimal("1.0E-7"),
                    "paid": True,
                    "n": 5,
                    "at": when,
                    "at_tz": when.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
                    "day": datetime.date(2024, 2, 29),
                    "blob": b"\x00\xff",
                    "guid": uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
                    "note": None,
                    "__dstream_commit_time": when,
                },
            )
        ],
    )
    frame = _frames(_drain(CdcReader(src, [a], batch_size=5))[0])[0]
    assert frame["data"] == {
        "amount": "12345678901234567.000001",
        "zero": "0.00000000",
        "tiny": "0.00000010",
        "paid": True,
        "n": 5,
        "at": "2024-01-02T03:04:05.123000",
        "at_tz": "2024-01-02T03:04:05.123000+02:00",
        "day": "2024-02-29",
        "blob": "AP8=",
        "guid": "6F9619FF-8B86-D011-B42D-00C04FC964FF",
        "note": None,
    }
    assert frame["metadata"]["CommitTime"] == "2024-01-02T03:04:05.123000"


def test_backoff_follows_the_original() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.after_poll(0, False) for _ in range(4)] == [2.0, 4.0, 5.0, 5.0]
    assert backoff.after_poll(3, False) == 1.0
    assert backoff.after_poll(10, True) == 0.0
    assert backoff.after_poll(0, False) == 2.0


def test_tables_are_checked_one_error_naming_each() -> None:
    existing = {("dbo", "Orders"), ("sales", "items"), ("dbo", "plain")}
    captured = {("dbo", "Orders"): "dbo_Orders", ("sales", "items"): "sales_items"}
    tables = resolve_tables(["orders", "[sales].[items]"], "dbo", existing, captured)
    assert [t.capture_instance for t in tables] == ["dbo_Orders", "sales_items"]
    with pytest.raises(DstreamError) as err:
        resolve_tables(["dbo.gone", "plain"], "dbo", existing, captured)
    assert "'dbo.gone' does not exist" in err.value.reason
    assert "'plain' is not captured: EXEC sys.sp_cdc_enable_table" in err.value.reason


def test_names_durations_and_connection_strings() -> None:
    assert parse_table_name("[My Schema].[a]]b]") == ("My Schema", "a]b")
    assert parse_table_name("orders") == ("dbo", "orders")
    assert parse_duration("5m", "x") == 300 and parse_duration("500ms", "x") == 0.5
    with pytest.raises(ValueError):
        parse_duration("soon", "x")
    assert parse_connection_string(
        "Server=tcp:db.example,1433;Database=shop;User Id=app;Password=p;Encrypt=true"
    ) == {"server": "db.example", "port": 1433, "database": "shop", "user": "app", "password": "p"}
    assert parse_connection_string("sqlserver://app:p%40ss@h:1444/shop") == {
        "server": "h",
        "port": 1444,
        "user": "app",
        "password": "p@ss",
        "database": "shop",
    }


def test_sql_text_is_what_the_docs_describe() -> None:
    src = RecordedSource()
    a, b = src.add_table("dbo", "orders"), src.add_table("sales", "it]ems")
    positions = {a.key: (lsn(1), lsn(2)), b.key: (bytes(10), bytes(10))}
    text = changed_tables_sql([a, b], positions, lsn(9))
    assert text.count("UNION ALL") == 1
    assert "FROM cdc.[dbo_orders_CT]" in text and "cdc.[sales_it]]ems_CT]" in text
    assert "sys.fn_cdc_get_min_lsn(N'dbo_orders')" in text
    assert "__$start_lsn <= 0x00000000000000000009" in text
    sql = changes_sql(a, (lsn(1), lsn(2)), lsn(1), lsn(9), 500)
    assert sql.startswith("SELECT TOP (500) *")
    function = "cdc.[fn_cdc_get_all_changes_dbo_orders]"
    assert f"{function}(0x00000000000000000001, 0x00000000000000000009, N'all')" in sql
    assert sql.endswith("ORDER BY __$start_lsn, __$seqval")
