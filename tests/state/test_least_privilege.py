"""The postgres state for a user who may not create tables (the usual least-privilege
setup; PostgreSQL 15 gives ordinary users no CREATE on `public`): with the tables in
place, a user with DML grants runs tasks and one with SELECT alone reads the state; a
missing table it cannot create is named, with the statement that would create it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.services import PostgresServer, table_for
from tests.workspace import NO_COLOR, Workspace


def _state_block(server: PostgresServer, user: str, table: str) -> str:
    dsn = server.dsn.replace("postgres@", f"{user}@", 1)
    return f'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n  table = "{table}"\n}}'


def _workspace(root: Path, server: PostgresServer, user: str, table: str) -> Workspace:
    root.mkdir()
    made = Workspace(root, env={**NO_COLOR, "XDG_STATE_HOME": str(root / "xdg")})
    made.counter_task("t", "dstream-null", count=3, checkpoint_every=1,
                      state=_state_block(server, user, table))  # fmt: skip
    return made


@pytest.fixture
def schema(pg_server: PostgresServer, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A schema of the test's own, its tables made by a run as the superuser, and two
    roles named after it: `<schema>_dml` (read and write) and `<schema>_ro` (read)."""
    name = table_for(request, "lp_")
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    owner = _workspace(tmp_path / "owner", pg_server, "postgres", f"{name}.state")
    done = owner.run("run", "t")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        for role, grant in (("dml", "SELECT, INSERT, UPDATE, DELETE"), ("ro", "SELECT")):
            conn.execute(f"CREATE ROLE {name}_{role} LOGIN")
            conn.execute(f"GRANT USAGE ON SCHEMA {name} TO {name}_{role}")
            conn.execute(f"GRANT {grant} ON ALL TABLES IN SCHEMA {name} TO {name}_{role}")
            conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {name} TO {name}_{role}")
    return name


def test_a_user_with_dml_grants_runs_and_reads_tables_it_may_not_create(
    pg_server: PostgresServer, schema: str, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path / "dml", pg_server, f"{schema}_dml", f"{schema}.state")
    for command in (("state", "list"), ("runs", "t"), ("run", "t"), ("state", "show", "t")):
        done = ws.run(*command)
        assert done.returncode == 0, (command, done.stderr)
        assert "permission denied" not in done.stderr


def test_a_read_only_user_reads_the_state(
    pg_server: PostgresServer, schema: str, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path / "ro", pg_server, f"{schema}_ro", f"{schema}.state")
    for command in (("state", "list"), ("state", "show", "t"), ("runs", "t"), ("status",)):
        done = ws.run(*command)
        assert done.returncode == 0, (command, done.stderr)


def test_a_missing_table_the_user_may_not_create_is_named_with_its_statement(
    pg_server: PostgresServer, schema: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {schema}.state_runs")
    ws = _workspace(tmp_path / "dml", pg_server, f"{schema}_dml", f"{schema}.state")
    done = ws.run("state", "list")
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert f'"{schema}"."state_runs" does not exist' in first
    assert f"user {schema}_dml may not create it: no CREATE privilege on schema {schema}" in first
    assert f'CREATE TABLE "{schema}"."state_runs" (task text' in done.stderr  # what to run
    assert f'GRANT CREATE ON SCHEMA "{schema}" TO "{schema}_dml"' in done.stderr
    assert "read and write the table" not in done.stderr
