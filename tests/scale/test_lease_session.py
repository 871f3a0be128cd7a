"""The lease keeper's own session, ended by the server: it is opened again, as a session
the network lost is. PostgreSQL ends a session idle in a transaction past
`idle_in_transaction_session_timeout` (dstream sets it to half the lease TTL, so that a
holder paused mid-write lets go of its row) with SQLSTATE 25P03, which psycopg does not
raise as an OperationalError: a take-over whose transaction a stall held that long failed
the run instead of trying again on a new session."""

from __future__ import annotations

import time

from dstream.state.postgres import PostgresStore
from tests.scale.cluster import SETTINGS
from tests.services import PostgresServer


def test_a_session_ended_for_idling_in_a_transaction_is_opened_again(
    pg_server: PostgresServer,
) -> None:
    store = PostgresStore(pg_server.dsn, "idle_session", lease=SETTINGS, owner="holder")
    keeper = store._keeper
    attempts: list[int] = []

    def work(conn: object) -> int:
        attempts.append(1)
        if len(attempts) == 1:  # the first session idles in a transaction until ended
            conn.execute("SET idle_in_transaction_session_timeout = '100ms'")  # type: ignore[attr-defined]
            conn.execute("BEGIN")  # type: ignore[attr-defined]
            time.sleep(0.5)  # not a speed check: well past the server's 100 ms
        return int(conn.execute("SELECT 1").fetchone()[0])  # type: ignore[attr-defined]

    try:
        assert keeper._call(work) == 1
        assert len(attempts) == 2
    finally:
        store.close()
