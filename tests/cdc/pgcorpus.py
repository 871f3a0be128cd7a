# ruff: noqa: E501 (SQL literals read best unbroken)
"""A corpus of real pgoutput messages: one table per type group, edge values, every
operation, captured raw through a replication connection from the test server.

`capture()` returns the payloads exactly as the provider receives them (same session
GUCs, same start_replication options), for the differential test of the two decoders.
"""

from __future__ import annotations

import random
import time
from typing import Any

from dstream.providers.postgres_cdc.values import SESSION_OPTIONS

SLOT = "corpus"
PUBLICATION = "corpus"

SCHEMA = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE TYPE pair AS (a int, b text)",
    "CREATE DOMAIN posint AS int CHECK (VALUE > 0)",
    "CREATE DOMAIN money_text AS numeric(30, 10)",
    "CREATE DOMAIN stamp AS timestamptz",
    "CREATE DOMAIN moods AS mood[]",
    """CREATE TABLE nums (id serial PRIMARY KEY, i2 int2, i4 int4, i8 int8, o oid,
       f4 float4, f8 float8, n numeric, m money, d posint, dn money_text)""",
    """CREATE TABLE texts (id int PRIMARY KEY, t text, v varchar(40), c char(6), nm name,
       ch "char", b bytea, x xml, u uuid)""",
    """CREATE TABLE times (id int PRIMARY KEY, d date, t time, tz timetz, ts timestamp,
       tstz timestamptz, iv interval, st stamp)""",
    "CREATE TABLE docs (id int PRIMARY KEY, j json, jb jsonb)",
    """CREATE TABLE arrays (id int PRIMARY KEY, ai int4[], at text[], ab bool[],
       af float8[], an numeric[], ats timestamptz[], atz timetz[], aj jsonb[], ajs json[],
       aby bytea[], ad date[], au uuid[], ai8 int8[], ar int4range[], ae mood[],
       ap pair[], apos posint[], amt money_text[], am money[], aip inet[], abx box[],
       ams moods)""",
    """CREATE TABLE misc (id int PRIMARY KEY, e mood, p pair, ip inet, cidr cidr,
       mac macaddr, pt point, bx box, r int4range, tr tstzrange, bits bit(4),
       vb varbit, tv tsvector, bo bool, gen int GENERATED ALWAYS AS (id * 2) STORED)""",
    "CREATE TABLE toasty (id int PRIMARY KEY, big text, n int)",
    "CREATE TABLE full_rows (id int PRIMARY KEY, note text, big text)",
    "ALTER TABLE full_rows REPLICA IDENTITY FULL",
    'CREATE TABLE "Ünïcødé tåble" (id int PRIMARY KEY, "naïve ""quoted""" text, "😀" int)',
    "CREATE TABLE ignored (id int PRIMARY KEY, t text)",
    "CREATE TABLE parent (id int PRIMARY KEY)",
    "CREATE TABLE child (id int PRIMARY KEY, p int REFERENCES parent(id))",
    "CREATE TABLE json_doubts (id int PRIMARY KEY, j json)",
    "CREATE TABLE json_deep (id int PRIMARY KEY, jb jsonb)",
    "CREATE TABLE zz_marker (id int PRIMARY KEY)",
]

# Tables the provider would capture ("ignored" is published but not wanted).
WANTED = [
    "nums", "texts", "times", "docs", "arrays", "misc", "toasty", "full_rows",
    "Ünïcødé tåble", "parent", "child", "json_doubts", "json_deep", "zz_marker",
]  # fmt: skip

UNICODE = "é ü ß 中文 😀 a\u0301 \u202eRTL\u202c zero\u200bwidth \u2028 \u00a0nbsp"
NASTY = 'quote " back \\ tab \t nl \n cr \r ctl \x01\x1f del \x7f brace {} comma , slash /'


