"""dstream-postgres-cdc as a real process against a real PostgreSQL (wal_level=logical)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dstream.providers.postgres_cdc.pgoutput import parse_lsn, record_end
from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import Provider, in_one_transaction, lifecycle

SCHEMA = [
    "CREATE SCHEMA sales",
    """CREATE TABLE sales.orders (
        id int PRIMARY KEY, amount numeric(20,6), paid boolean, placed timestamptz,
        tags text[], doc jsonb, blob bytea, ratio float8, big bigint, day date, note text)""",
    "CREATE TABLE public.customers (id int PRIMARY KEY, name text)",
]


def _config(dsn: str, **extra: Any) -> dict[str, Any]:
    return {"dsn": dsn, "tables": ["sales.orders", "customers"], **extra}


@pytest.fixture
def db(pg_server: PgServer, request: pytest.FixtureRequest) -> str:
    dsn = pg_server.new_database("t_" + request.node.name[:40].lower())
    import psycopg2

    c = psycopg2.connect(dsn)
    c.autocommit = True
    with c.cursor() as cur:
        for statement in SCHEMA:
            cur.execute(statement)
    c.close()
    return dsn


def _slot(dsn: str, slot: str) -> list[tuple[Any, ...]]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        )
        rows = cur.fetchall()
    conn.close()
    return rows


def _read_until(p: Provider, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Data envelopes and the frames in order, until `count` envelopes arrived and a
    checkpoint followed the last of them."""
    frames: list[dict[str, Any]] = []
    data = 0
    while True:
        frame = p.line()
        assert frame is not None, p.stderr()
        frames.append(frame)
        if "data" in frame:
            data += 1
        elif "checkpoint" in frame and data >= count:
            return [f for f in frames if "data" in f], frames


def test_lifecycle_plan_init_status_destroy(db: str) -> None:
    cfg = _config(db)
    plan = lifecycle("plan", cfg, task="life")
    assert {(c["action"], c["type"]) for c in plan["changes"]} == {
        ("create", "publication"),
        ("create", "replication_slot"),
    }
    init = lifecycle("init", cfg, task="life")
    assert init["status"] == "Success" and init["exit_code"] == 0, init
    assert len(init["changes"]) == 2
    status = lifecycle("status", cfg, task="life")
    resources = {r["type"]: r for r in status["resources"]}
    assert resources["publication"]["exists"]
    assert resources["publication"]["details"]["tables"] == ["public.customers", "sales.orders"]
    slot = resources["replication_slot"]
    assert slot["name"] == "dstream_life" and slot["exists"]
    assert slot["details"]["retained_wal_bytes"] >= 0
    again = lifecycle("init", cfg, task="life")
    assert again["changes"] == [] and again["message"] == "up to date"
    planned = lifecycle("plan", cfg, task="life", destroy=True)
    assert {c["action"] for c in planned["changes"]} == {"delete"}
    destroyed = lifecycle("destroy", cfg, task="life")
    assert destroyed["status"] == "Success" and len(destroyed["changes"]) == 2
    assert _slot(db, "dstream_life") == []
    status = lifecycle("status", cfg, task="life")
    assert not any(r["exists"] for r in status["resources"])


def test_missing_tables_are_named_each(db: str) -> None:
    cfg = {"dsn": db, "tables": ["sales.orders", "sales.nope", "Custmers"]}
    init = lifecycle("init", cfg, task="missing")
    assert init["status"] == "Failed" and init["exit_code"] != 0
    assert "'sales.nope'" in init["message"] and "'Custmers'" in init["message"]
    assert "did you mean public.customers" in init["message"]
    assert _slot(db, "dstream_missing") == []


def test_run_refuses_before_init(db: str) -> None:
    p = Provider("run", _config(db), task="noinit")
    first = p.line()
    assert first is not None and first["status"] == "error"
    assert "publication dstream_noinit does not exist" in first["message"]
    assert "dstream init" in first["message"]
    assert p.proc.wait(30) != 0


def test_a_status_interval_below_a_second_is_refused_as_config(db: str) -> None:
    """psycopg2 refuses it when replication starts, which was reported as a lost
    connection blaming the network."""
    p = Provider("run", {**_config(db), "status_interval": 0.5}, task="tooshort")
    first = p.line()
    assert first is not None and first["status"] == "error", first
    assert "'status_interval' must be at least 1" in first["message"], first
    assert "lost the connection" not in first["message"]
    assert p.proc.wait(30) != 0


