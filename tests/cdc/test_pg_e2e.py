"""The whole path with a real PostgreSQL: `dstream init` -> `dstream run` (postgres-cdc
into dstream-file) -> changes from another connection -> SIGKILL dstream mid-stream ->
run again -> every change delivered in order per table, duplicates counted ->
`dstream destroy` leaves no slot or publication."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg2

from dstream.providers.postgres_cdc.pgoutput import parse_lsn
from tests.cdc.conftest import PgServer
from tests.services import wait_until
from tests.workspace import Workspace

TABLES = ("sales.orders", "public.customers", "public.events")


def _dstream(ws: Path, *args: str) -> subprocess.Popen[bytes]:
    return Workspace(ws).popen(*args, start_new_session=True)


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, (out + err).decode()


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    raw = path.read_bytes()
    # A SIGKILL may cut the last line: only whole lines count.
    return [orjson.loads(line) for line in raw.split(b"\n")[:-1] if line.strip()]


class Writer(threading.Thread):
    """Commits `count` small transactions over three tables and records, in commit
    order, what each table should show downstream."""

    def __init__(self, dsn: str, count: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.count, self.rng = dsn, count, random.Random(seed)
        self.expected: dict[str, list[tuple[str, int]]] = {t: [] for t in TABLES}
        self.done = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = psycopg2.connect(self.dsn)
            live: dict[str, list[int]] = {t: [] for t in TABLES}
            next_id = 1
            for _ in range(self.count):
                planned: list[tuple[str, str, int]] = []
                with conn, conn.cursor() as cur:
                    for _ in range(self.rng.randint(1, 3)):
                        table = self.rng.choice(TABLES)
                        op = self.rng.choice(("Insert", "Insert", "Update", "Delete"))
                        if op != "Insert" and not live[table]:
                            op = "Insert"
                        if op == "Insert":
                            key = next_id
                            next_id += 1
                            cur.execute(
                                f"INSERT INTO {table} VALUES (%s, %s, now())", (key, f"v{key}")
                            )
                            live[table].append(key)
                        elif op == "Update":
                            key = self.rng.choice(live[table])
                            cur.execute(
                                f"UPDATE {table} SET val = val || '+' WHERE id = %s", (key,)
                            )
                        else:
                            key = live[table].pop(self.rng.randrange(len(live[table])))
                            cur.execute(f"DELETE FROM {table} WHERE id = %s", (key,))
                        planned.append((table, op, key))
                for table, op, key in planned:
                    self.expected[table].append((op, key))
                self.done += 1
                time.sleep(0.002)
            conn.close()
        except BaseException as exc:
            self.error = exc


def test_init_run_sigkill_restart_destroy(pg_server: PgServer, tmp_path: Path) -> None:
    dsn = pg_server.new_database("e2e_cdc")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA sales")
        for table in TABLES:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, val text, at timestamptz)")
    conn.close()
    tables = ", ".join(f'"{t}"' for t in TABLES)
    (tmp_path / "dstream.hcl").write_text(
        textwrap.dedent(
            f"""
            task "cdc" {{
              input {{
                provider_path = "dstream-postgres-cdc"
                config {{
                  dsn = "{dsn}"
                  tables = [{tables}]
                  checkpoint_every = 20
                }}
              }}
              output {{
                provider_path = "dstream-file"
                config {{ path = "out.jsonl" }}
              }}
            }}
            """
        )
    )
    code, text = _finish(_dstream(tmp_path, "init", "cdc"))
    assert code == 0, text

    out = tmp_path / "out.jsonl"
    writer = Writer(dsn, count=400, seed=7)
    run = _dstream(tmp_path, "run", "cdc")
    writer.start()
    wait_until("first changes", lambda: len(_lines(out)) >= 150 or run.poll() is not None, 90, 0.1)
    assert run.poll() is None, _finish(run)[1]
    os.kill(run.pid, signal.SIGKILL)  # dstream itself; its providers die with it
    run.wait()
    killed_at = len(_lines(out))
    writer.join(120)
    assert writer.error is None and writer.done == 400
    total = sum(len(v) for v in writer.expected.values())
    assert killed_at < total, "the kill must land mid-stream"

    def unique() -> dict[tuple[int, int], dict[str, Any]]:
        seen: dict[tuple[int, int], dict[str, Any]] = {}
        for env in _lines(out):
            meta = env["metadata"]
            seen.setdefault((parse_lsn(meta["LSN"]), meta["Seq"]), env)
        return seen

    run = _dstream(tmp_path, "run", "cdc")
    wait_until("all changes", lambda: len(unique()) >= total or run.poll() is not None, 90, 0.1)
    run.send_signal(signal.SIGTERM)
    code, text = _finish(run)
    assert code in (0, 143), text  # 143: stopped by SIGTERM

    delivered = _lines(out)
    first_seen = unique()
    duplicates = len(delivered) - len(first_seen)
    print(f"changes={total} delivered={len(delivered)} duplicates={duplicates}")
    assert len(first_seen) == total
    for table in TABLES:
        schema, name = table.split(".")
        arrived = [
            (e["metadata"]["OperationType"], e["data"]["id"])
            for e in first_seen.values()  # dict keeps first-arrival order
            if (e["metadata"]["Schema"], e["metadata"]["TableName"]) == (schema, name)
        ]
        assert arrived == writer.expected[table], table
    for env in first_seen.values():
        if env["metadata"]["OperationType"] != "Delete":
            assert isinstance(env["data"]["id"], int)
            assert env["data"]["at"].endswith("+00:00")

    code, text = _finish(_dstream(tmp_path, "destroy", "cdc", "--auto-approve"))
    assert code == 0, text
    rows = pg_server.query(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'dstream_cdc'"
    )
    assert rows == []
    check = psycopg2.connect(dsn)
    with check.cursor() as cur:
        cur.execute("SELECT pubname FROM pg_publication")
        assert cur.fetchall() == []
    check.close()
