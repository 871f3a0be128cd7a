from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.workspace import NO_COLOR


@pytest.fixture
def workspace_env(tmp_path: Path) -> Mapping[str, str]:
    """The default state directory ($XDG_STATE_HOME) is inside the test's directory."""
    return {**NO_COLOR, "XDG_STATE_HOME": str(tmp_path / "xdg-state")}
