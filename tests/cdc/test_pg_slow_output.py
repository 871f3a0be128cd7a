"""An output held back longer than the server's wal_sender_timeout: the walsender, which
heard nothing from a provider blocked on its stdout (dstream's backpressure), ended the
replication, and the run failed, with no checkpoint, on every restart, blamed on the
network. Now standby status updates keep flowing while the provider is held back.

A server of this module's own: the short wal_sender_timeout it sets would end the
replication of the tests sharing the session's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import in_one_transaction
from tests.services import postgres
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(300)

TIMEOUT_SECONDS = 3
ROWS = 100_000

# A protocol-1 output that acknowledges checkpoints and, after 1,000 changes, stalls
# three times the server's wal_sender_timeout (a sink that is briefly unavailable).
STALLING_OUTPUT = f"""
import sys, time
sys.stdin.readline()
print('{{"status":"ready","protocol":1}}', flush=True)
changes = 0
with open("out.jsonl", "w") as out:
    for line in sys.stdin:
        if line.startswith('{{"checkpoint"'):
            sys.stdout.write(line)
            sys.stdout.flush()
            continue
        out.write(line)
        changes += 1
        if changes == 1000:
            time.sleep({3 * TIMEOUT_SECONDS})
"""


@pytest.fixture(scope="module")
def short_timeout() -> Iterator[PgServer]:
    with postgres() as server:
        admin = PgServer(server.dsn)
        admin.execute(
            f"ALTER SYSTEM SET wal_sender_timeout = '{TIMEOUT_SECONDS}s'", "SELECT pg_reload_conf()"
        )
        yield admin


def _project(ws: Workspace, dsn: str, task: str, *, status_interval: float = 1) -> None:
    ws.python_script("stall.py", STALLING_OUTPUT)
    ws.config(
        f"""
        state {{ path = "state" }}
        task "{task}" {{
          input {{
            provider_path = "dstream-postgres-cdc"
            # The dstream this test imports (a clone's, by PYTHONPATH), not the installed one.
            inherit_env = ["PYTHONPATH"]
            config {{
              dsn = "{dsn}"
              tables = ["wide"]
              status_interval = {status_interval}
              until_caught_up = true
            }}
          }}
          output {{ provider_path = "./stall.py" }}
        }}
        """
    )
    done = ws.run("init", task)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("status_interval", [1, 2.5])
def test_an_output_stalled_past_wal_sender_timeout_does_not_end_replication(
    short_timeout: PgServer, ws: Workspace, status_interval: float
) -> None:
    """Also with status_interval just below wal_sender_timeout (2.5 s against 3 s), as
    the docs allow: a keeper that sent once a whole interval had passed in silence,
    looking every half interval, let the first silence reach 1.5 intervals (3.75 s)."""
    task = f"stall_{str(status_interval).replace('.', '_')}"  # a slot of its own
    dsn = short_timeout.new_database(task)
    in_one_transaction(dsn, "CREATE TABLE wide (id int PRIMARY KEY, v text)")
    _project(ws, dsn, task, status_interval=status_interval)
    # One transaction far larger than the pipes and socket buffers between the server
    # and the output: the provider is held back on its stdout during the stall.
    in_one_transaction(
        dsn, f"INSERT INTO wide SELECT i, repeat('x', 200) FROM generate_series(1, {ROWS}) i"
    )
    done = ws.run("run", task)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert len(ws.json_lines("out.jsonl")) == ROWS, text
    assert "Traceback" not in text, text


def test_a_replication_timeout_is_named_as_such(short_timeout: PgServer, ws: Workspace) -> None:
    """status_interval above wal_sender_timeout: the server still ends the replication
    while the output stalls, and the error says so instead of blaming the network."""
    dsn = short_timeout.new_database("stall_timeout")
    in_one_transaction(dsn, "CREATE TABLE wide (id int PRIMARY KEY, v text)")
    _project(ws, dsn, "stallto", status_interval=10)
    in_one_transaction(
        dsn, f"INSERT INTO wide SELECT i, repeat('x', 200) FROM generate_series(1, {ROWS}) i"
    )
    done = ws.run("run", "stallto")
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "wal_sender_timeout" in text and "status_interval" in text, text
    assert "the network failed" not in text and "Traceback" not in text, text
    # The changes of the unfinished transaction it wrote count (it said changes=0).
    said = re.search(r"replication stopped changes=(\d+) transactions=0", text)
    assert said is not None, text
    assert int(said.group(1)) >= len(ws.json_lines("out.jsonl")) > 0, text
