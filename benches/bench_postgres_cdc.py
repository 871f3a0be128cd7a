"""dstream-postgres-cdc into dstream-null: 1 M changed rows, through `dstream run`.

The rows are committed first (1000 transactions of 1000 inserts over a typed table),
then one `dstream run` with `until_caught_up = true` reads the slot from its start to
the WAL position of that moment and exits. Throughput = rows / wall time of that run
(process start, handshake and slot start included). The same rows are read by the
MeltanoLabs tap-postgres in LOG_BASED mode when it is installed in /tmp/meltano-venv
(`python -m venv /tmp/meltano-venv && /tmp/meltano-venv/bin/pip install
meltanolabs-tap-postgres`), its output going to /dev/null.

    pytest benches/bench_postgres_cdc.py --benchmark-only -s
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

from benches.conftest import record, scale

ROWS = scale(1_000_000)
PER_TXN = 1000
MELTANO = Path("/tmp/meltano-venv/bin/tap-postgres")
MELTANO_BUDGET = float(os.environ.get("DSTREAM_BENCH_MELTANO_SECONDS", "300"))


def _load(dsn: str, rows: int) -> None:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        for start in range(0, rows, PER_TXN):
            count = min(PER_TXN, rows - start)
            cur.execute(
                "INSERT INTO public.events SELECT g, 'event ' || g, g * 1.25, now(), g %% 2 = 0 "
                "FROM generate_series(%s, %s) g",
                (start, start + count - 1),
            )
            conn.commit()
    conn.close()


def _dstream(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "dstream.cli.app", *args], cwd=cwd, capture_output=True, timeout=1800
    )


@pytest.fixture
def loaded(pg_server: PgServer, tmp_path: Path) -> tuple[str, Path]:  # noqa: F811
    dsn = pg_server.new_database("bench_cdc")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE public.events (id bigint PRIMARY KEY, name text, amount numeric, "
            "at timestamptz, even boolean)"
        )
    conn.close()
    (tmp_path / "dstream.hcl").write_text(
        textwrap.dedent(
            f"""
            task "bench" {{
              input {{
                provider_path = "dstream-postgres-cdc"
                config {{
                  dsn = "{dsn}"
                  tables = ["public.events"]
                  until_caught_up = true
                }}
              }}
              output {{ provider_path = "dstream-null" }}
            }}
            """
        )
    )
    done = _dstream(tmp_path, "init", "bench")
    assert done.returncode == 0, done.stderr.decode()
    if MELTANO.exists():
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_create_logical_replication_slot('tappostgres', 'wal2json')")
        conn.close()
    _load(dsn, ROWS)
    return dsn, tmp_path


def test_postgres_cdc_into_null(benchmark: Any, loaded: tuple[str, Path]) -> None:
    dsn, ws = loaded
    seconds: list[float] = []

    def once() -> None:
        started = time.perf_counter()
        done = _dstream(ws, "run", "bench", "--json")
        seconds.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        text = done.stdout.decode()
        assert str(ROWS) in text, text[-2000:]  # the run's counters saw every row

    benchmark.pedantic(once, rounds=1, iterations=1)
    rate = ROWS / seconds[0]
    print(f"\ndstream-postgres-cdc -> dstream-null: {ROWS} rows in {seconds[0]:.1f} s")
    print(f"  = {rate:,.0f} rows/s")
    benchmark.extra_info.update({"rows": ROWS, "seconds": seconds[0], "rows_per_second": rate})
    record("postgres-cdc", "dstream-postgres-cdc", _stats(rate, seconds[0], "dstream"))
    if MELTANO.exists():
        meltano = _meltano(dsn, ws)
        if meltano is not None:
            record("postgres-cdc", "baseline", meltano)


def _meltano(dsn: str, ws: Path) -> dict[str, Any] | None:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)  # a URL or key=value pairs
    config = {
        "host": params["host"],
        "port": int(str(params["port"])),
        "user": params["user"],
        "password": "",
        "database": params["dbname"],
        "replication_method": "LOG_BASED",
        "filter_schemas": ["public"],
    }
    (ws / "tap.json").write_text(orjson.dumps(config).decode())
    catalog = subprocess.run(
        [str(MELTANO), "--config", str(ws / "tap.json"), "--discover"], capture_output=True
    )
    if catalog.returncode != 0:
        print("tap-postgres --discover failed:", catalog.stderr.decode()[-1500:])
        return None
    doc = orjson.loads(catalog.stdout)
    for stream in doc["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
                entry["metadata"]["replication-method"] = "LOG_BASED"
        stream["replication_method"] = "LOG_BASED"
    (ws / "catalog.json").write_text(orjson.dumps(doc).decode())
    started = time.perf_counter()
    out_path = ws / "tap.out"
    with out_path.open("wb") as out:
        tap = subprocess.Popen(
            [str(MELTANO), "--config", str(ws / "tap.json"), "--catalog", str(ws / "catalog.json")],
            stdout=out,
            stderr=subprocess.PIPE,
        )
        try:
            _, err = tap.communicate(timeout=MELTANO_BUDGET)
        except subprocess.TimeoutExpired:
            # Far slower than dstream here: measure what it read within the budget.
            tap.kill()
            _, err = tap.communicate()
    seconds = time.perf_counter() - started
    with out_path.open("rb") as fh:
        records = sum(1 for line in fh if b'"type":"RECORD"' in line.replace(b" ", b""))
    if records == 0:
        print("tap-postgres LOG_BASED read nothing:", err.decode()[-1500:])
        return None
    rate = records / seconds
    print(f"tap-postgres LOG_BASED -> file: {records} rows in {seconds:.1f} s")
    print(f"  = {rate:,.0f} rows/s")
    return _stats(rate, seconds, "tap-postgres LOG_BASED", rows=records)


def _stats(rate: float, seconds: float, label: str, rows: int = ROWS) -> dict[str, Any]:
    return {
        "label": label,
        "rate": rate,
        "rows": rows,
        "seconds": seconds,
        "display": f"{rate:10,.0f} rows/s ({rows:,} rows in {seconds:.1f} s)",
    }
