from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.queues.rabbit import RabbitServer, rabbitmq


@pytest.fixture(scope="session")
def broker() -> Iterator[RabbitServer]:
    """One real RabbitMQ for the whole session (it takes seconds to start)."""
    with rabbitmq() as server:
        yield server
