"""What is particular to the PostgreSQL backend, against a real server."""

from __future__ import annotations

import psycopg
import pytest

from dstream.config.model import MAX_STATE_TABLE_NAME, Location, StateSpec
from dstream.errors import ConfigError, DstreamError
from dstream.state import open_store
from tests.services import PostgresServer, free_port, table_for


def test_the_table_is_created_and_shared_by_two_machines(pg_spec: StateSpec) -> None:
    first = open_store(pg_spec, ".")
    second = open_store(pg_spec, ".")  # another dstream, elsewhere, same database
    try:
        first.put("orders", {"lsn": "0/1"})
        record = second.get("orders")
        assert record is not None and record.checkpoint == {"lsn": "0/1"}
        second.put("orders", {"lsn": "0/2"})
        record = first.get("orders")
        assert record is not None and record.checkpoint == {"lsn": "0/2"}
        assert record.sequence == 2
    finally:
        first.close()
        second.close()


def test_rows_are_plain_sql(pg_spec: StateSpec) -> None:
    store = open_store(pg_spec, ".")
    store.put("orders", {"lsn": "0/9"})
    store.close()
    assert pg_spec.dsn
    with psycopg.connect(pg_spec.dsn) as conn:
        row = conn.execute(
            f"SELECT checkpoint->>'lsn', sequence FROM {pg_spec.table} WHERE task = 'orders'"
        ).fetchone()
    assert row == ("0/9", 1)


def test_a_schema_qualified_table(pg_server: PostgresServer) -> None:
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
    store = open_store(StateSpec(backend="postgres", dsn=pg_server.dsn, table="ops.ckpt"), ".")
    try:
        store.put("t", 1)
        assert [r.task for r in store.tasks()] == ["t"]
    finally:
        store.reset("t")
        store.close()


@pytest.mark.parametrize("table", ["drop table x;", "a.b.c", "", "1abc"])
def test_a_table_name_that_is_not_an_identifier_is_a_config_error(
    pg_server: PostgresServer, table: str
) -> None:
    spec = StateSpec(
        backend="postgres", dsn=pg_server.dsn, table=table, location=Location("d.hcl", 2, 3)
    )
    with pytest.raises(ConfigError, match="invalid state table name") as caught:
        open_store(spec, ".")
    assert "d.hcl:2:3" in str(caught.value)


def test_the_longest_table_name_leaves_room_for_its_companions(
    pg_server: PostgresServer, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL cuts identifiers at 63 bytes: a review found a longer table name made
    `<table>_lease` and `<table>_input` one table ("column input_hash does not exist").
    The longest name accepted works with every companion; one more is a config error."""
    table = table_for(request, "t").ljust(MAX_STATE_TABLE_NAME, "x")
    store = open_store(StateSpec(backend="postgres", dsn=pg_server.dsn, table=table), ".")
    try:
        with store.hold_run("orders", config_hash="h"):
            store.put("orders", {"lsn": "0/1"})
            store.set_input_hash("orders", "digest")
            store.add_run("orders", {"started_at": 1.0, "ended_at": 2.0, "result": "completed"})
        assert store.input_hash("orders") == "digest"
        assert [run["result"] for run in store.runs("orders")] == ["completed"]
        store.transact("create the agents table", store.agents().create)
    finally:
        store.close()
    longer = StateSpec(
        backend="postgres", dsn=pg_server.dsn, table=table + "x", location=Location("d.hcl", 2, 3)
    )
    with pytest.raises(ConfigError, match=f"more than {MAX_STATE_TABLE_NAME}") as caught:
        open_store(longer, ".")
    assert "d.hcl:2:3" in str(caught.value)


def test_an_unreachable_server_is_reported_without_the_password() -> None:
    dsn = f"postgresql://someone:s3cret@127.0.0.1:{free_port()}/db?connect_timeout=2"
    with pytest.raises(DstreamError) as caught:
        open_store(StateSpec(backend="postgres", dsn=dsn), ".")
    message = str(caught.value)
    assert "could not connect to the state database" in message and "s3cret" not in message
    assert caught.value.hint and "dsn" in caught.value.hint
    # One line: libpq's own line break and tab ("refused\n\tIs the server running")
    # were shown as escapes by the error block, which escapes what it quotes.
    assert "\n" not in message and "\t" not in message, message


def test_a_dropped_connection_is_reopened(pg_spec: StateSpec) -> None:
    store = open_store(pg_spec, ".")
    try:
        store.put("t", 1)
        assert pg_spec.dsn
        with psycopg.connect(pg_spec.dsn, autocommit=True) as admin:
            # what a server restart or an idle-connection reaper does to our session
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database()"
            )
        store.put("t", 2)
        record = store.get("t")
        assert record is not None and record.checkpoint == 2
    finally:
        store.close()
