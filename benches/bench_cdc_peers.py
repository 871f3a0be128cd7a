"""PostgreSQL CDC at the database's speed: dstream against a hand-written psycopg2
consumer on the same WAL, in the same run.

1 M inserts (1000 per transaction) then 200 k updates into a 10-column mixed-type table;
one logical slot per consumer and round, all created before the load, so each consumer
reads exactly the same changes. Per round, alternating:

- dstream (this tree): `dstream run` with `until_caught_up = true`, output a sink that
  acknowledges checkpoints, discards the rest and notes when the last data arrived
  (every row's arrival checked from dstream's summary and the bytes the sink read).
  Figures: the whole run (process start to exit) and start to last row.
- dstream (main's provider: the Python decoder, PYTHONPATH=/work/main/python) — the
  "before" of the provider CPU per row. Skipped when /work/main is absent.
- psycopg2: a Python consumer of the same slot type that decodes every message's
  tuple to text values and discards them; stops at the WAL position of its start.

Provider CPU per row = user + system seconds of the input provider process / rows.

    pytest benches/bench_cdc_peers.py --benchmark-only -s   (DSTREAM_BENCH_SMOKE=1: tiny)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import pytest
from tests.cdc.conftest import PgServer, pg_server  # noqa: F401  (the fixture)

from benches.conftest import record, rounds, scale
from benches.procs import script, shown, stats

INSERTS = scale(1_000_000)
UPDATES = scale(200_000)
ROWS = INSERTS + UPDATES
PER_TXN = 1000
ROUNDS = rounds(3)
# Loading 1.2 M changes and reading them 3 x 3 times outlasts the suite's 300 s default.
pytestmark = pytest.mark.timeout(3600)
MAIN_PYTHON = Path(os.environ.get("DSTREAM_BENCH_MAIN_PYTHON", "/work/main/python"))

# The output: acknowledges checkpoints and discards the rest, as dstream-null does
# (checkpoints found by the core's memmem, nothing else looked at), noting how many
# bytes arrived and when the last data did. It counts no rows: a count by Python over
# every byte (bytes.count, ~1 GB/s) cost 0.4-0.65 s of CPU at 1.2 M rows, on the two
# CPUs the walsender and dstream share. That every row arrived is checked from both
# ends instead: dstream's summary counts the data frames it forwarded, and the bytes
# it forwarded must be the bytes this output read.
SINK = """
import os, sys, time
from dstream._core import find
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
stdin.readline()  # the command line
stdout.write(b'{"status":"ready","protocol":1}\\n'); stdout.flush()
KEY = b'{"checkpoint"'
received, last, tail = 0, 0.0, b""

def acks(buf, start, end):
    \"\"\"Echo the checkpoint lines within buf[start:end]; the bytes they take.\"\"\"
    taken, at = 0, find(buf, KEY, start, end)
    while at >= 0:
        stop = buf.index(b"\\n", at) + 1
        stdout.write(buf[at:stop])
        taken += stop - at
        at = find(buf, KEY, stop, end)
    return taken

while True:
    chunk = stdin.read1(1 << 20)
    if not chunk:
        break
    received += len(chunk)
    end = chunk.rfind(b"\\n") + 1
    if not end:
        tail += chunk
        continue
    first = chunk.find(b"\\n") + 1
    head = tail + chunk[:first]
    checkpoints = acks(head, 0, len(head)) + acks(chunk, first, end)
    if checkpoints < len(head) + end - first:
        last = time.time()
    tail = chunk[end:]
    stdout.flush()
with open(os.environ["SINK_REPORT"], "w") as fh:
    fh.write(f'{{"bytes": {received}, "last": {last!r}}}')
