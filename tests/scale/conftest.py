"""A state table per scale test, so tests sharing the session's PostgreSQL
(tests/conftest.py) never see each other's leases."""

from __future__ import annotations

import pytest

from tests.services import table_for


@pytest.fixture
def table(request: pytest.FixtureRequest) -> str:
    return table_for(request, "scale_")
