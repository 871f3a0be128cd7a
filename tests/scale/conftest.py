"""A state table per scale test, so tests sharing the session's PostgreSQL
(tests/conftest.py) never see each other's leases, and the test's own reads of it;
its hosts and the relay between them and PostgreSQL, cleaned up at teardown."""

from __future__ import annotations

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
    opened: list[Database] = []

    def open_database(dsn: str, task: str = TASK) -> Database:
        opened.append(Database(dsn, table, task))
        return opened[-1]

    yield open_database
    for db in opened:
        db.close()


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    """`hosts(name, config)`: a Host in the test's directory; each one made is stopped
    at teardown."""
    made: list[Host] = []

    def host(name: str, config: str) -> Host:
        made.append(Host(tmp_path, name, config))
        return made[-1]

    yield host
    for each in made:
        each.stop()


@pytest.fixture
def proxy(pg_server: PostgresServer, hosts: Hosts) -> Iterator[FreezableProxy]:
    """A FreezableProxy to the session's PostgreSQL. Closed (thawed) before the hosts
    stop (it needs `hosts` for that order), so none is left waiting on it."""
    made = FreezableProxy(pg_server.port)
    yield made
    made.close()
