"""`dstream status TASK --json` says who holds the task's lease, as the text does."""

from __future__ import annotations

import orjson

from dstream.config.model import StateSpec
from dstream.state import open_store
from tests.scale.cluster import TASK, counter, project
from tests.services import PostgresServer
from tests.workspace import Workspace


def test_status_json_names_the_lease_holder(
    ws: Workspace, pg_server: PostgresServer, table: str
) -> None:
    ws.config(project(pg_server.dsn, table, counter(TASK)))
    spec = StateSpec(backend="postgres", dsn=pg_server.dsn, table=table)

    def shown() -> tuple[object, str]:
        as_json = ws.run("status", "t", "--json")
        assert as_json.returncode == 0, as_json.stderr
        text = ws.run("status", "t")
        assert text.returncode == 0, text.stderr
        return orjson.loads(as_json.stdout)["tasks"][0]["lease"], text.stdout

    lease, text = shown()
    assert lease is None and "t: not running" in text, text
    with open_store(spec, str(ws.root)) as store, store.hold_run("t"):
        lease, text = shown()
        assert isinstance(lease, dict), lease
        assert f"t: run by {lease['owner']} since " in text
        assert f"(lease epoch {lease['epoch']})" in text
        assert lease["epoch"] >= 1 and lease["expires_in"] > 0
        assert isinstance(lease["acquired_at"], float)
    assert shown()[0] is None  # released: not running


def test_status_json_of_a_file_state_has_no_lease(ws: Workspace) -> None:
    ws.counter_task("t", "dstream-null", "", count=1, checkpoint_every=1)
    done = ws.run("status", "t", "--json")
    assert done.returncode == 0, done.stderr
    assert "lease" not in orjson.loads(done.stdout)["tasks"][0]