def _random_text(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789é中😀 ") for _ in range(n))


def dml() -> list[tuple[str, Any]]:
    big = _random_text(300_000, 1)  # TOASTed: stored out of line, incompressible enough
    q: list[tuple[str, Any]] = [
        # numbers, including their extremes and values beyond float precision
        (
            "INSERT INTO nums (i2,i4,i8,o,f4,f8,n,m,d,dn) VALUES "
            "(-32768, -2147483648, -9223372036854775808, 0, 'NaN', 'NaN', 'NaN', -1.5, 1, 0),"
            "(32767, 2147483647, 9223372036854775807, 4294967295, 'Infinity', 'Infinity',"
            " 12345678901234567890.123456789012345678901234567890, 92233720368547758.07, 7,"
            " 12345678901234567890.0123456789),"
            "(0, 0, 0, 1, '-Infinity', '-Infinity', '-0.000000000000000000001', 0, 2, -1.5),"
            "(1, 1, 1, 2, 1.1, 0.1, 'Infinity', 0.01, 3, 0),"
            "(-1, -1, -1, 3, 3.4028235e38, 1.7976931348623157e308, '-Infinity', 1, 4, 1),"
            "(2, 2, 2, 4, 1e-45, 5e-324, 1e-100, 2, 5, 2),"
            "(3, 3, 3, 5, -0, -0, 0, -92233720368547758.08, 6, 3),"
            "(4, 4, 4, 6, 123456.79, 1e16, 1e16, 4, 7, 4),"
            "(5, 5, 5, 7, 1.5e-7, 1.2345678901234567e-300, 3.14159, 5, 8, 5),"
            "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            None,
        ),
        ("UPDATE nums SET f8 = f8 * 3, n = n + 1 WHERE id < 4 AND f8 = f8", None),
        # text, unicode, bytea
        (
            "INSERT INTO texts VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (1, UNICODE, "vé", "ab", "name", "x", b"\x00\xff\x10binary", "<a>é</a>",
             "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        (
            "INSERT INTO texts VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (2, NASTY.replace("\x00", ""), "", "", "", "\\", b"", "<x/>",
             "00000000-0000-0000-0000-000000000000"),
        ),
        ("INSERT INTO texts (id) VALUES (3)", None),
        ("UPDATE texts SET t = t || ' more', b = b || '\\x00'::bytea WHERE id = 1", None),
        ("UPDATE texts SET id = 4 WHERE id = 3", None),  # new key: OldKey
        ("DELETE FROM texts WHERE id = 2", None),  # KeyOnly
        # time zones, infinities, BC, fractional seconds
        ("SET TIME ZONE 'Asia/Kolkata'", None),
        (
            "INSERT INTO times VALUES "
            "(1, '2024-02-29', '23:59:59.999999', '04:05:06+05:30', '2024-01-02 03:04:05.123456',"
            " '2024-01-02 03:04:05.5+05:30', '1 year 2 mons 3 days 04:05:06.7', '2024-06-01'),"
            "(2, 'infinity', '00:00', '04:05:06-03', 'infinity', 'infinity', '-1 day', 'infinity'),"
            "(3, '-infinity', '24:00', '12:00:00+01:02:03', '-infinity', '-infinity', '0',"
            " '-infinity'),"
            "(4, '0044-03-15 BC', '12:00', '00:00:00+14', '0044-03-15 12:00 BC',"
            " '0044-03-15 12:00+00 BC', '-1 year -2 mons', '0001-01-01 00:00+00'),"
            "(5, '0001-01-01', '01:02:03', '23:00-12', '1900-01-01 00:00:00',"
            " '1883-11-18 12:00:00 America/New_York', '1 microsecond', '9999-12-31 23:59:59.999999+00'),"
            "(6, '294276-12-31', '12:34:56.5', '11:11:11.111111+00', '294276-12-31 23:59:59',"
            " '294276-12-31 23:59:59+00', '178000000 years', NULL)",
            None,
        ),
        ("SET TIME ZONE 'UTC'", None),
        # json: whitespace, unicode escapes, numbers beyond double range and precision
        (
            "INSERT INTO docs VALUES (%s, %s, %s)",
            (1, '{"a" : [1, 2.50, null, true, false], "b": {"c": "é\\u00e9\\/\\ud83d\\ude00"}}',
             '{"z": 1, "a": [1, 2.50, -0, 1E2, 1.0e+2, -0.0, 0.1, 1e-7, 1e16]}'),
        ),
        (
            "INSERT INTO docs VALUES (%s, %s, %s)",
            (2, '[18446744073709551615, 18446744073709551616, -9223372036854775809,'
             ' 123456789012345678901234567890, "\\u0000\\u001f\\t"]',
             '"just a string \\" \\\\ \\n"'),
        ),
        ("INSERT INTO docs VALUES (3, 'null', '{}'), (4, '  42  ', '[]'), (5, NULL, NULL)", None),
        ("INSERT INTO docs VALUES (6, '3.5', '-12.25e3'), (7, '\"\"', '{\"\": \"\"}')", None),
        (
            "INSERT INTO docs VALUES (%s, %s, %s)",
            (8, '{"k": 1,\n\t"k" :2, "n": [1e400, 1e-400, 1E+2, -0.0, 0.1000000000000000000000000001]}',
             '[123456789012345678901234567890, 1e400, 1e-400, 0.1000000000000000000000000001, -0]'),
        ),
        # arrays of every mapped element type
        (
            "INSERT INTO arrays VALUES (1, '{1,2,NULL}', %s, '{t,f,NULL}', '{1.5,NaN,Infinity,-0}',"
            " '{1.10,NaN,12345678901234567890.5}', '{\"2024-01-02 03:04:05+02\",infinity}',"
            " '{04:05:06+05:30}', ARRAY['{\"a\": 1}'::jsonb, '[1, 2.5]'], ARRAY['{\"b\": [1 ,2]}'::json],"
            " '{\"\\\\x00ff\",\"\\\\x\"}', '{2024-01-02,infinity}',"
            " '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{9223372036854775807}',"
            " '{\"[1,5)\",empty}', '{sad,happy}', ARRAY[ROW(1, 'x \"y\", z')::pair, ROW(NULL, NULL)::pair],"
            " '{1,2}', '{1.5,NULL}', ARRAY[1.5::money, (-1234567.891)::money], '{10.0.0.1,::1}',"
            " ARRAY['((1,1),(0,0))'::box], '{ok,NULL}')",
            (["a b", 'c"d', None, "NULL", "", "x,y", "{}", "é😀", "back\\slash", " lead", "\u00a0nb"],),
        ),
        (
            "INSERT INTO arrays (id, ai, at, ab) VALUES (2, '{{1,2},{3,4}}', '{{a,b},{c,d}}', '{}'),"
            " (3, '[0:1]={7,8}', '{}', NULL), (4, '{{{1}},{{2}}}', '{NULL}', '{{t},{f}}')",
            None,
        ),
        # types carried as their text
        (
            "INSERT INTO misc VALUES (1, 'happy', ROW(1, 'x \"y\"'), '192.168.0.1/24', '10.0.0.0/8',"
            " '08:00:2b:01:02:03', '(1.5,-2)', '((0,0),(1,1))', '[1,10)',"
            " '[2024-01-01 00:00+00,infinity)', B'1010', B'101', 'a fat cat', true),"
            " (2, NULL, NULL, '::1', '::/0', NULL, NULL, NULL, 'empty', NULL, NULL, B'', '', false)",
            None,
        ),
        # TOAST: an update that leaves a big value untouched does not resend it
        ("INSERT INTO toasty VALUES (1, %s, 0), (2, NULL, 0)", (big,)),
        ("UPDATE toasty SET n = n + 1", None),
        ("INSERT INTO full_rows VALUES (1, 'one', %s), (2, NULL, NULL)", (big,)),
        ("UPDATE full_rows SET note = 'uno' WHERE id = 1", None),  # Before, big unchanged
        ("UPDATE full_rows SET id = 3, note = NULL WHERE id = 2", None),
        ("DELETE FROM full_rows", None),  # full old rows
        # names that need escaping
        ('INSERT INTO "Ünïcødé tåble" VALUES (1, %s, 2)', (UNICODE,)),
        ('UPDATE "Ünïcødé tåble" SET "😀" = 3', None),
        ('DELETE FROM "Ünïcødé tåble"', None),
        ("INSERT INTO ignored VALUES (1, 'not captured')", None),
        # truncate, with CASCADE and RESTART IDENTITY
        ("INSERT INTO parent VALUES (1), (2)", None),
        ("INSERT INTO child VALUES (1, 1)", None),
        ("TRUNCATE parent, nums RESTART IDENTITY CASCADE", None),
        ("TRUNCATE ignored", None),
        # json no frame can carry: the Rust encoder leaves it to the Python path, which
        # isolates the table (an unpaired surrogate escape, which json accepts; nesting)
        ("""INSERT INTO json_doubts VALUES (1, '{"a": 1, "a": [1e400]}'), (2, '"\\ud800"'), (3, '[1]')""",
         None),
        ("INSERT INTO json_deep VALUES (1, %s)", ("[" * 1001 + "]" * 1001,)),
        ("INSERT INTO zz_marker VALUES (1)", None),
    ]  # fmt: skip
    return q


