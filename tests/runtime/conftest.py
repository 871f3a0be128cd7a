"""End-to-end runs: a workspace with a dstream.hcl and small providers, the CLI run in it.
Its environment is left as it is: these tests check what dstream does on its own when
its output is piped (no colour, no progress)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)
