from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.workspace import NO_COLOR


@pytest.fixture
def workspace_env() -> Mapping[str, str]:
    return {**NO_COLOR, "ASB_CONNECTION_STRING": "Endpoint=sb://x/"}