def capture(dsn: str, *, deadline_s: float = 120.0) -> tuple[list[bytes], dict[int, int]]:
    """Creates the corpus in a fresh database at `dsn` and returns the raw payloads of
    every message the slot delivers for it, plus the domain base types."""
    import psycopg2
    import psycopg2.extras

    from dstream.providers.postgres_cdc import catalog

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in SCHEMA:
            cur.execute(statement)
        tables = ", ".join('"' + t.replace('"', '""') + '"' for t in [*WANTED, "ignored"])
        cur.execute(f"CREATE PUBLICATION {PUBLICATION} FOR TABLE {tables}")
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))
        for statement, params in dml():
            cur.execute(statement, params)
    base_types = catalog.domain_base_types(conn)
    conn.close()

    repl = psycopg2.connect(
        dsn,
        connection_factory=psycopg2.extras.LogicalReplicationConnection,
        options=SESSION_OPTIONS,
    )
    try:
        cursor = repl.cursor()
        options = {"proto_version": "1", "publication_names": PUBLICATION}
        cursor.start_replication(slot_name=SLOT, decode=False, options=options)
        payloads: list[bytes] = []
        marker_seen = False
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            msg = cursor.read_message()
            if msg is None:
                time.sleep(0.01)
                continue
            payloads.append(bytes(msg.payload))
            if payloads[-1][:1] == b"R" and b"zz_marker\x00" in payloads[-1]:
                marker_seen = True
            if marker_seen and payloads[-1][:1] == b"C":
                return payloads, base_types
        raise TimeoutError(f"the corpus did not arrive whole ({len(payloads)} messages)")
    finally:
        repl.close()
