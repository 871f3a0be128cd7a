"""The configuration hash a lease keeps (`<table>_lease.config_hash`), an agent
registers (`<table>_agents`) and logs (`joined with configuration <hash>`) holds no
secret: it is computed over the task definition with every secret replaced, as the
input digest is (docs/security.md), so whoever reads the state database cannot guess a
sensitive value offline from it. It still tells configurations apart."""

from __future__ import annotations

import re
import signal
import subprocess

import psycopg
import pytest

from tests.services import PostgresServer, table_for
from tests.workspace import Workspace


def config(dsn: str, table: str, max_count: int = 2) -> str:
    return f"""
variable "tok" {{
  sensitive = true
}}
state {{
  backend = "postgres"
  dsn     = "{dsn}"
  table   = "{table}"
}}
task "a2" {{
  input {{
    provider_path = "dstream-counter"
    config {{
      interval  = 10
      max_count = {max_count}
      tables    = ["t_${{var.tok}}"]
    }}
    env = {{ API_TOKEN = var.tok }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""


@pytest.fixture
def table(request: pytest.FixtureRequest) -> str:
    return table_for(request, "leak_")


def lease_hash(dsn: str, table: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT config_hash FROM {table}_lease WHERE task = 'a2'").fetchone()
    assert row is not None
    return str(row[0])


def run_with(ws: Workspace, token: str) -> None:
    done = ws.run("run", "a2", "--reset-state", env={"DSTREAM_VAR_tok": token})
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_lease_s_hash_does_not_depend_on_a_secret(
    ws: Workspace, pg_server: PostgresServer, table: str
) -> None:
    ws.config(config(pg_server.dsn, table))
    run_with(ws, "TokenValueOne1")
    first = lease_hash(pg_server.dsn, table)
    run_with(ws, "TokenValueTwo2")
    assert lease_hash(pg_server.dsn, table) == first  # nothing to guess the token by
    ws.config(config(pg_server.dsn, table, max_count=3))
    run_with(ws, "TokenValueTwo2")
    assert lease_hash(pg_server.dsn, table) != first  # another definition, another hash


def agent_hashes(ws: Workspace, token: str, dsn: str, table: str) -> tuple[str, str]:
    """The hash an agent logs as it joins, and the one it registers."""
    proc = ws.popen("agent", env={"DSTREAM_VAR_tok": token})
    assert proc.stderr is not None
    logged = ""
    try:
        while not logged:
            line = proc.stderr.readline().decode()
            assert line, "the agent ended before joining"
            found = re.search(r"joined with configuration (\S+)", line)
            logged = found.group(1) if found else ""
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(f"SELECT config_hash FROM {table}_agents").fetchall()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert [str(row[0]) for row in rows] == [logged], rows
    return logged, str(rows[0][0])


def test_an_agent_s_hash_does_not_depend_on_a_secret(
    ws: Workspace, pg_server: PostgresServer, table: str
) -> None:
    ws.config(config(pg_server.dsn, table, max_count=0))
    first = agent_hashes(ws, "TokenValueOne1", pg_server.dsn, table)
    assert agent_hashes(ws, "TokenValueTwo2", pg_server.dsn, table) == first


def read_until(proc: subprocess.Popen[bytes], words: str, seen: list[str]) -> None:
    """The agent's stderr lines read into `seen` up to the first line with `words`."""
    assert proc.stderr is not None
    while not seen or words not in seen[-1]:
        line = proc.stderr.readline().decode()
        assert line, "".join(seen)
        assert "nothing moves" not in line, "".join(seen) + line
        seen.append(line)


@pytest.mark.timeout(120)
def test_an_agent_reloaded_with_another_secret_restarts_its_tasks(
    ws: Workspace, pg_server: PostgresServer, table: str
) -> None:
    """The hash leaves secrets out, yet a reload that changes only a secret (a rotated
    token in a var file) is a change: the task is handed over and started again."""
    ws.config(config(pg_server.dsn, table, max_count=0))
    tfvars = ws.root / "secret.tfvars"
    tfvars.write_text('tok = "TokenValueOne1"\n')
    proc = ws.popen("agent", "--var-file", "secret.tfvars")
    seen: list[str] = []
    try:
        read_until(proc, "running on agent", seen)
        tfvars.write_text('tok = "TokenValueTwo2"\n')
        proc.send_signal(signal.SIGHUP)
        read_until(proc, "joined again with configuration", seen)
        read_until(proc, "running on agent", seen)  # started again, with the new token
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    said = "".join(seen) + err.decode()
    code, doc, stderr = ws.run_json("runs", "a2", "--var-file", "secret.tfvars")
    assert code == 0, stderr
    # one holding handed over at the reload, one under the new token stopped by SIGTERM
    assert [run["result"] for run in doc["runs"]] == ["handed over", "interrupted"], doc
    assert "a secret changed" in said, said
    assert "TokenValue" not in said, said
