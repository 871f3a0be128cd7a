"""What `dstream run` of dstream-postgres-cdc promises beyond the envelopes, against a
real PostgreSQL: the slot follows what is stored (batch runs too), an isolated table's
changes are kept or the run says they are lost, a renamed table keeps flowing, and a
lost server connection is a clear error."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import orjson
import psycopg2
import pytest

from dstream.providers.postgres_cdc.pgoutput import parse_lsn
from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import (
    FILE_OUTPUT,
    Provider,
    in_one_transaction,
    init_project,
    lifecycle,
)
from tests.services import PostgresServer, postgres, wait_until
from tests.workspace import Workspace

# A legal jsonb value no decoder here converts: nested deeper than orjson parses. The
# table it is written to gets isolated (the precondition each isolation test checks).
TOO_DEEP = "[" * 1500 + "]" * 1500


# An output that acknowledges each checkpoint a second after it arrives, as one waiting
# for a broker's confirms may: a batch run has caught up long before.
SLOW_ACK_OUTPUT = r"""#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
exec 3>>out.jsonl
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) sleep 1; printf '%s\n' "$line" ;;
    *) printf '%s\n' "$line" >&3 ;;
  esac
done
"""


@pytest.fixture
def db(pg_server: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the test's own on the shared server. Slot names are the server's:
    every task here is named `g...`, and its slots are dropped after the test (the
    server has a few for every test of the session)."""
    name = "g_" + request.node.name[:40].lower()
    yield pg_server.new_database(name)
    select = "SELECT slot_name FROM pg_replication_slots WHERE database = %s"
    wait_until(
        "the test's slots released",
        lambda: not pg_server.query(select + " AND active", (name,)),
        30,
        0.1,
    )
    for (slot,) in pg_server.query(select, (name,)):
        pg_server.execute(f"SELECT pg_drop_replication_slot('{slot}')")


def _confirmed_flush(dsn: str, slot: str) -> int:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        )
        (lsn,) = cur.fetchone()
    conn.close()
    return parse_lsn(lsn)


def _stored_lsn(ws: Workspace, task: str) -> int:
    stored = orjson.loads((ws.root / "state" / f"{task}.json").read_bytes())
    return parse_lsn(stored["checkpoint"]["lsn"])


# -- 1. the slot follows the stored checkpoint across batch runs --------------------------
def test_batch_runs_move_the_slot_forward(db: str, ws: Workspace) -> None:
    """Each `until_caught_up` run confirms to the server what dstream stored, so the WAL
    it delivered is released (it was kept for ever: every run re-read it all). The run
    waits for the commit notice of its last checkpoint, which a slow output delays."""
    in_one_transaction(db, "CREATE TABLE b (id int PRIMARY KEY, v text)")
    ws.script("slow-ack.sh", SLOW_ACK_OUTPUT)
    output = 'provider_path = "./slow-ack.sh"'
    init_project(ws, db, "gbatch", 'tables = ["b"]\nuntil_caught_up = true', output)
    confirmed = [_confirmed_flush(db, "dstream_gbatch")]
    for run in range(3):
        first = run * 100
        in_one_transaction(
            db, f"INSERT INTO b SELECT g, 'v' FROM generate_series({first}, {first + 99}) g"
        )
        done = ws.run("run", "gbatch")
        assert done.returncode == 0, done.stdout + done.stderr
        stored = _stored_lsn(ws, "gbatch")
        now = _confirmed_flush(db, "dstream_gbatch")
        assert now >= stored > confirmed[-1], (run, confirmed, stored, now)
        confirmed.append(now)
    assert len(ws.json_lines("out.jsonl")) == 300


def test_a_resumed_checkpoint_is_confirmed_at_start(db: str) -> None:
    """The checkpoint a run resumes from is durable (dstream stored it): the run confirms
    it to the server at once, even if no commit notice ever comes."""
    in_one_transaction(db, "CREATE TABLE r (id int PRIMARY KEY)")
    # Nothing else may move the slot here: psycopg2 sends its own position (which it
    # takes from keepalives) every status_interval, and whenever the server asks, which
    # it does after wal_sender_timeout / 2 without one.
    dbname = db.rsplit("/", 1)[1]
    in_one_transaction(db, f'ALTER DATABASE "{dbname}" SET wal_sender_timeout = 0')
    cfg = {"dsn": db, "tables": ["r"], "status_interval": 600}
    assert lifecycle("init", cfg, task="gresume")["status"] == "Success"
    in_one_transaction(db, "INSERT INTO r VALUES (1)")
    first = Provider("run", cfg, task="gresume")
    assert first.line()["status"] == "ready"  # type: ignore[index]
    while "checkpoint" not in (frame := first.line() or {}):
        assert frame, first.stderr()
    checkpoint = frame["checkpoint"]
    assert first.stop() == 0
    before = _confirmed_flush(db, "dstream_gresume")
    assert before < parse_lsn(checkpoint["lsn"])  # no notice: not confirmed

    second = Provider("run", cfg, task="gresume", state=checkpoint)
    try:
        assert second.line()["status"] == "ready"  # type: ignore[index]
        wait_until(
            "the resumed checkpoint confirmed",
            lambda: _confirmed_flush(db, "dstream_gresume") >= parse_lsn(checkpoint["lsn"]),
            30,
            0.1,
        )
    finally:
        assert second.stop() == 0


