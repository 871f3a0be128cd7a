"""Stores under test: every contract test runs against both backends, the PostgreSQL
one on a real server started for the session (tests/services.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dstream.config.model import StateSpec
from dstream.state import StateStore, open_store
from tests.services import PostgresServer
from tests.state.backends import pg_server, table_for

__all__ = ["pg_server", "table_for"]  # the session's server, shared with other areas


@pytest.fixture
def pg_spec(pg_server: PostgresServer, request: pytest.FixtureRequest) -> StateSpec:
    # A short lease, so that a holder killed by a test expires within moments.
    return StateSpec(
        backend="postgres",
        dsn=pg_server.dsn,
        table=table_for(request),
        lease_ttl=3.0,
        lease_renew_interval=0.5,
    )


@pytest.fixture(params=["file", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StateSpec:
    if request.param == "file":
        return StateSpec(backend="file", path=str(tmp_path / "state"))
    spec: StateSpec = request.getfixturevalue("pg_spec")
    return spec


@pytest.fixture
def store(spec: StateSpec, tmp_path: Path) -> Iterator[StateStore]:
    opened = open_store(spec, str(tmp_path))
    try:
        yield opened
    finally:
        opened.close()


def spec_dict(spec: StateSpec) -> dict[str, Any]:
    """A StateSpec in a form a child process can rebuild (StateSpec(**d))."""
    return {
        "backend": spec.backend,
        "path": spec.path,
        "dsn": spec.dsn,
        "table": spec.table,
        "lease_ttl": spec.lease_ttl,
        "lease_renew_interval": spec.lease_renew_interval,
    }