"""

# The peer: what a developer would write with psycopg2 to consume pgoutput.
PEER = """
import struct, sys, time, select
import psycopg2, psycopg2.extras
dsn, slot, pub = sys.argv[1:4]
conn = psycopg2.connect(dsn)
cur = conn.cursor(); cur.execute("SELECT pg_current_wal_lsn()::text")
hi, lo = cur.fetchone()[0].split("/")
target = (int(hi, 16) << 32) | int(lo, 16); conn.close()
repl = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
cur = repl.cursor()
cur.start_replication(slot_name=slot, decode=False,
                      options={"proto_version": "1", "publication_names": pub})
I16, I32, U64 = struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">Q")

def tuple_(p, pos):
    n = I16.unpack_from(p, pos)[0]; pos += 2; vals = []
    for _ in range(n):
        tag = p[pos]; pos += 1
        if tag == 116:
            ln = I32.unpack_from(p, pos)[0]; pos += 4
            vals.append(p[pos:pos + ln].decode()); pos += ln
        else:
            vals.append(None)
    return vals, pos

rows = last_end = 0
while True:
    msg = cur.read_message()
    if msg is None:
        if last_end >= target or cur.wal_end >= target:
            break
        cur.send_feedback(reply=True)
        select.select([cur], [], [], 0.05)
        continue
    p = msg.payload; kind = p[0]
    if kind in (73, 85, 68):  # I U D
        rows += 1
        vals, pos = tuple_(p, 6)
        if kind == 85 and p[5] in (75, 79):
            tuple_(p, pos + 1)
    elif kind == 67:
        last_end = U64.unpack_from(p, 10)[0]
        cur.send_feedback(flush_lsn=last_end)