# -- 2. an isolated table loses nothing silently ------------------------------------------
def _isolated_run(ws: Workspace, dsn: str, task: str, dead_letter: bool) -> tuple[int, str]:
    """One batch run over changes of table `iso`, which gets isolated (its first value
    cannot be converted), and of table `ok`, which is delivered: the run's exit code and
    output."""
    in_one_transaction(
        dsn,
        "CREATE TABLE iso (id int PRIMARY KEY, j jsonb)",
        "CREATE TABLE ok (id int PRIMARY KEY)",
    )
    extra = 'dead_letter_path = "dl.jsonl"' if dead_letter else ""
    init_project(ws, dsn, task, f'tables = ["iso", "ok"]\nuntil_caught_up = true\n{extra}')
    in_one_transaction(
        dsn, f"INSERT INTO iso VALUES (100, '{TOO_DEEP}')", "INSERT INTO ok VALUES (1)"
    )
    in_one_transaction(
        dsn, "INSERT INTO iso VALUES (101, '{\"n\": 1}')", "INSERT INTO ok VALUES (2)"
    )
    in_one_transaction(
        dsn, "UPDATE iso SET j = '[2]' WHERE id = 101", "INSERT INTO iso VALUES (102, '3')"
    )
    done = ws.run("run", task)
    text = done.stdout + done.stderr
    assert "table isolated" in text, "precondition: TOO_DEEP must isolate the table\n" + text
    # The other table was delivered (and, when the run fails, its checkpoint stored).
    assert [e["data"]["id"] for e in ws.json_lines("out/ok.jsonl")] == [1, 2], text
    assert ws.json_lines("out/iso.jsonl") == [], text
    return done.returncode, text


def test_every_change_of_an_isolated_table_goes_to_the_dead_letter_file(
    db: str, ws: Workspace
) -> None:
    code, text = _isolated_run(ws, db, "gdl", dead_letter=True)
    assert code == 0, text
    kept = ws.json_lines("dl.jsonl")
    assert [(d["operation"], (d["new"] or {}).get("id")) for d in kept] == [
        ("Insert", "100"),
        ("Insert", "101"),
        ("Update", "101"),
        ("Insert", "102"),
    ]
    assert {d["table"] for d in kept} == {"public.iso"}
    assert kept[-1]["new"]["j"] == "3"
    # The run's outcome says so, with where the changes are.
    assert "public.iso" in text and "4 change(s) set aside" in text and "dl.jsonl" in text


def test_an_isolated_table_without_a_dead_letter_file_fails_the_run(db: str, ws: Workspace) -> None:
    code, text = _isolated_run(ws, db, "gnodl", dead_letter=False)
    assert code == 1, text
    assert "executed successfully" not in text
    assert "4 change(s) of table public.iso" in text and "dead_letter_path" in text
    assert "Traceback" not in text


# -- 4. a renamed table keeps flowing ----------------------------------------------------
def test_a_table_renamed_while_streaming_keeps_its_changes(db: str) -> None:
    """The publication follows the table by OID; so does the provider: changes after
    the rename arrive under the new name, and a warning says the table was renamed."""
    in_one_transaction(db, "CREATE TABLE ren (id int PRIMARY KEY, a text)")
    cfg = {"dsn": db, "tables": ["ren"]}
    assert lifecycle("init", cfg, task="gren")["status"] == "Success"
    p = Provider("run", cfg, task="gren")
    assert p.line()["status"] == "ready"  # type: ignore[index]
    in_one_transaction(db, "INSERT INTO ren VALUES (1, 'a')")
    in_one_transaction(db, "ALTER TABLE ren RENAME TO ren2")
    in_one_transaction(
        db, "INSERT INTO ren2 VALUES (2, 'b')", "UPDATE ren2 SET a = 'c' WHERE id = 1"
    )
    changes: list[tuple[str, str, int]] = []
    while len(changes) < 3:
        frame = p.line()
        assert frame is not None, p.stderr()
        if "data" in frame:
            meta = frame["metadata"]
            changes.append((meta["TableName"], meta["OperationType"], frame["data"]["id"]))
    assert p.stop() == 0
    assert changes == [("ren", "Insert", 1), ("ren2", "Insert", 2), ("ren2", "Update", 1)]
    warnings = [
        line
        for line in map(orjson.loads, p.stderr().splitlines())
        if line.get("level") == "warning"
    ]
    assert any(
        "renamed" in w["msg"]
        and w.get("table") == "public.ren"
        and w.get("arrives_as") == "public.ren2"
        for w in warnings
    ), warnings


