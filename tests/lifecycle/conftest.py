from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import NO_COLOR, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(tmp_path / "cache")})