print(rows)
"""


def _load(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        for start in range(0, INSERTS, PER_TXN):
            cur.execute(
                "INSERT INTO events SELECT g, 'event ' || g, g * 1.25, "
                "'2024-01-01 00:00+00'::timestamptz + g * interval '1 second', g %% 2 = 0, "
                "g %% 1000, g / 7.0, ARRAY['a', 'b' || g], jsonb_build_object('k', g, 'v', 'x'), "
                "md5(g::text)::uuid FROM generate_series(%s, %s) g",
                (start, min(start + PER_TXN, INSERTS) - 1),
            )
            conn.commit()
        for start in range(0, UPDATES, PER_TXN):
            cur.execute(
                "UPDATE events SET amount = amount + 1, qty = qty + 1 WHERE id BETWEEN %s AND %s",
                (start, min(start + PER_TXN, UPDATES) - 1),
            )
            conn.commit()
    conn.close()


def _wrapper(path: Path, command: str, pythonpath: str = "") -> str:
    env = f"PYTHONPATH={pythonpath} " if pythonpath else ""
    path.write_text(f'#!/bin/sh\n{env}{command}\nstatus=$?\ntimes > "$0.times"\nexit $status\n')
    path.chmod(0o755)
    return str(path)


def _cpu(path: Path) -> float:
    """User + system seconds of the wrapper's children, from sh's `times`."""
    children = path.read_text().splitlines()[1].split()

    def secs(text: str) -> float:
        minutes, _, rest = text.partition("m")
        return int(minutes) * 60 + float(rest.rstrip("s"))

    return sum(secs(t) for t in children)


@pytest.fixture
def prepared(pg_server: PgServer, tmp_path: Path) -> tuple[str, Path, list[str]]:  # noqa: F811
    dsn = pg_server.new_database("bench_cdc_peers")
    paths = ["new"] + (["main"] if (MAIN_PYTHON / "dstream").is_dir() else [])
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, name text, amount numeric, "
            "at timestamptz, even boolean, qty int, score float8, tags text[], doc jsonb, "
            "uid uuid)"
        )
        cur.execute("CREATE PUBLICATION bench FOR TABLE events")
        for r in range(ROUNDS):
            for who in [*paths, "peer"]:
                cur.execute(
                    "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (f"{who}_{r}",)
                )
    conn.close()
    sink = tmp_path / "sink.py"
    sink.write_text(f"#!{sys.executable}\n{SINK}")
    sink.chmod(0o755)
    (tmp_path / "peer.py").write_text(PEER)
    provider = {
        "new": _wrapper(tmp_path / "new.sh", script("dstream-postgres-cdc")),
        "main": _wrapper(
            tmp_path / "main.sh",
            f'{sys.executable} -c "from dstream.providers.postgres_cdc import main; main()"',
            str(MAIN_PYTHON),
        ),
    }
    tasks = "".join(
        f"""
        task "{who}_{r}" {{
          input {{
            provider_path = "{provider[who]}"
            config {{
              dsn = "{dsn}"
              tables = ["public.events"]
              slot = "{who}_{r}"
              publication = "bench"
              until_caught_up = true
            }}
          }}
          output {{
            provider_path = "{sink}"
            inherit_env   = ["SINK_REPORT"]
          }}
        }}
        """
        for r in range(ROUNDS)
        for who in paths
    )
    (tmp_path / "dstream.hcl").write_text(textwrap.dedent(tasks))
    _load(dsn)
    return dsn, tmp_path, paths


def _dstream_run(ws: Path, task: str, wrapper: Path) -> dict[str, float]:
    report = ws / f"{task}.sink"
    env = {**os.environ, "SINK_REPORT": str(report)}
    started = time.time()
    done = subprocess.run(
        [script("dstream"), "run", task, "--json"],
        cwd=ws,
        env=env,
        capture_output=True,
        timeout=3600,
    )
    whole = time.time() - started
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    sink = orjson.loads(report.read_text())
    counters = orjson.loads(done.stdout)["tasks"][0]["counters"]
    assert counters["data_frames"] == ROWS, (counters, done.stderr.decode()[-2000:])
    assert sink["bytes"] == counters["bytes"], (sink, counters)
    cpu = _cpu(Path(f"{wrapper}.times"))
    return {"whole": whole, "to_last": sink["last"] - started, "cpu": cpu}


def _peer(dsn: str, ws: Path, slot: str) -> float:
    started = time.time()
    done = subprocess.run(
        [sys.executable, str(ws / "peer.py"), dsn, slot, "bench"],
        capture_output=True,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert int(done.stdout) == ROWS, done.stdout
    return time.time() - started


def test_cdc_against_a_psycopg2_consumer(
    benchmark: Any, prepared: tuple[str, Path, list[str]]
) -> None:
    dsn, ws, paths = prepared
    got: dict[str, list[float]] = {}

    def one_round(r: int) -> None:
        for who in paths:
            run = _dstream_run(ws, f"{who}_{r}", ws / f"{who}.sh")
            for key, value in run.items():
                got.setdefault(f"{who}_{key}", []).append(value)
        got.setdefault("peer", []).append(_peer(dsn, ws, f"peer_{r}"))

    rounds_done = iter(range(ROUNDS))
    benchmark.pedantic(lambda: one_round(next(rounds_done)), rounds=ROUNDS, iterations=1)
    rates = {k: [ROWS / s for s in v] for k, v in got.items() if k == "peer" or "_cpu" not in k}
    group = "postgres-cdc-peers"
    record(group, "baseline", {**stats(rates["peer"], "rows/s"), "label": "psycopg2 consumer"})
    record(group, "dstream whole run", stats(rates["new_whole"], "rows/s"))
    record(group, "dstream start to last row", stats(rates["new_to_last"], "rows/s"))
    for who in paths:
        us = [1e6 * c / ROWS for c in got[f"{who}_cpu"]]
        record(group, f"provider CPU/row ({who})", stats(us, "µs", fmt=".2f", compare=False))
    if "main" in paths:
        record(group, "dstream whole run (main)", stats(rates["main_whole"], "rows/s"))
    print(f"\n{ROWS:,} changes, {ROUNDS} round(s), medians:")
    for key, values in sorted(rates.items()):
        print(f"  {key:<22} {shown(values, 'rows/s')}")
    for who in paths:
        print(f"  provider CPU ({who}): {shown(got[f'{who}_cpu'], 's', fmt='.2f')}")
    benchmark.extra_info.update({k: v for k, v in got.items()})
