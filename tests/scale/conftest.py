"""A state table per scale test, so tests sharing the session's PostgreSQL
(tests/conftest.py) never see each other's leases, and the test's own reads of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

import pytest

from tests.scale.cluster import TASK, Database
from tests.services import table_for


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
