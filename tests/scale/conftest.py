"""A state table per scale test, so tests sharing the session's PostgreSQL
(tests/conftest.py) never see each other's leases, and the test's own reads of it
(`database`; `db`, of task TASK); its hosts and the relay between them and PostgreSQL,
cleaned up at teardown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.relay import FreezableProxy
from tests.scale.cluster import TASK, Database, Host, Hosts
from tests.services import PostgresServer, table_for


@pytest.fixture
def table(request: pytest.FixtureRequest) -> str:
    return table_for(request, "scale_")


@pytest.fixture
def database(table: str) -> Iterator[Callable[..., Database]]:
    """`database(dsn, task=TASK)`: a Database on this test's table; each one opened is
    closed at teardown."""
    with contextlib.ExitStack() as opened:

        def open_database(dsn: str, task: str = TASK) -> Database:
            return opened.enter_context(contextlib.closing(Database(dsn, table, task)))

        yield open_database


@pytest.fixture
def db(pg_server: PostgresServer, database: Callable[..., Database]) -> Database:
    """The task's state on the session's PostgreSQL, read directly (not through a proxy)."""
    return database(pg_server.dsn)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    """`hosts(name, config)`: a Host in the test's directory; each one made is stopped
    at teardown."""
    with contextlib.ExitStack() as made:

        def host(name: str, config: str) -> Host:
            each = Host(tmp_path, name, config)
            made.callback(each.stop)
            return each

        yield host


@pytest.fixture
def proxy(pg_server: PostgresServer, hosts: Hosts) -> Iterator[FreezableProxy]:
    """A FreezableProxy to the session's PostgreSQL. Closed (thawed) before the hosts
    stop (it needs `hosts` for that order), so none is left waiting on it."""
    made = FreezableProxy(pg_server.port)
    yield made
    made.close()
