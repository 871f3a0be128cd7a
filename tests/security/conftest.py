from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import NO_COLOR, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace in a directory of its own: these tests keep other files beside it."""
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root, env=NO_COLOR)
