"""A PostgreSQL server for the scale tests (tests/services.py) and a state table per
test, so tests sharing the server never see each other's leases."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.services import PostgresServer, postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with postgres() as server:
        yield server


@pytest.fixture
def table(request: pytest.FixtureRequest) -> str:
    return "scale_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
