from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import NO_COLOR, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """The default state directory ($XDG_STATE_HOME) is inside the test's directory."""
    return Workspace(tmp_path, env={**NO_COLOR, "XDG_STATE_HOME": str(tmp_path / "xdg-state")})