def test_stream_types_metadata_checkpoints_and_slot_release(db: str) -> None:
    cfg = _config(db)
    assert lifecycle("init", cfg, task="flow")["status"] == "Success"
    start_flush = _slot(db, "dstream_flow")[0][0]
    p = Provider("run", cfg, task="flow")
    ready = p.line()
    assert ready is not None and ready["status"] == "ready"
    assert "commit-notices" in ready["features"] and "checkpoints" in ready["features"]

    in_one_transaction(
        db,
        "INSERT INTO sales.orders VALUES (1, 12345678901234.000001, true, "
        "'2024-01-02 03:04:05.5+02', ARRAY['a','b c'], '{\"k\": [1, null]}', "
        "'\\x00ff', 0.25, 9007199254740993, '2024-02-29', NULL)",
        "INSERT INTO customers VALUES (7, 'Ann')",
    )
    in_one_transaction(db, "UPDATE sales.orders SET id = 2, paid = false WHERE id = 1")
    in_one_transaction(db, "DELETE FROM customers WHERE id = 7")
    in_one_transaction(
        db, "ALTER TABLE customers ADD COLUMN tier int", "INSERT INTO customers VALUES (8, 'Bo', 3)"
    )
    in_one_transaction(db, "TRUNCATE customers")
    envelopes, frames = _read_until(p, 6)

    ins, cust, upd, dele, added, trunc = envelopes
    assert ins["metadata"]["OperationType"] == "Insert"
    assert ins["metadata"]["TableName"] == "orders" and ins["metadata"]["Schema"] == "sales"
    assert ins["data"] == {
        "id": 1,
        "amount": "12345678901234.000001",
        "paid": True,
        "placed": "2024-01-02T01:04:05.5+00:00",
        "tags": ["a", "b c"],
        "doc": {"k": [1, None]},
        "blob": base64.b64encode(b"\x00\xff").decode(),
        "ratio": 0.25,
        "big": 9007199254740993,
        "day": "2024-02-29",
        "note": None,
    }
    # One transaction: same LSN, consecutive Seq.
    assert cust["metadata"]["LSN"] == ins["metadata"]["LSN"]
    assert (ins["metadata"]["Seq"], cust["metadata"]["Seq"]) == (0, 1)
    assert cust["data"] == {"id": 7, "name": "Ann"}
    assert upd["metadata"]["OperationType"] == "Update"
    assert upd["metadata"]["OldKey"] == {"id": 1} and upd["data"]["id"] == 2
    assert dele["metadata"]["OperationType"] == "Delete" and dele["data"] == {"id": 7}
    assert added["data"] == {"id": 8, "name": "Bo", "tier": 3}
    assert trunc["metadata"]["OperationType"] == "Truncate" and trunc["data"] is None
    for meta in (e["metadata"] for e in envelopes):
        assert meta["CommitTime"].endswith("Z") and isinstance(meta["TransactionId"], int)

    # A checkpoint never falls inside a transaction.
    last_txn = None
    for frame in frames:
        if "data" in frame:
            last_txn = frame["metadata"]["TransactionId"]
        elif "checkpoint" in frame and last_txn is not None:
            later = [f for f in frames[frames.index(frame) :] if "data" in f]
            assert all(f["metadata"]["TransactionId"] != last_txn for f in later)

    # The slot has not moved: nothing was acknowledged yet.
    assert _slot(db, "dstream_flow")[0][0] == start_flush
    checkpoints = [f["checkpoint"] for f in frames if "checkpoint" in f]
    p.notice(checkpoints[-1])
    in_one_transaction(db, "INSERT INTO customers VALUES (9, 'Cy', 1)")  # wakes the loop
    more, _ = _read_until(p, 1)
    assert more[0]["data"]["id"] == 9
    assert _slot(db, "dstream_flow")[0][0] == checkpoints[-1]["lsn"]
    assert p.stop() == 0

    # Resume after the first checkpoint: the next run starts after it, no earlier change.
    first = checkpoints[0]
    before = [f for f in frames[: frames.index({"checkpoint": first})] if "data" in f]
    p = Provider("run", cfg, task="flow", state=first)
    assert p.line()["status"] == "ready"  # type: ignore[index]
    resumed, _ = _read_until(p, 1)
    assert parse_lsn(resumed[0]["metadata"]["LSN"]) >= parse_lsn(first["lsn"])
    assert resumed[0]["metadata"]["TransactionId"] not in {
        e["metadata"]["TransactionId"] for e in before
    }
    assert p.stop() == 0


def test_snapshot_meets_the_stream(db: str) -> None:
    in_one_transaction(db, *(f"INSERT INTO customers VALUES ({i}, 'c{i}')" for i in range(1, 51)))
    cfg = _config(db, snapshot=True)
    assert lifecycle("init", cfg, task="snap")["status"] == "Success"
    in_one_transaction(db, "INSERT INTO customers VALUES (51, 'after init, before run')")
    p = Provider("run", cfg, task="snap")
    assert p.line()["status"] == "ready"  # type: ignore[index]
    envelopes, frames = _read_until(p, 51)
    assert all(e["metadata"]["Snapshot"] for e in envelopes)
    assert sorted(e["data"]["id"] for e in envelopes) == list(range(1, 52))
    assert frames[-1]["checkpoint"]["snapshot"] == "done"
    in_one_transaction(db, "INSERT INTO customers VALUES (52, 'streamed')")
    streamed, _ = _read_until(p, 1)
    assert [e["data"]["id"] for e in streamed] == [52]
    assert "Snapshot" not in streamed[0]["metadata"]
    assert p.stop() == 0


def test_the_caught_up_target_is_where_the_last_record_ends_even_at_a_page_start() -> None:
    """pg_current_wal_insert_lsn() at a page start names a position past the page's
    header, which a walsender's keepalive never reports while no more WAL comes: the
    target is the boundary itself (a record never ends inside a header)."""
    block, segment = 8192, 16 << 20
    assert (
        record_end(5 * segment + 3 * block + 1200, block, segment) == 5 * segment + 3 * block + 1200
    )
    assert record_end(5 * segment + 3 * block + 24, block, segment) == 5 * segment + 3 * block
    assert record_end(5 * segment + 40, block, segment) == 5 * segment


def test_until_caught_up_ends_the_run_after_the_backlog(db: str) -> None:
    cfg = _config(db, until_caught_up=True)
    assert lifecycle("init", cfg, task="batch")["status"] == "Success"
    in_one_transaction(db, *(f"INSERT INTO customers VALUES ({i}, 'n{i}')" for i in range(5)))
    p = Provider("run", cfg, task="batch")
    assert p.line()["status"] == "ready"  # type: ignore[index]
    frames = []
    while (frame := p.line()) is not None:
        frames.append(frame)
    assert [f["data"]["id"] for f in frames if "data" in f] == list(range(5)), p.stderr()
    assert "checkpoint" in frames[-1]
    assert p.proc.wait(30) == 0
