"""A real PostgreSQL (tests/services.py; wal_level=logical) as the CDC tests and the CDC
benchmarks use it: through psycopg2, a database of their own per test. Its own server,
not tests/conftest.py's, so that benches/ (which imports this fixture) needs nothing
more. Without it the tests skip, unless DSTREAM_REQUIRE_SERVICES=1 (CI): then they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import postgres, require_service


class PgServer:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def connect(self, **kw: Any) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.dsn, **kw)
        conn.autocommit = True
        return conn

    def execute(self, *statements: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def new_database(self, name: str) -> str:
        """A fresh database per test keeps slots, publications and tables apart."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        return self.dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        require_service("psycopg2 is not installed (pip install psycopg2-binary)")
    with postgres() as server:
        yield PgServer(server.dsn)


@pytest.fixture(autouse=True)
def stop_providers() -> Iterator[None]:
    """Kill, by PID, every provider a test started directly and left running."""
    from tests.cdc.pgtools import stop_started

    yield
    stop_started()
