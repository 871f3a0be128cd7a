"""A value the snapshot cannot convert (a json text with an unpaired surrogate escape,
which no frame can carry) is handled as the stream handles it: `on_table_error =
"isolate"` sets the table aside (its rows in the dead-letter file) and the others flow;
"fail" stops naming the table and the column. It aborted the run with a traceback, and
every run after it made the slot again and failed at the same row."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import init_project
from tests.workspace import CliResult, Workspace

SCHEMA = [
    "CREATE TABLE t (id int PRIMARY KEY, j json)",
    "CREATE TABLE other (id int PRIMARY KEY)",
    """INSERT INTO t VALUES (1, '1'), (2, '"\\ud800"'), (3, '2')""",
    "INSERT INTO other VALUES (1)",
]
OUTPUT = 'provider_path = "dstream-file"\nconfig { path = "out.jsonl" }'


def _run_once(pg_server: PgServer, tmp_path: Path, task: str, policy: str) -> CliResult:
    """`dstream run TASK` of the snapshot of SCHEMA under `policy`, then destroy."""
    dsn = pg_server.new_database(task)
    PgServer(dsn).execute(*SCHEMA)
    ws = Workspace(tmp_path)
    settings = (
        'tables = ["t", "other"]\nsnapshot = true\nuntil_caught_up = true\n'
        f'on_table_error = "{policy}"\ndead_letter_path = "{tmp_path / "dead.jsonl"}"'
    )
    init_project(ws, dsn, task, settings, OUTPUT)
    try:
        return ws.run("run", task)
    finally:
        ws.run("destroy", task, "--auto-approve")


@pytest.mark.timeout(180)
def test_a_snapshot_row_that_cannot_be_converted_isolates_its_table(
    pg_server: PgServer, tmp_path: Path
) -> None:
    done = _run_once(pg_server, tmp_path, "snap_isolate", "isolate")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "table public.t was isolated: 2 change(s) set aside" in done.stderr, done.stderr
    delivered = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [(e["metadata"]["TableName"], e["data"]["id"]) for e in delivered] == [
        ("t", 1),
        ("other", 1),
    ]
    dead = [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
    assert [(d["table"], d["new"]["id"]) for d in dead] == [("public.t", "2"), ("public.t", "3")]
    assert "unpaired" in dead[0]["reason"] and dead[0]["operation"] == "Insert"


@pytest.mark.timeout(180)
def test_a_snapshot_row_that_cannot_be_converted_fails_naming_it(
    pg_server: PgServer, tmp_path: Path
) -> None:
    done = _run_once(pg_server, tmp_path, "snap_fail", "fail")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot convert column j of a row of table public.t in the snapshot" in done.stderr
