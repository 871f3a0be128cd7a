from __future__ import annotations

from pathlib import Path

import pytest

from tests.oci.conftest import podman  # noqa: F401 - the podman service fixture
from tests.workspace import NO_COLOR, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root, env=NO_COLOR)
