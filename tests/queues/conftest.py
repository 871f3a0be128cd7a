from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.queues.rabbit import RabbitServer, rabbitmq


@pytest.fixture(scope="session")
def broker() -> Iterator[RabbitServer]:
    """One real RabbitMQ for the whole session (it takes seconds to start)."""
    with rabbitmq() as server:
        yield server


@pytest.fixture(scope="session")
def managed() -> Iterator[RabbitServer]:
    """A broker of its own with the management plugin (the session's `broker` has none),
    shared by the tests that read queues through the management API."""
    with rabbitmq(management=True) as server:
        yield server