def _mv_project(ws: Workspace, dsn: str, table: str, *, init: bool = True) -> None:
    """Task gmv of `table`, initialised (`init`); its provider the one this test imports
    (a clone's, by PYTHONPATH), not the installed one."""
    ws.config(
        f"""
        state {{ path = "state" }}
        task "gmv" {{
          input {{
            provider_path = "dstream-postgres-cdc"
            inherit_env = ["PYTHONPATH"]
            config {{
              dsn = "{dsn}"
              tables = ["{table}"]
              snapshot = true
              until_caught_up = true
            }}
          }}
          output {{
            {FILE_OUTPUT}
          }}
        }}
        """
    )
    if init:
        done = ws.run("init", "gmv")
        assert done.returncode == 0, done.stdout + done.stderr


def test_after_a_rename_the_run_names_resume_changed_which_goes_on(db: str, ws: Workspace) -> None:
    """The refusal of the old name said "fix 'tables'", and then "run the task again",
    which `dstream run` refuses (exit 2: the input's configuration changed), pointing at
    --reset-state first: with snapshot = true that copies every table again."""
    in_one_transaction(db, "CREATE TABLE mv (id int PRIMARY KEY)", "INSERT INTO mv VALUES (1)")
    _mv_project(ws, db, "mv")
    first = ws.run("run", "gmv")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [r["data"]["id"] for r in ws.json_lines("out/mv.jsonl")] == [1]
    in_one_transaction(db, "ALTER TABLE mv RENAME TO mv2", "INSERT INTO mv2 VALUES (2)")

    refused = ws.run("run", "gmv")
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0, text
    assert "did you mean public.mv2" in text, text
    assert "dstream run gmv --resume-changed" in text, text
    assert "--reset-state" in text and "every table again" in text, text
    assert "Traceback" not in text, text

    _mv_project(ws, db, "mv2")
    resumed = ws.run("run", "gmv", "--resume-changed")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [r["data"]["id"] for r in ws.json_lines("out/mv2.jsonl")] == [2]  # no copy again


def test_a_table_the_database_lacks_is_refused_at_the_tables_attribute(
    db: str, ws: Workspace
) -> None:
    """The refusal said "fix 'tables'" without saying where, while a config mistake
    dstream finds itself carries its dstream.hcl:LINE:COL."""
    _mv_project(ws, db, "nosuch", init=False)
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "tables =" in text)
    column = lines[line - 1].index("[") + 1  # the attribute's value
    done = ws.run("run", "gmv")
    text = done.stdout + done.stderr
    assert done.returncode != 0, text
    assert f"dstream.hcl:{line}:{column}: " in text, text
    assert "table not found in the database: 'nosuch'" in text, text
    assert "Traceback" not in text, text
    document = ws.run("run", "gmv", "--json")
    assert f"dstream.hcl:{line}:{column}" in document.stdout, document.stdout


# -- 7. a lost connection ----------------------------------------------------------------
@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own: it is restarted under the run."""
    with postgres() as server:
        yield server


def test_a_server_restart_mid_stream_is_a_clear_error(
    own_server: PostgresServer, ws: Workspace
) -> None:
    dsn = own_server.dsn
    in_one_transaction(dsn, "CREATE TABLE s (id int PRIMARY KEY)")
    init_project(ws, dsn, "lost", 'tables = ["s"]')
    run = ws.popen("run", "lost", start_new_session=True)
    try:
        in_one_transaction(dsn, "INSERT INTO s VALUES (1)")
        wait_until("the first change", lambda: ws.json_lines("out/s.jsonl"), 60, 0.1)
        own_server.restart()
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            run.wait()
    text = (out + err).decode()
    assert run.returncode == 1, text
    assert f"lost the connection to PostgreSQL at 127.0.0.1:{own_server.port}" in text, text
    # The hint names the setting that resumes on its own, in a form the task takes.
    setting = re.search(r"restart = \{[^}]*\}", text)
    assert setting is not None, text
    (ws.root / "dstream.hcl").write_text(
        (ws.root / "dstream.hcl")
        .read_text()
        .replace('task "lost" {', 'task "lost" {\n  ' + setting.group(0), 1)
    )
    linted = ws.run("lint")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "Traceback" not in text, text
