from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.workspace import NO_COLOR


@pytest.fixture
def workspace_env(tmp_path: Path) -> Mapping[str, str]:
    return {
        **NO_COLOR,
        "ASB_CONNECTION_STRING": "Endpoint=sb://x/",
        "DSTREAM_CACHE_DIR": str(tmp_path / "cache"),  # describe/ starts empty
    }
