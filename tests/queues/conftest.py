from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.queues.rabbit import RabbitServer, rabbitmq
from tests.workspace import NO_COLOR, Workspace


@pytest.fixture(scope="session")
def broker() -> Iterator[RabbitServer]:
    """One real RabbitMQ for the whole session (it takes seconds to start)."""
    with rabbitmq() as server:
        yield server


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path, env=NO_COLOR)
