"""The postgres state refuses a connection pooler in transaction mode (it would hand
each transaction to any server session) and works through one in session mode; with a
real pgbouncer in front of a real PostgreSQL."""

from __future__ import annotations

import pytest

from dstream.errors import DstreamError
from dstream.state.postgres import PostgresStore
from tests.services import PostgresServer, pgbouncer


def test_a_transaction_mode_pooler_is_refused(pg_server: PostgresServer, table: str) -> None:
    with pgbouncer(pg_server, "transaction") as pooler:
        refused = pytest.raises(DstreamError, match="pooler in transaction mode")
        with refused as err:
            PostgresStore(pooler.dsn, table)
        assert err.value.hint and "pool_mode = session" in err.value.hint


def test_a_session_mode_pooler_is_accepted(pg_server: PostgresServer, table: str) -> None:
    with pgbouncer(pg_server, "session") as pooler, PostgresStore(pooler.dsn, table) as store:
        with store.hold_run("orders"):
            store.put("orders", {"seq": 1})
        record = store.get("orders")
        assert record is not None and record.checkpoint == {"seq": 1}
