"""A slot PostgreSQL invalidated (it fell further behind than max_slot_wal_keep_size):
`status` said it existed and was fine, `plan` and `init` saw nothing to do, and `run`
failed with the server's words cut short and a hint that nothing was lost. Now status
reports the slot unusable (exit 1), plan and init replace the slot, and run names the
gap and the fix.

A server of this module's own: the WAL limit it sets would invalidate the slots of the
tests sharing the session's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import FILE_OUTPUT, Provider, lifecycle
from tests.services import postgres
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def small_wal() -> Iterator[PgServer]:
    with postgres() as server:
        admin = PgServer(server.dsn)
        conn = admin.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
        yield admin


def _lose_the_slot(db: PgServer, slot: str) -> None:
    """Write WAL past the limit and checkpoint until PostgreSQL invalidates the slot."""
    db.execute("CREATE TABLE IF NOT EXISTS filler (v text)")
    for _ in range(20):
        db.execute(
            "INSERT INTO filler SELECT repeat('x', 2000) FROM generate_series(1, 4000)",
            "TRUNCATE filler",
        )
        conn = db.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_switch_wal()")
            cur.execute("CHECKPOINT")
            cur.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            (status,) = cur.fetchone()
        conn.close()
        if status == "lost":
            return
    raise AssertionError(f"slot {slot} was not invalidated (wal_status {status})")


def _status_says_the_slot_cannot_be_used(ws: Workspace, dsn: str) -> None:
    """`dstream status` said "All resources exist." and exited 0 while `run` could not
    use the slot: a health check was told all was well."""
    ws.config(
        f"""
        state {{ path = "state" }}
        task "lost" {{
          input {{
            provider_path = "dstream-postgres-cdc"
            # The dstream this test imports (a clone's, by PYTHONPATH), not the installed one.
            inherit_env = ["PYTHONPATH"]
            config {{
              dsn = "{dsn}"
              tables = ["orders"]
            }}
          }}
          output {{
            {FILE_OUTPUT}
          }}
        }}
        """
    )
    done = ws.run("status", "lost")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = [line.split()[:3] for line in done.stdout.splitlines()]
    assert ["input", "replication_slot.dstream_lost", "unusable"] in rows, done.stdout
    assert "1 resource(s) exist but cannot be used" in done.stdout
    assert "All resources exist" not in done.stdout
    assert "replication slot dstream_lost was invalidated by PostgreSQL" in done.stderr
    assert "hint: `dstream init lost` makes the slot anew" in done.stderr, done.stderr
    code, doc, _ = ws.run_json("status", "lost")
    assert (code, doc["ok"], doc["exit_code"]) == (1, False, 1), doc
    assert "invalidated by PostgreSQL" in doc["errors"][0]


def test_an_invalidated_slot_is_shown_replaced_and_refused(
    small_wal: PgServer, ws: Workspace
) -> None:
    db = PgServer(small_wal.new_database("lost"))
    db.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    cfg: dict[str, Any] = {"dsn": db.dsn, "tables": ["orders"]}
    assert lifecycle("init", cfg, task="lost")["status"] == "Success"
    _lose_the_slot(db, "dstream_lost")

    status = lifecycle("status", cfg, task="lost")
    slot = next(r for r in status["resources"] if r["type"] == "replication_slot")
    assert slot["details"]["wal_status"] == "lost", slot
    assert (slot["exists"], slot["usable"]) == (True, False), slot
    assert "invalidated by PostgreSQL" in slot["problem"]
    assert "`dstream init lost` makes the slot anew" in slot["hint"]
    assert "invalidated by PostgreSQL" in status["message"]
    _status_says_the_slot_cannot_be_used(ws, db.dsn)

    run = Provider("run", cfg, task="lost", state={"lsn": "0/1", "slot": "dstream_lost"})
    refused = run.line()
    assert refused is not None and refused["status"] == "error", refused
    assert "was invalidated by PostgreSQL" in refused["message"], refused
    assert "--reset-state" in refused["message"] and run.proc.wait(30) != 0

    plan = lifecycle("plan", cfg, task="lost")
    assert [(c["action"], c["type"]) for c in plan["changes"]] == [
        ("delete", "replication_slot"),
        ("create", "replication_slot"),
    ], plan
    init = lifecycle("init", cfg, task="lost")
    assert init["status"] == "Success", init
    assert lifecycle("plan", cfg, task="lost")["changes"] == []
    # The old checkpoint is older than the new slot: the gap is refused, never skipped.
    again = Provider("run", cfg, task="lost", state={"lsn": "0/1", "slot": "dstream_lost"})
    said = again.line()
    assert said is not None and said["status"] == "error", said
    assert "older than replication slot dstream_lost" in said["message"], said
    again.proc.wait(30)
    lifecycle("destroy", cfg, task="lost")


def test_a_slot_invalidated_during_a_run_is_reported_as_such(small_wal: PgServer) -> None:
    """The server ends the replication of a slot it invalidates; the run said it lost the
    connection and that nothing was lost, and only the next run told the truth."""
    db = PgServer(small_wal.new_database("lost_mid_run"))
    db.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    cfg: dict[str, Any] = {"dsn": db.dsn, "tables": ["orders"]}
    assert lifecycle("init", cfg, task="lostrun")["status"] == "Success"
    run = Provider("run", cfg, task="lostrun")
    ready = run.line()
    assert ready is not None and ready["status"] == "ready", ready
    db.execute("INSERT INTO orders VALUES (1)")
    # A change the run delivered and nobody acknowledged: the slot stays before it.
    while True:
        frame = run.line()
        assert frame is not None, run.stderr()
        if "data" in frame:
            break
    _lose_the_slot(db, "dstream_lostrun")
    while run.line() is not None:
        pass
    assert run.proc.wait(30) == 1
    said = run.stderr()
    assert "replication slot dstream_lostrun was invalidated by PostgreSQL" in said, said
    assert "`dstream init lostrun` makes the slot anew" in said, said
    assert "Nothing is lost" not in said and "Traceback" not in said, said
    lifecycle("destroy", cfg, task="lostrun")
