"""json/jsonb numbers, money and arrays of derived types, from a real PostgreSQL through
`dstream run` (dstream-postgres-cdc, the pump, dstream-file): the bytes the file gets,
from the stream and from the snapshot.

The envelopes are compared as bytes, never decoded: a JSON decoder would round the very
numbers under test to doubles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import init_project
from tests.workspace import Workspace

NUMBERS = "123456789012345678901234567890, 1e-400, 1e400, 0.1000000000000000000000000001"
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _data_of_one_insert(
    pg_server: PgServer, tmp_path: Path, name: str, schema: list[str], insert: str, snapshot: bool
) -> bytes:
    """`insert` into table t of a fresh database, after `dstream init`, captured by one
    `dstream run` (until caught up): the `data` of the one envelope, as bytes."""
    task = f"{name}_{'snapshot' if snapshot else 'stream'}"  # slot names are server-wide
    dsn = pg_server.new_database(task)
    PgServer(dsn).execute(*schema)
    ws = Workspace(tmp_path)
    output = 'provider_path = "dstream-file"\nconfig { path = "out.jsonl" }'
    snapshot_on = "true" if snapshot else "false"
    init_project(
        ws, dsn, task, f'tables = ["t"]\nuntil_caught_up = true\nsnapshot = {snapshot_on}', output
    )
    PgServer(dsn).execute(insert)
    try:
        done = ws.run("run", task)
        assert done.returncode == 0, done.stderr
    finally:
        ws.run("destroy", task, "--auto-approve")
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    # No whitespace between tokens: the pump's fast walk takes the line.
    assert not re.search(rb"\s", STRING.sub(b"", line)), line
    assert line.startswith(b'{"data":'), line[:200]
    return line[len(b'{"data":') : line.index(b',"metadata":')]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("snapshot", [False, True], ids=["stream", "snapshot"])
def test_json_numbers_and_money_arrive_exact(
    pg_server: PgServer, tmp_path: Path, snapshot: bool
) -> None:
    schema = [
        """CREATE TABLE t (id int PRIMARY KEY, jb jsonb, j json, m money, ms money[],
           doubled int GENERATED ALWAYS AS (id * 2) STORED)"""
    ]
    insert = f"""INSERT INTO t (id, jb, j, m, ms) VALUES (1, '[{NUMBERS}]',
        '{{"n": [{NUMBERS}],
           "k": 1, "k": 2, "s": "a  b\\u00e9"}}', -92233720368547758.08,
        ARRAY[1.5::money, (-1234567.891)::money])"""
    data = _data_of_one_insert(pg_server, tmp_path, "exact", schema, insert, snapshot)
    # jsonb keeps numeric's text (1e400 and 1e-400 spelt out), json the text as written
    jsonb = (
        b"[123456789012345678901234567890,0." + b"0" * 399 + b"1,1" + b"0" * 400
        + b",0.1000000000000000000000000001]"
    )  # fmt: skip
    json = (
        b'{"n":[123456789012345678901234567890,1e-400,1e400,0.1000000000000000000000000001],'
        b'"k":1,"k":2,"s":"a  b\\u00e9"}'
    )
    want = (
        b'{"id":1,"jb":' + jsonb + b',"j":' + json + b',"m":"-92233720368547758.08",'
        b'"ms":["1.50","-1234567.89"]'
    )
    if snapshot:
        # The snapshot reads the table, generated columns and all.
        assert data == want + b',"doubled":2}'
    else:
        # pgoutput does not send generated columns.
        assert data == want + b"}"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("snapshot", [False, True], ids=["stream", "snapshot"])
def test_arrays_of_enums_domains_and_composites_are_json_arrays(
    pg_server: PgServer, tmp_path: Path, snapshot: bool
) -> None:
    schema = [
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
        "CREATE TYPE addr AS (street text, zip int)",
        "CREATE DOMAIN money2 AS numeric(20, 10)",
        "CREATE DOMAIN posint AS int CHECK (VALUE > 0)",
        "CREATE DOMAIN moods AS mood[]",
        """CREATE TABLE t (id int PRIMARY KEY, feelings mood[], m2 money2[], addrs addr[],
           ids posint[], mood_list moods, ips inet[], boxes box[])""",
    ]
    insert = """INSERT INTO t VALUES (1, '{sad,happy}', '{1.5,NULL}',
        ARRAY[ROW('Main St, 1', 12345)::addr, ROW(NULL, NULL)::addr], '{1,2}', '{ok}',
        '{10.0.0.1,::1}', ARRAY['((1,1),(0,0))'::box])"""
    data = _data_of_one_insert(pg_server, tmp_path, "arrays", schema, insert, snapshot)
    assert data == (
        b'{"id":1,"feelings":["sad","happy"],"m2":["1.5000000000",null],'
        b'"addrs":["(\\"Main St, 1\\",12345)","(,)"],"ids":[1,2],"mood_list":["ok"],'
        # box[] elements are separated by ';': the array stays PostgreSQL's text
        b'"ips":["10.0.0.1","::1"],"boxes":"{(1,1),(0,0)}"}'
    )
