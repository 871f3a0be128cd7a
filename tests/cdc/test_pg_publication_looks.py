"""A run's looks at whether its captured tables are still published (stream.py `_look`):
pgoutput says nothing of a dropped table, nor of one made again under its name, so the
run asks the catalog, on a connection of its own, before it hands out a checkpoint (at
most once a second during a burst of changes)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.cdc import test_pg_lifecycle_checks as checks
from tests.cdc.pgtools import Provider, lifecycle
from tests.cdc.test_pg_lifecycle_checks import _cfg, _lines_until_end

pytestmark = pytest.mark.timeout(120)
make_db = checks.make_db  # a database of the test's own, with its tables


def test_a_drop_inside_a_burst_stops_the_run_once_the_burst_ends(make_db: Any) -> None:
    """The last checkpoint of a burst was handed out unlooked at, and with nothing more
    to read the run never looked again: it went on streaming, its checkpoint past the
    drop, saying nothing."""
    db = make_db()
    cfg = _cfg(db.dsn, "customers", "orders")
    assert lifecycle("init", cfg, task="burst")["status"] == "Success"
    run = Provider("run", cfg, task="burst")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    db.execute("INSERT INTO customers VALUES (1, 'before')")
    assert run.line() is not None, run.stderr()
    db.execute(
        "BEGIN",
        "DROP TABLE orders",
        "CREATE TABLE orders (id int PRIMARY KEY, amount numeric)",
        "INSERT INTO orders SELECT g, g FROM generate_series(1, 5) g",
        "COMMIT",
        "INSERT INTO customers SELECT g, 'burst' FROM generate_series(2, 20001) g",
    )
    _lines_until_end(run)
    assert run.proc.wait(30) != 0
    stderr = run.stderr()
    assert "public.orders" in stderr and "no longer in publication" in stderr, stderr


def test_a_look_after_the_server_ended_its_idle_connection_connects_again(
    make_db: Any,
) -> None:
    """idle_session_timeout (or a pooler's, a firewall's) ends the looks' connection
    between two checkpoints: the run failed, "cannot check the publication's tables",
    while its replication was fine."""
    db = make_db()
    db.execute(f"ALTER DATABASE \"{db.name}\" SET idle_session_timeout = '1s'")
    cfg = _cfg(db.dsn, "customers")
    assert lifecycle("init", cfg, task="idle")["status"] == "Success"
    run = Provider("run", cfg, task="idle")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    for row in (1, 2):
        db.execute(f"INSERT INTO customers VALUES ({row}, 'row')")
        data = run.line()
        assert data is not None and data["data"]["id"] == row, run.stderr()
        assert "checkpoint" in (run.line() or {}), run.stderr()
        time.sleep(3)  # the server ends the looks' idle connection meanwhile
    assert run.proc.poll() is None, run.stderr()  # still running
    run.proc.terminate()
    run.proc.wait(30)
    assert "cannot check the publication" not in run.stderr(), run.stderr()
